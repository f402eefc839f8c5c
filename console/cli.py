"""The `hotspare` command: one entry point for the console, the lab and scripts."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from console import (
    cli_actions,
    cli_logs,
    cli_promote,
    cli_roles,
    cli_site,
    cli_status,
    cli_trust,
    inventory,
)
from console.lab import cli as lab_cli

CLUSTER_ENV = "HOTSPARE_CLUSTER"


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


def _check_config(args: argparse.Namespace) -> int:
    inv = load_inventory(args)
    if inv is None:
        return 2
    print(inventory.summary(inv))
    print(f"\n{inv.path}: OK")
    return 0


Extend = Callable[[argparse.ArgumentParser, Any], None]


def build_parser(extend: Extend | None = None) -> argparse.ArgumentParser:
    """The command line; EXTEND(parser, commands) adds a front end's own commands."""
    parser = argparse.ArgumentParser(
        prog="hotspare",
        description="Operator console for a highly available web site.",
    )
    parser.add_argument(
        "--cluster",
        metavar="FILE",
        help=f"inventory file (default: ${CLUSTER_ENV}, else ./cluster.yaml)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument(
        "--observe", action="store_true", help="observer mode: every change is refused"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("check-config", help="validate an inventory and summarise it")
    check.add_argument("file", nargs="?", metavar="FILE", help="inventory file to check")
    check.set_defaults(run=_check_config)
    cli_status.add_parser(commands, load_inventory)
    cli_trust.add_parser(commands, load_inventory)
    cli_logs.add_parser(commands, load_inventory)
    cli_actions.add_parser(commands, load_inventory)
    cli_site.add_parser(commands, load_inventory)
    cli_roles.add_parser(commands, load_inventory)
    cli_promote.add_parser(commands, load_inventory)
    lab_cli.add_parser(commands)
    if extend is not None:
        extend(parser, commands)
    return parser


def main(argv: Sequence[str] | None = None, extend: Extend | None = None) -> int:
    """Run the hotspare command; returns the exit status."""
    parser = build_parser(extend)
    args = parser.parse_args(cli_logs.route(sys.argv[1:] if argv is None else argv))
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"hotspare: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in hotspare; run again with --debug and report the output.",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
