"""Which inventory a command reads, and `hotspare check-config`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console import inventory

CLUSTER_ENV = "HOTSPARE_CLUSTER"

Load = Callable[[argparse.Namespace], inventory.Inventory | None]


def cluster_path(given: str | None) -> Path:
    """The inventory to use: --cluster, then $HOTSPARE_CLUSTER, then ./cluster.yaml."""
    return Path(given or os.environ.get(CLUSTER_ENV) or "cluster.yaml")


def load_inventory(args: argparse.Namespace) -> inventory.Inventory | None:
    """The inventory named by ARGS, or None after printing why it cannot be used."""
    path = Path(getattr(args, "file", None) or cluster_path(args.cluster))
    try:
        return inventory.load(path)
    except inventory.InventoryError as exc:
        print(exc, file=sys.stderr)
        return None


def add_parser(commands: Any) -> None:
    """Add `check-config` to COMMANDS."""
    check = commands.add_parser("check-config", help="validate an inventory and summarise it")
    check.add_argument("file", nargs="?", metavar="FILE", help="inventory file to check")
    check.set_defaults(run=_check_config)


def _check_config(args: argparse.Namespace) -> int:
    inv = load_inventory(args)
    if inv is None:
        return 2
    print(inventory.summary(inv))
    print(f"\n{inv.path}: OK")
    return 0
