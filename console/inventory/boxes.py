"""The ``defaults`` and ``boxes`` sections: machines and how SSH reaches them."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .fields import (
    Bad,
    address,
    did_you_mean,
    is_host,
    local_path,
    optional,
    placeholders,
    port,
    timeout,
    user_name,
)
from .model import Box
from .sections import Key, Read, entries, merge, read_keys, section
from .yamltree import Node, Reporter, describe, is_null, scalar

Hop = tuple[str | None, Node]  # a jump as written (None if not text) and where
_HOP = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s\[\]]+)(?::(?P<port>\d+))?$")
_HOP_FORMAT = "a box name or [user@]host[:port]"


def jumps(node: Node) -> tuple[Hop, ...]:
    """A string (commas allowed, as in ssh's ProxyJump) or a list of strings."""
    if is_null(node):
        return ()
    value = scalar(node)
    if isinstance(value, str):
        hops = [part.strip() for part in value.split(",")]
        if not all(hops):
            raise Bad(f"expected {_HOP_FORMAT}, or several separated by commas")
        return tuple((hop, node) for hop in hops)
    if isinstance(node, yaml.SequenceNode):
        return tuple((_hop_text(child), child) for child in node.value)
    raise Bad(f"expected {_HOP_FORMAT}, or a list of them")


def _hop_text(node: Node) -> str | None:
    value = scalar(node)
    return value.strip() if isinstance(value, str) else None


def box_keys(base: Path) -> dict[str, Key]:
    """The keys of a box, with local paths relative to ``base``."""
    return {
        "address": Key(address, required=True),
        "port": Key(optional(port)),
        "user": Key(optional(user_name)),
        "identity_file": Key(optional(placeholders((), local_path(base)))),
        "known_hosts": Key(optional(placeholders((), local_path(base)))),
        "jump": Key(jumps, default=()),
        "connect_timeout": Key(timeout, default=10.0),
    }


@dataclass
class _Pending:
    """A box whose keys are fine, waiting for its jumps to be checked."""

    name: str
    values: dict[str, Any]
    hops: tuple[Hop, ...]
    jump_path: str
    jump_node: Node


def read_boxes(
    rep: Reporter, top: Mapping[str, tuple[Node, Node]], base: Path
) -> tuple[tuple[Box, ...], frozenset[str]]:
    """Read ``defaults`` and ``boxes``.

    Returns:
        The boxes that are fully valid, and the names of all boxes in the
        file (so that a bad port on web1 is not also reported as "no box web1").
    """
    keys = box_keys(base)
    default_keys = {k: v for k, v in keys.items() if k != "address"}
    defaults = _read_defaults(rep, top, default_keys)
    node = section(rep, top, "boxes", "a mapping of box names to box settings")
    if node is None:
        return (), frozenset()
    if not node.value:
        rep.at(node, "boxes", "found an empty mapping; expected at least one box")
    pending: list[_Pending] = []
    named = entries(rep, node, "boxes", "box")
    for name, mapping in named:
        read = read_keys(rep, mapping, f"boxes.{name}", keys)
        merged = merge(rep, read, defaults, keys, "defaults", default_keys)
        if merged is not None:
            pending.append(_pending(name, merged[0], read, defaults))
    names = frozenset(name for name, _ in named)
    return _finish(rep, pending, names), names


def _read_defaults(
    rep: Reporter, top: Mapping[str, tuple[Node, Node]], keys: Mapping[str, Key]
) -> Read | None:
    node = section(rep, top, "defaults", "a mapping of box settings shared by all boxes")
    if node is None:
        return None
    refused = {"address": "every box has its own address"}
    return read_keys(rep, node, "defaults", keys, refused)


def _pending(name: str, values: dict[str, Any], own: Read, defaults: Read | None) -> _Pending:
    hops: tuple[Hop, ...] = values["jump"]
    if defaults is None or "jump" not in defaults.values or "jump" in own.values:
        return _Pending(name, values, hops, f"boxes.{name}.jump", own.nodes.get("jump", own.node))
    # Inherited hops stop before the box itself: with `defaults: {jump: bastion}`
    # every box goes through the bastion, and the bastion is reached directly.
    texts = [text for text, _node in hops]
    if name in texts:
        hops = hops[: texts.index(name)]
    return _Pending(name, values, hops, "defaults.jump", defaults.nodes["jump"])


def _finish(rep: Reporter, pending: list[_Pending], names: Collection[str]) -> tuple[Box, ...]:
    graph: dict[str, list[str]] = {}
    boxes = []
    for item in pending:
        if not _check_hops(rep, item, names):
            continue
        hop_names = tuple(str(text) for text, _node in item.hops)
        graph[item.name] = [hop for hop in hop_names if hop in names]
        values = item.values
        boxes.append(
            Box(
                name=item.name,
                address=values["address"],
                port=values["port"],
                user=values["user"],
                identity_file=values["identity_file"],
                known_hosts=values["known_hosts"],
                jump=hop_names,
                connect_timeout=values["connect_timeout"],
            )
        )
    in_cycle = _report_cycles(rep, graph, {p.name: p for p in pending})
    return tuple(box for box in boxes if box.name not in in_cycle)


def _check_hops(rep: Reporter, item: _Pending, names: Collection[str]) -> bool:
    good = True
    for index, (text, node) in enumerate(item.hops):
        # A comma-separated string has one node for all its hops.
        path = item.jump_path if node is item.jump_node else f"{item.jump_path}[{index}]"
        problem = _hop_problem(text, item.name, names)
        if problem is not None:
            shown = f"'{text}' (text)" if text is not None else describe(node)
            rep.at(node, path, f"found {shown}; {problem}")
            good = False
    return good


def _hop_problem(text: str | None, own: str, names: Collection[str]) -> str | None:
    if text is None:
        return f"expected {_HOP_FORMAT}"
    if text in names:
        return "a box may not jump through itself" if text == own else None
    match = _HOP.match(text)
    if match is None or not is_host(match["host"].strip("[]")):
        return f"expected {_HOP_FORMAT}"
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        return "expected a port from 1 to 65535 after the ':'"
    if match["user"] is None and match["port"] is None and "." not in match["host"]:
        # A bare word is almost always a box name with a typo, not a host.
        hint = did_you_mean(text, sorted(names))
        return (
            f"no box named '{text}' in boxes{hint}; name a box, or write an outside "
            "host as user@host, host:port or a dotted host name"
        )
    return None


def _report_cycles(
    rep: Reporter, graph: Mapping[str, list[str]], pending: Mapping[str, _Pending]
) -> set[str]:
    in_cycle: set[str] = set()
    for cycle in _cycles(graph):
        first = pending[cycle[0]]
        route = " -> ".join(cycle)
        rep.at(
            first.jump_node,
            first.jump_path,
            f"jump cycle {route}: each box waits for the next, so none of them can be reached",
        )
        in_cycle.update(cycle)
    return in_cycle


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Return each cycle once, as a list of names ending where it starts."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for hop in graph.get(name, ()):
            if state.get(hop) == 1:
                cycles.append([*path[path.index(hop) :], hop])
            elif hop not in state:
                visit(hop, path)
        path.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [])
    return cycles
