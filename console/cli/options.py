"""The conventions every `hotspare` command shares: global options anywhere, --version, usage exits.

`hotspare drain web1 --observe` reads as well as `hotspare --observe drain
web1`, so every subcommand, at any depth, takes the global options too. They
default to argparse.SUPPRESS there: a subcommand that was not given one
leaves the value read before the command (or its default) alone.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

import console.cli.completion as completion
from console.cluster_file import CLUSTER_ENV
from console.errors import Exit

PACKAGE = "hotspare"


def version() -> str:
    """This installation's version, from the package metadata."""
    from importlib import metadata  # only --version pays for it

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package; run `pip install -e .`)"


class VersionAction(argparse.Action):
    """`--version`: print "hotspare X.Y.Z" on stdout and exit 0."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **_: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{PACKAGE} {version()}")
        parser.exit(Exit.OK)


def add_global_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """Add the options every command takes to PARSER.

    On the TOP parser they carry their defaults; on a subcommand they are
    suppressed unless given, so a value read before the command stays.
    """
    where: Any = parser
    unset: dict[str, Any] = {}
    if not top:
        where = parser.add_argument_group(
            "global options", "also accepted before the command; see `hotspare --help`"
        )
        unset = {"default": argparse.SUPPRESS}
    cluster = where.add_argument(
        "--cluster",
        metavar="NAME|FILE",
        help="inventory: a NAME in ~/.config/hotspare/clusters/, or a file "
        f"(default: ${CLUSTER_ENV}, else ./cluster.yaml)",
        **unset,
    )
    completion.cluster_names(cluster)
    where.add_argument(
        "--debug",
        action="store_true",
        help="on an internal error, print the details for a bug report",
        **unset,
    )
    where.add_argument(
        "--observe", action="store_true", help="observer mode: every change is refused", **unset
    )


class CommandParser(argparse.ArgumentParser):
    """The parser of one subcommand: global options included, its name known to errors.

    Its own subcommands are CommandParsers too (add_subparsers makes its
    children of its own class), so the conventions reach every depth.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_global_options(self)
        # Innermost wins: `hotspare lab up` errors are signed by "hotspare lab up".
        self.set_defaults(command_name=self.prog)

    def error(self, message: str) -> NoReturn:
        """Print the usage and MESSAGE; exit with the command's usage code (2, status 3)."""
        usage_exit(self, self.get_default("error_exit"), message)


def usage_exit(parser: argparse.ArgumentParser, code: int | None, message: str) -> NoReturn:
    """Print PARSER's usage and MESSAGE on stderr, then exit with CODE (default 2)."""
    parser.print_usage(sys.stderr)
    parser.exit(Exit.USAGE if code is None else code, f"{parser.prog}: error: {message}\n")
