"""The `hotspare` command: one entry point for the console, the lab and scripts.

One module per command group; each adds its commands to the parser and
imports what it needs to run only when it runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from console.cli import actions, audit, clusters, completion, config, lab, logs, status, trust
from console.cli.clusters import CLUSTER_ENV, cluster_path
from console.cli.config import load_inventory
from console.cli.options import CommandParser, VersionAction, add_global_options, usage_exit
from console.errors import Exit, HotspareError

__all__ = ["CLUSTER_ENV", "build_parser", "cluster_path", "load_inventory", "main"]

Extend = Callable[[argparse.ArgumentParser, Any], None]


def build_parser(extend: Extend | None = None) -> argparse.ArgumentParser:
    """The command line; EXTEND(parser, commands) adds a front end's own commands."""
    parser = argparse.ArgumentParser(
        prog="hotspare",
        description="Operator console for a highly available web site.",
    )
    add_global_options(parser, top=True)
    parser.add_argument("--version", action=VersionAction)
    # Every subcommand takes the global options too, after its own words.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    config.add_parser(commands)
    status.add_parser(commands, load_inventory)
    trust.add_parser(commands, load_inventory)
    logs.add_parser(commands, load_inventory)
    actions.add_parsers(commands, load_inventory)
    audit.add_parser(commands, load_inventory)
    lab.add_parser(commands)
    clusters.add_parser(commands)
    completion.add_parser(commands, parser)
    if extend is not None:
        extend(parser, commands)
    return parser


def main(argv: Sequence[str] | None = None, extend: Extend | None = None) -> int:
    """Run the hotspare command; returns the exit status (docs/cli.md has the table)."""
    parser = build_parser(extend)
    args, extra = parser.parse_known_args(logs.route(sys.argv[1:] if argv is None else argv))
    if extra:
        usage_exit(parser, _error_exit(args), f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "run"):
        parser.print_help()
        return Exit.USAGE
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # The reader (head, less) went away: nothing more to say to it, and
        # nothing for Python to complain about when it flushes at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except HotspareError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{getattr(args, 'command_name', parser.prog)}: {exc}", file=sys.stderr)
        return _error_exit(args) or exc.exit
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"hotspare: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in hotspare; run again with --debug and report the output.",
            file=sys.stderr,
        )
        return _error_exit(args) or Exit.INTERNAL


def _error_exit(args: argparse.Namespace) -> int | None:
    """The code a command ends with on any error, if it has one (status: 3, UNKNOWN)."""
    code = getattr(args, "error_exit", None)
    return None if code is None else int(code)
