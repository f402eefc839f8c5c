"""``load``: cluster.yaml to a frozen Inventory, or every problem found in one pass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .alerts import read_alerts
from .boxes import read_boxes
from .databases import read_databases, read_hooks
from .errors import InventoryError
from .fields import colour, flag, name, text
from .keepalive import read_keepalive
from .model import Environment, Inventory
from .sections import Key, as_mapping, merge, read_keys
from .upgrade import read_upgrade
from .web import backends_of, read_balancer, read_web_nodes
from .yamltree import (
    Node,
    Reporter,
    check_tree,
    describe,
    display_name,
    items,
    read_root,
    scalar,
)

VERSION = 1
_SECTION_NAMES = (
    "version",
    "cluster",
    "defaults",
    "boxes",
    "balancer",
    "web_defaults",
    "web_nodes",
    "database_defaults",
    "databases",
    "hooks",
    "upgrade",
    "alerts",
    "keepalive",
)
_REQUIRED = ("version", "cluster", "boxes")


def load(path: str | os.PathLike[str]) -> Inventory:
    """Load and check an inventory file.

    Args:
        path: The cluster.yaml to read.

    Returns:
        The inventory, with defaults and placeholders applied.

    Raises:
        InventoryError: The file is missing, unreadable or invalid; it lists
            every problem found, each with its line and column.
    """
    rep = Reporter(str(path))
    try:
        rep = Reporter(display_name(path))
        inventory = _load(Path(path).absolute(), rep)
    except Exception as exc:
        # The operator must get a message, never a traceback, even from a bug here.
        rep.at_position(1, 1, "", f"hotspare failed to read this file ({exc!r}); please report it")
        raise InventoryError(rep.problems()) from exc
    if rep or inventory is None:
        raise InventoryError(rep.problems())
    return inventory


def _load(path: Path, rep: Reporter) -> Inventory | None:
    root = read_root(path, rep)
    if root is None:
        return None
    if not isinstance(root, yaml.MappingNode):
        expected = "a mapping of top-level keys (" + ", ".join(_SECTION_NAMES) + ")"
        rep.at(root, "", f"found {describe(root)} at the top level; expected {expected}")
        return None
    check_tree(root, rep)
    top = _check_top(rep, root)
    version = _version(rep, top)
    cluster = _cluster(rep, top)
    boxes, names = read_boxes(rep, top, path.parent)
    by_name = {box.name: box for box in boxes}
    balancer = read_balancer(rep, top, names)
    web_nodes = read_web_nodes(rep, top, names, by_name, balancer)
    if balancer is not None:
        balancer = backends_of(balancer, web_nodes)
    databases = read_databases(rep, top, names, path.parent)
    hooks = read_hooks(rep, top)
    upgrade = read_upgrade(rep, top)
    alerts = read_alerts(rep, top, path.parent)
    keepalive = read_keepalive(rep, top)
    if rep or version is None or cluster is None or hooks is None or upgrade is None:
        return None
    if alerts is None or keepalive is None:
        return None
    return Inventory(
        path=path,
        version=version,
        name=cluster[0],
        environment=cluster[1],
        boxes=boxes,
        balancer=balancer,
        web_nodes=web_nodes,
        databases=databases,
        hooks=hooks,
        upgrade=upgrade,
        alerts=alerts,
        keepalive=keepalive,
    )


def _check_top(rep: Reporter, root: yaml.MappingNode) -> dict[str, tuple[Node, Node]]:
    """Report unknown and missing top-level keys; return the top-level items."""
    read_keys(rep, root, "", {key: Key(lambda node: node) for key in _SECTION_NAMES})
    top = items(root)
    for key in _REQUIRED:
        if key not in top:
            rep.at(root, key, f"required key '{key}' is missing")
    return top


def _version(rep: Reporter, top: Mapping[str, tuple[Node, Node]]) -> int | None:
    if "version" not in top:
        return None
    node = top["version"][1]
    value = scalar(node)
    if value == VERSION and isinstance(value, int) and not isinstance(value, bool):
        return VERSION
    expected = f"expected {VERSION}: this hotspare reads version {VERSION} files only"
    if isinstance(value, str) and value.strip() == str(VERSION):
        expected = f"expected {VERSION} (write it without quotes)"
    rep.at(node, "version", f"found {describe(node)}; {expected}")
    return None


def _cluster(rep: Reporter, top: Mapping[str, tuple[Node, Node]]) -> tuple[str, Environment] | None:
    if "cluster" not in top:
        return None
    node = as_mapping(rep, top["cluster"][1], "cluster", "a mapping with name and environment")
    if node is None:
        return None
    keys = {
        "name": Key(name("a cluster name"), required=True),
        "environment": Key(lambda n: n, required=True),
    }
    merged = merge(rep, read_keys(rep, node, "cluster", keys), None, keys, "", ())
    if merged is None:
        return None
    environment = _environment(rep, merged[0]["environment"])
    return None if environment is None else (merged[0]["name"], environment)


def _environment(rep: Reporter, node: Node) -> Environment | None:
    path = "cluster.environment"
    mapping = as_mapping(rep, node, path, "a mapping with label and colour")
    if mapping is None:
        return None
    keys = {
        "label": Key(text, required=True),
        "colour": Key(colour, required=True),
        "observer_only": Key(flag, default=False),
    }
    merged = merge(rep, read_keys(rep, mapping, path, keys), None, keys, "", ())
    values: dict[str, Any] | None = None if merged is None else merged[0]
    return None if values is None else Environment(**values)
