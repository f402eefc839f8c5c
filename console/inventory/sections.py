"""Reading a mapping of known keys, with a defaults section behind it."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .fields import NAME_RE, NAME_RULE, Bad, Check, did_you_mean
from .yamltree import (
    PASSWORD_KEYS,
    Node,
    Reporter,
    describe,
    has_merge_key,
    is_null,
    items,
    join,
    scalar,
)

INVALID: Any = object()  # a key was there but its value was reported as bad


@dataclass(frozen=True)
class Key:
    """How to read one key: its check, and what happens when it is absent."""

    check: Check
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Read:
    """The keys read from one mapping: value and the node it came from."""

    node: Node
    path: str
    values: Mapping[str, Any]
    nodes: Mapping[str, Node]
    # Keys not to call missing: a near-miss key was reported instead, or a
    # merge key (<<) may have meant to supply them.
    excused: frozenset[str] = frozenset()


def as_mapping(rep: Reporter, node: Node, path: str, expected: str) -> yaml.MappingNode | None:
    """Return ``node`` if it is a mapping (null counts as an empty one), else report."""
    if isinstance(node, yaml.MappingNode):
        return node
    if is_null(node):
        return yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
    rep.at(node, path, f"found {describe(node)}; expected {expected}")
    return None


def read_keys(
    rep: Reporter,
    node: yaml.MappingNode,
    path: str,
    keys: Mapping[str, Key],
    refused: Mapping[str, str] | None = None,
) -> Read:
    """Check each key of ``node`` against ``keys`` and read the known ones.

    Args:
        rep: Where problems go.
        node: The mapping to read.
        path: Its dotted key path, for messages.
        keys: The allowed keys.
        refused: Keys allowed elsewhere but not here, with the reason.
    """
    values: dict[str, Any] = {}
    nodes: dict[str, Node] = {}
    excused: set[str] = set(keys) if has_merge_key(node) else set()
    for key, (key_node, value_node) in items(node).items():
        key_path = join(path, key)
        if key not in keys:
            excused.update(_unknown(rep, key_node, key_path, key, keys, refused or {}))
            continue
        nodes[key] = value_node
        try:
            values[key] = keys[key].check(value_node)
        except Bad as bad:
            rep.at(value_node, key_path, f"found {describe(value_node)}; {bad.text}")
            values[key] = INVALID
    return Read(node, path, values, nodes, frozenset(excused))


def _unknown(
    rep: Reporter,
    key_node: Node,
    key_path: str,
    key: str,
    keys: Mapping[str, Key],
    refused: Mapping[str, str],
) -> list[str]:
    """Report a key that does not belong; return the key it probably meant."""
    if key.lower() in PASSWORD_KEYS:
        return []  # check_tree has already said why
    allowed = "allowed here: " + ", ".join(keys)
    if key in refused:
        rep.at(key_node, key_path, f"'{key}' cannot go here: {refused[key]}; {allowed}")
        return []
    close = difflib.get_close_matches(key, list(keys) + list(refused), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    rep.at(key_node, key_path, f"unknown key '{key}'{hint}; {allowed}")
    return close


def merge(
    rep: Reporter,
    own: Read,
    defaults: Read | None,
    keys: Mapping[str, Key],
    defaults_path: str,
    defaultable: Collection[str],
) -> tuple[dict[str, Any], dict[str, Node]] | None:
    """Combine a mapping with its defaults; None if anything is bad or missing.

    Args:
        rep: Where problems go.
        own: The entry as read.
        defaults: Its defaults section as read, if the file has one.
        keys: What every key needs.
        defaults_path: The defaults section's name, for messages.
        defaultable: The keys the defaults section may hold.

    Returns:
        The values by key and, for each, the node it came from (for messages
        about how values relate, e.g. two schedulers).
    """
    values: dict[str, Any] = {}
    nodes: dict[str, Node] = {}
    complete = True
    for key, spec in keys.items():
        source = own if key in own.values else defaults
        if source is not None and key in source.values:
            values[key] = source.values[key]
            nodes[key] = source.nodes[key]
            complete = complete and values[key] is not INVALID
        elif spec.required and not _excused(key, own, defaults):
            where = f" (set it here or in {defaults_path})" if key in defaultable else ""
            rep.at(own.node, join(own.path, key), f"required key '{key}' is missing{where}")
            complete = False
        elif spec.required:
            complete = False
        else:
            values[key] = spec.default
            nodes[key] = own.node
    return (values, nodes) if complete else None


def _excused(key: str, own: Read, defaults: Read | None) -> bool:
    return key in own.excused or (defaults is not None and key in defaults.excused)


def section(
    rep: Reporter, top: Mapping[str, tuple[Node, Node]], name: str, expected: str
) -> yaml.MappingNode | None:
    """Return top-level section ``name`` as a mapping; None if absent or reported."""
    if name not in top:
        return None
    return as_mapping(rep, top[name][1], name, expected)


def entries(
    rep: Reporter, node: yaml.MappingNode, path: str, what: str
) -> list[tuple[str, yaml.MappingNode]]:
    """Return the named entries of a section (e.g. boxes) whose names are valid."""
    found = []
    for entry, (key_node, value_node) in items(node).items():
        entry_path = join(path, entry)
        if not NAME_RE.match(entry):
            rep.at(key_node, entry_path, f"found '{entry}'; expected a {what} name: {NAME_RULE}")
            continue
        mapping = as_mapping(rep, value_node, entry_path, f"a mapping of {what} settings")
        if mapping is not None:
            found.append((entry, mapping))
    return found


def origin(own: Read, key: str, defaults_path: str) -> str:
    """Return the dotted path a merged key came from: the entry or its defaults."""
    return join(own.path, key) if key in own.values else f"{defaults_path}.{key}"


def box_ref(rep: Reporter, box: str, node: Node, path: str, names: Collection[str]) -> bool:
    """Check that ``box`` names a box in ``boxes``; report it if not."""
    if box in names:
        return True
    if names:  # no boxes at all has been reported already, once
        hint = did_you_mean(box, sorted(names))
        known = ", ".join(sorted(names))
        rep.at(node, path, f"no box named '{box}' in boxes{hint}; boxes: {known}")
    return False


def box_where(own: Node | None, fallback: str) -> str:
    """Name the box an entry's remote paths live on, for messages."""
    if isinstance(own, yaml.MappingNode):
        box = items(own).get("box")
        if box is not None and isinstance(scalar(box[1]), str):
            return f"box {scalar(box[1])}"
    return fallback
