"""The ``balancer``, ``web_defaults`` and ``web_nodes`` sections."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from .fields import (
    Bad,
    Check,
    choice,
    did_you_mean,
    flag,
    haproxy_name,
    http_url,
    name,
    optional,
    placeholders,
    remote_path,
    require,
    text,
)
from .model import Balancer, Box, Supervisor, WebNode
from .sections import Key, Read, box_ref, box_where, entries, merge, origin, read_keys, section
from .yamltree import Node, Reporter

_EXPANDED = ("node", "address")
_ACCESS_LOG_RULE = (
    "expected an absolute path containing both {role} and {node}, "
    "e.g. /var/log/site/access.{role}.{node}.log: hot and warm logs must always "
    "differ by name, and every server's log must be unique"
)
_ERROR_LOG_RULE = (
    "expected an absolute path containing {node}, e.g. /var/log/site/error.{node}.log: "
    "every server's error log must be unique"
)
SUPERVISORS = ("runit",)
_SUPERVISOR_RULE = (
    "expected runit:DIR, the supervisor and the site's service directory on the box, "
    "e.g. runit:/etc/sv/site (hotspare runs `sv status|restart DIR` there)"
)
_WARM_SCHEDULER = "a warm node must never run scheduled jobs or send real mail"
_ONE_SCHEDULER = "exactly one hot web node must have scheduler: true"
_NO_BALANCER = (
    "a web node's backend is a backend of the balancer, and cluster.yaml has no balancer "
    "section: add one, or remove backend"
)


def balancer_keys(where: str) -> dict[str, Key]:
    """The keys of the balancer section; remote paths are on ``where``."""
    path = placeholders((), remote_path(where))
    return {
        "box": Key(name("a box name"), required=True),
        "socket": Key(path, required=True),
        "frontend": Key(haproxy_name, required=True),
        "backend": Key(haproxy_name, required=True),
        "state_file": Key(path, required=True),
        "flags_map": Key(path, required=True),
        "site_url": Key(optional(placeholders((), http_url))),
    }


def read_balancer(
    rep: Reporter, top: Mapping[str, tuple[Node, Node]], names: Collection[str]
) -> Balancer | None:
    """Read the optional balancer section."""
    node = section(rep, top, "balancer", "a mapping of balancer settings")
    if node is None:
        return None
    keys = balancer_keys(box_where(node, "the balancer's box"))
    read = read_keys(rep, node, "balancer", keys)
    merged = merge(rep, read, None, keys, "", ())
    if merged is None:
        return None
    values, nodes = merged
    if not box_ref(rep, values["box"], nodes["box"], "balancer.box", names):
        return None
    return Balancer(**values)


def web_keys(where: str) -> dict[str, Key]:
    """The keys of a web node; remote paths are on ``where``."""

    def path(extra: tuple[str, ...] = ()) -> Check:
        return placeholders(_EXPANDED + extra, remote_path(where))

    return {
        "box": Key(name("a box name")),
        "server": Key(haproxy_name),
        "backend": Key(optional(haproxy_name)),
        "role": Key(choice(("hot", "warm")), required=True),
        "scheduler": Key(flag, default=False),
        "health_url": Key(placeholders(_EXPANDED, http_url), required=True),
        "access_log": Key(
            require(path(("role",)), lambda v: "{role}" in v and "{node}" in v, _ACCESS_LOG_RULE),
            required=True,
        ),
        "error_log": Key(require(path(), lambda v: "{node}" in v, _ERROR_LOG_RULE), required=True),
        "role_file": Key(path(), required=True),
        "pid_file": Key(optional(path())),
        "releases": Key(optional(path())),
        "version_url": Key(optional(placeholders(_EXPANDED, http_url))),
        "supervisor": Key(optional(placeholders(_EXPANDED, supervisor(where)))),
    }


def supervisor(where: str) -> Check:
    """``KIND:DIR``: a supervisor hotspare knows and an absolute service directory on a box."""

    def check_supervisor(node: Node) -> str:
        value = text(node)
        kind, colon, service = value.partition(":")
        if not colon:
            raise Bad(_SUPERVISOR_RULE)
        if kind not in SUPERVISORS:
            known = ", ".join(SUPERVISORS)
            raise Bad(
                f"expected a supervisor hotspare knows ({known}) before the colon, "
                f"as in runit:/etc/sv/site" + did_you_mean(kind, SUPERVISORS)
            )
        if not service.startswith("/"):
            raise Bad(f"the service directory must be absolute: this is a path on {where}")
        return value

    return check_supervisor


def read_web_nodes(
    rep: Reporter,
    top: Mapping[str, tuple[Node, Node]],
    names: Collection[str],
    boxes: Mapping[str, Box],
    balancer: Balancer | None,
) -> tuple[WebNode, ...]:
    """Read ``web_defaults`` and ``web_nodes``; check servers, backends and the scheduler.

    A node without ``backend`` is in BALANCER's backend ("" without a balancer).
    """
    defaults = _read_defaults(rep, top)
    node = section(rep, top, "web_nodes", "a mapping of web node names to settings")
    if node is None:
        return ()
    found: list[tuple[WebNode, Read, dict[str, Node]]] = []
    complete = True
    for node_name, mapping in entries(rep, node, "web_nodes", "web node"):
        keys = web_keys(box_where(mapping, f"box {node_name}"))
        read = read_keys(rep, mapping, f"web_nodes.{node_name}", keys)
        built = _build(rep, node_name, read, defaults, names, boxes)
        if built is None:
            complete = False
        else:
            found.append((built[0], read, built[1]))
    _check_servers(rep, found)
    _check_scheduler(rep, node, found, complete)
    if "balancer" not in top:
        _check_no_backend(rep, found)
    fallback = balancer.backend if balancer is not None else ""
    return tuple(replace(web, backend=web.backend or fallback) for web, _read, _nodes in found)


def backends_of(balancer: Balancer, web_nodes: tuple[WebNode, ...]) -> Balancer:
    """BALANCER with ``backends``: its own backend first, then every other a web node names."""
    named = [balancer.backend, *(web.backend for web in web_nodes if web.backend)]
    return replace(balancer, backends=tuple(dict.fromkeys(named)))


def _read_defaults(rep: Reporter, top: Mapping[str, tuple[Node, Node]]) -> Read | None:
    node = section(rep, top, "web_defaults", "a mapping of settings shared by web nodes")
    if node is None:
        return None
    keys = {k: v for k, v in web_keys("each web node's box").items() if k not in ("box", "server")}
    refused = {
        "box": "each web node names its own box (default: the node's name)",
        "server": "HAProxy server names must be unique (default: the node's name)",
    }
    return read_keys(rep, node, "web_defaults", keys, refused)


def _build(
    rep: Reporter,
    node_name: str,
    read: Read,
    defaults: Read | None,
    names: Collection[str],
    boxes: Mapping[str, Box],
) -> tuple[WebNode, dict[str, Node]] | None:
    keys = web_keys("")  # merge only needs what is required and the defaults
    shared = [k for k in keys if k not in ("box", "server")]
    merged = merge(rep, read, defaults, keys, "web_defaults", shared)
    if merged is None:
        return None
    values, nodes = merged
    box = values["box"] or node_name
    if not box_ref(rep, box, nodes["box"], f"web_nodes.{node_name}.box", names):
        return None
    if box not in boxes:
        return None  # the box itself is broken and already reported
    values = _expand(values, node_name, boxes[box].address)
    if values["supervisor"] is not None:
        kind, _, service = values["supervisor"].partition(":")
        values["supervisor"] = Supervisor(kind, service)
    values.update(
        name=node_name,
        box=box,
        server=values["server"] or node_name,
        backend=values["backend"] or "",
    )
    return WebNode(**values), nodes


def _expand(values: dict[str, Any], node_name: str, address: str) -> dict[str, Any]:
    """Fill in {node} and {address}; {role} stays for access_log_for."""
    # An IPv6 address needs brackets inside a URL.
    url_address = f"[{address}]" if ":" in address else address
    expanded = dict(values)
    for key in (
        "health_url",
        "version_url",
        "access_log",
        "error_log",
        "role_file",
        "pid_file",
        "releases",
        "supervisor",
    ):
        value = values[key]
        if value is not None:
            fill = url_address if key.endswith("_url") else address
            expanded[key] = value.replace("{node}", node_name).replace("{address}", fill)
    return expanded


def _check_servers(rep: Reporter, found: list[tuple[WebNode, Read, dict[str, Node]]]) -> None:
    seen: dict[str, WebNode] = {}
    for web, _read, nodes in found:
        first = seen.setdefault(web.server, web)
        if first is not web:
            rep.at(
                nodes["server"],
                f"web_nodes.{web.name}.server",
                f"HAProxy server name '{web.server}' is used by both {first.name} and "
                f"{web.name}; server names must be unique across web nodes, whatever "
                "their backend (hotspare tells the nodes apart by it)",
            )


def _check_no_backend(rep: Reporter, found: list[tuple[WebNode, Read, dict[str, Node]]]) -> None:
    for web, read, nodes in found:
        if web.backend:
            where = origin(read, "backend", "web_defaults")
            rep.at(
                nodes["backend"], where, f"{web.name} names backend '{web.backend}'; {_NO_BALANCER}"
            )


def _check_scheduler(
    rep: Reporter,
    section_node: Node,
    found: list[tuple[WebNode, Read, dict[str, Node]]],
    complete: bool,
) -> None:
    schedulers = [(web, read, nodes) for web, read, nodes in found if web.scheduler]
    for web, read, nodes in schedulers:
        if web.role == "warm":
            where = origin(read, "scheduler", "web_defaults")
            rep.at(
                nodes["scheduler"],
                where,
                f"{web.name} is warm and has scheduler: true; {_WARM_SCHEDULER}",
            )
    if len(schedulers) > 1:
        first = schedulers[0][0].name
        for web, read, nodes in schedulers[1:]:
            where = origin(read, "scheduler", "web_defaults")
            rep.at(
                nodes["scheduler"],
                where,
                f"{first} and {web.name} both have scheduler: true; {_ONE_SCHEDULER}",
            )
    elif not schedulers and found and complete:
        rep.at(section_node, "web_nodes", f"no web node has scheduler: true; {_ONE_SCHEDULER}")
