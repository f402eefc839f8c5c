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


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """Let the options of `hotspare --help` follow PARSER's command too."""
    group = parser.add_argument_group(
        "global options", "also accepted before the command; see `hotspare --help`"
    )
    cluster = group.add_argument(
        "--cluster", metavar="NAME|FILE", default=argparse.SUPPRESS, help="inventory to read"
    )
    completion.cluster_names(cluster)
    group.add_argument(
        "--observe",
        action="store_true",
        default=argparse.SUPPRESS,
        help="observer mode: every change is refused",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks of internal errors",
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
