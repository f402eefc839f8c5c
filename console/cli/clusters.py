"""Several inventories side by side: `--cluster NAME` and `hotspare clusters`.

A team with a staging and a production site keeps one inventory per cluster
under $XDG_CONFIG_HOME/hotspare/clusters/ (default ~/.config/...), each
reached by its file name: `--cluster shop` reads clusters/shop.yaml. A path
still works as before; $HOTSPARE_CLUSTER and ./cluster.yaml stay the
fallbacks.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console import inventory
from console.cluster_file import (
    SUFFIX,
    cluster_path,
    clusters_dir,
    is_name,
    resolve,
    wanted,
)
from console.text import clean, one_line


def missing(given: str | None) -> str | None:
    """What to tell the operator when GIVEN (or $HOTSPARE_CLUSTER) names no inventory."""
    asked = wanted(given)
    path = resolve(asked)
    if not is_name(asked) or path.exists():
        return None
    return (
        f"no cluster named {one_line(asked, 40)!r}: {path} does not exist; "
        "`hotspare clusters` lists the inventories found"
    )


@dataclass(frozen=True)
class Found:
    """One inventory file found, loaded or not.

    Attributes:
        name: What `--cluster` takes to reach it (a name, or a path for the fallback).
        path: The file.
        inventory: The loaded inventory, or None when it does not load.
        error: Why it does not load, every problem, as `check-config` says it.
        problems: How many problems that is.
    """

    name: str
    path: Path
    inventory: inventory.Inventory | None
    error: str | None = None
    problems: int = 0


def _load(name: str, path: Path) -> Found:
    try:
        return Found(name, path, inventory.load(path))
    except inventory.InventoryError as exc:
        return Found(name, path, None, str(exc), len(exc.problems))


def _entries() -> list[tuple[str, Path]]:
    """Every named inventory file, by name, then the fallback one if it is not among them."""
    folder = clusters_dir()
    named = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    entries = [(path.stem, path) for path in named if path.is_file()]
    fallback = cluster_path(None)
    if fallback.is_file() and fallback.resolve() not in {p.resolve() for _, p in entries}:
        entries.append((str(fallback), fallback))
    return entries


def found() -> list[Found]:
    """Every inventory found, loaded or with why it does not load."""
    return [_load(name, path) for name, path in _entries()]


def others(current: inventory.Inventory) -> list[inventory.Inventory]:
    """The inventories found that load and are not CURRENT's file: where one can switch to.

    CURRENT's own file is not read again: the console has it already.
    """
    here = current.path.resolve()
    loaded = (_load(name, path) for name, path in _entries() if path.resolve() != here)
    return [f.inventory for f in loaded if f.inventory is not None]


def add_parser(commands: Any) -> None:
    """Add `clusters` to COMMANDS."""
    listing = commands.add_parser("clusters", help="list the inventories found, for --cluster NAME")
    listing.add_argument("--json", action="store_true", help="a JSON list, one object each")
    listing.set_defaults(run=_clusters)


def record(entry: Found, current: Path) -> dict[str, Any]:
    """ENTRY as `clusters --json` prints it; CURRENT is the file used without --cluster."""
    inv = entry.inventory
    return {
        "name": entry.name,
        "path": str(entry.path),
        "current": entry.path.resolve() == current.resolve(),
        "cluster": inv.name if inv else None,
        "environment": inv.environment.label if inv else None,
        "loads": inv is not None,
        "error": entry.error,
        "problems": entry.problems,
    }


def _line(row: dict[str, Any]) -> str:
    mark = "*" if row["current"] else " "
    if row["loads"]:
        status = "ok"
    else:
        count = row["problems"]
        status = f"BROKEN ({count} problem{'s' if count != 1 else ''})"
    return (
        f"{mark} {one_line(row['name'], 20):20} {one_line(row['cluster'] or '-', 16):16} "
        f"{one_line(row['environment'] or '-', 12):12} {status:20} {one_line(row['path'], 200)}"
    )


def _clusters(args: argparse.Namespace) -> int:
    current = cluster_path(args.cluster)
    rows = [record(entry, current) for entry in found()]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no inventories in {clusters_dir()}, and no {cluster_path(None)}")
        return 0
    print(f"  {'NAME':20} {'CLUSTER':16} {'ENVIRONMENT':12} {'STATUS':20} PATH")
    for row in rows:
        print(_line(row))
    for row in rows:
        if not row["loads"]:
            print(f"\n{one_line(row['name'], 60)}:\n{clean(row['error'])}")
    return 0
