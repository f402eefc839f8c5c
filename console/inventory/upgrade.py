"""The ``upgrade`` section: how careful a rolling upgrade is with the site."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from .fields import Bad, Check, http_url, optional, placeholders, whole_number
from .model import Upgrade
from .sections import Key, merge, read_keys, section
from .yamltree import Node, Reporter, is_null, scalar

_SMOKE = (
    "expected a list of URLs fetched from the balancer's box straight to each node, "
    "such as [http://{address}:8000/, http://{address}:8000/notes]"
)


def smoke_urls(node: Node) -> tuple[str, ...]:
    """A list of http URLs; {node} and {address} are filled in for each node."""
    if is_null(node):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise Bad(_SMOKE)
    check = placeholders(("node", "address"), http_url)
    urls = []
    for child in node.value:
        try:
            urls.append(check(child))
        except Bad as exc:
            raise Bad(f"{exc} (in the smoke list)") from exc
    return tuple(urls)


def seconds(low: float, high: float) -> Check:
    """A number of seconds from LOW to HIGH."""
    expected = f"expected a number of seconds from {low:g} to {high:g}"

    def check_seconds(node: Node) -> float:
        value = scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(expected)
        if not low <= value <= high:
            raise Bad(expected)
        return float(value)

    return check_seconds


def read_upgrade(rep: Reporter, top: Mapping[str, tuple[Node, Node]]) -> Upgrade | None:
    """Read the optional upgrade section (defaults when it is absent)."""
    keys = {
        "min_ready": Key(optional(whole_number(1, 10000))),
        "smoke": Key(smoke_urls, default=()),
        "soak": Key(seconds(0, 3600), default=Upgrade.soak),
        "check_timeout": Key(seconds(1, 600), default=Upgrade.check_timeout),
    }
    node = section(rep, top, "upgrade", "a mapping of upgrade settings")
    if node is None:
        return None if "upgrade" in top else Upgrade()
    merged = merge(rep, read_keys(rep, node, "upgrade", keys), None, keys, "", ())
    return None if merged is None else Upgrade(**merged[0])
