"""Which inventory a command reads, and `hotspare check-config`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

import console.cli.clusters as clusters
from console import inventory
from console.cluster_file import cluster_path

CONFIG_SCHEMA = "hotspare.config/1"

Load = Callable[[argparse.Namespace], inventory.Inventory | None]


def load_inventory(args: argparse.Namespace) -> inventory.Inventory | None:
    """The inventory named by ARGS, or None after printing why it cannot be used."""
    given = getattr(args, "file", None) or args.cluster
    if (message := clusters.missing(given)) is not None:
        print(message, file=sys.stderr)
        return None
    path = cluster_path(given)
    try:
        return inventory.load(path)
    except inventory.InventoryError as exc:
        print(exc, file=sys.stderr)
        return None


def add_parser(commands: Any) -> None:
    """Add `check-config` to COMMANDS."""
    check = commands.add_parser("check-config", help="validate an inventory and summarise it")
    check.add_argument("file", nargs="?", metavar="FILE", help="inventory file to check")
    check.add_argument(
        "--json", action="store_true", help=f"print the checked inventory ({CONFIG_SCHEMA})"
    )
    check.set_defaults(run=_check_config)


def as_json(inv: inventory.Inventory) -> str:
    """INV as checked, defaults filled in, each box with its whole jump chain."""
    fields = dataclasses.asdict(inv)
    file = str(fields.pop("path"))
    for box in fields["boxes"]:
        box["jump_chain"] = list(inv.jump_chain(box["name"]))
    document = {"schema": CONFIG_SCHEMA, "ok": True, "file": file, **fields}
    return json.dumps(document, indent=2, default=str)


def _check_config(args: argparse.Namespace) -> int:
    inv = load_inventory(args)
    if inv is None:
        if args.json:  # the problems themselves are on stderr, one per line
            print(json.dumps({"schema": CONFIG_SCHEMA, "ok": False}))
        return 2
    if args.json:
        print(as_json(inv))
        return 0
    print(inventory.summary(inv))
    print(f"\n{inv.path}: OK")
    return 0
