"""The `hotspare` command: one entry point for the console, the lab and scripts.

One module per command group; each adds its commands to the parser and
imports what it needs to run only when it runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from console.cli import (
    actions,
    audit,
    check,
    clusters,
    completion,
    config,
    events,
    history,
    lab,
    logs,
    monitor,
    patroni,
    status,
    trust,
    upgrade,
)
from console.cli.config import load_inventory
from console.cli.options import CommandParser, VersionAction, add_global_options, usage_exit
from console.cluster_file import CLUSTER_ENV, cluster_path
from console.errors import Exit, HotspareError
from console.text import shown

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
    events.add_parser(commands, load_inventory)
    check.add_parser(commands, load_inventory)
    history.add_parser(commands, load_inventory)
    monitor.add_parser(commands, load_inventory)
    trust.add_parser(commands, load_inventory)
    logs.add_parser(commands, load_inventory)
    groups = actions.add_parsers(commands, load_inventory)
    patroni.add_parsers(groups["patroni"], load_inventory)
    audit.add_parser(commands, load_inventory)
    upgrade.add_parser(commands, load_inventory)
    lab.add_parser(commands)
    clusters.add_parser(commands)
    completion.add_parser(commands, parser)
    if extend is not None:
        extend(parser, commands)
    return parser


def main(argv: Sequence[str] | None = None, extend: Extend | None = None) -> int:
    """Run the hotspare command; returns the exit status (docs/cli.md has the table)."""
    try:
        code = _main(argv, extend)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return code
    except SystemExit:  # --help, --version and usage errors end inside argparse
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_to_devnull()
        raise
    except BrokenPipeError:
        _stdout_to_devnull()
        return Exit.OK


def _stdout_to_devnull() -> None:
    """The reader (head, less) went away: nothing more to say to it.

    As the Python docs advise, stdout becomes /dev/null, so that the flush at
    exit has nothing to complain about either.
    """
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main(argv: Sequence[str] | None, extend: Extend | None) -> int:
    """main, with a BrokenPipeError let through only when stdout's reader is gone."""
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
    except HotspareError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{getattr(args, 'command_name', parser.prog)}: {_lines(exc)}", file=sys.stderr)
        return _error_exit(args) or exc.exit
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) and _reader_gone():
            raise
        # Any other broken pipe (a box's socket, a child process) is a failure to report.
        if args.debug:
            traceback.print_exc()
        print(
            f"hotspare: internal error: {type(exc).__name__}: {_lines(exc)}\n"
            "This is a bug in hotspare; run again with --debug and report the output.",
            file=sys.stderr,
        )
        return _error_exit(args) or Exit.INTERNAL


def _lines(exc: BaseException) -> str:
    """EXC's message with what could act on the terminal escaped, line by line.

    A name the operator typed or a box's answer may hold a right-to-left
    override or an escape sequence; it is shown, not obeyed.
    """
    return "\n".join(shown(line) for line in str(exc).split("\n"))


def _reader_gone() -> bool:
    """Whether stdout is a pipe or socket whose reading end has been closed."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError):  # no file descriptor (captured), or a closed one
        return False
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in events)


def _error_exit(args: argparse.Namespace) -> int | None:
    """The code a command ends with on any error, if it has one (status: 3, UNKNOWN)."""
    code = getattr(args, "error_exit", None)
    return None if code is None else int(code)
