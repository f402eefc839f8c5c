"""The `hotspare` command: one entry point for the console, the lab and scripts.

One module per command group; each adds its commands to the parser and
imports what it needs to run only when it runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from console.cli import actions, audit, config, lab, logs, status, trust
from console.cli.config import CLUSTER_ENV, cluster_path, load_inventory

__all__ = ["CLUSTER_ENV", "build_parser", "cluster_path", "load_inventory", "main"]

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
    config.add_parser(commands)
    status.add_parser(commands, load_inventory)
    trust.add_parser(commands, load_inventory)
    logs.add_parser(commands, load_inventory)
    actions.add_parsers(commands, load_inventory)
    audit.add_parser(commands, load_inventory)
    lab.add_parser(commands)
    if extend is not None:
        extend(parser, commands)
    return parser


def main(argv: Sequence[str] | None = None, extend: Extend | None = None) -> int:
    """Run the hotspare command; returns the exit status."""
    parser = build_parser(extend)
    args = parser.parse_args(logs.route(sys.argv[1:] if argv is None else argv))
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
