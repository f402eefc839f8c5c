"""The README's command list and the action catalogue say the same: no action goes unlisted."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from console.actions import catalog
from console.cli.logs import route
from screens.main import main_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _listed() -> list[list[set[str]]]:
    """Each `    hotspare ...` line of the README as its words, alternatives split on |."""
    found = []
    for line in README.read_text().splitlines():
        if line.startswith("    hotspare "):
            words = line.split("#")[0].split()[1:]
            found.append([set(word.split("|")) for word in words])
    return found


def test_every_action_of_the_catalogue_is_in_the_readme() -> None:
    listed = _listed()
    for action in catalog.ACTIONS:
        names = (action.words[-1], *action.aliases)
        head, *rest = action.words
        assert any(
            len(words) >= len(action.words)
            and (head in words[0] if rest else set(names) & words[0])
            and all(word in words[i + 1] for i, word in enumerate(rest))
            for words in listed
        ), f"README.md lists no `hotspare {action.name}`"


def test_every_command_the_readme_lists_exists() -> None:
    listing = main_parser().format_help()  # one line per command: "    NAME  help"
    for words in _listed():
        if not words or next(iter(words[0])).startswith(("-", "[")):
            continue  # `hotspare` alone, or with options only
        for command in words[0]:
            assert re.search(rf"^ +{re.escape(command)} ", listing, re.M), command


# What each placeholder of the README's command lines stands for, in an example.
EXAMPLE_VALUES = {
    "NODE": "web1",
    "NODE...": "web1",
    "BOX": "db1",
    "STANDBY": "db2",
    "NAME": "db1",
    "T": "30m",
    "N": "2",
    "DEST": "/tmp/logs",
    "RE": "error",
    "FILE": "cluster.yaml",
    "TEXT": "upgrading",
}


def _groups(words: list[str]) -> list[tuple[bool, list[str]]]:
    """WORDS as (optional, words) groups: `[--since 10m]` is one optional group of two."""
    groups: list[tuple[bool, list[str]]] = []
    inside: list[str] | None = None
    for word in words:
        if inside is None and word.startswith("["):
            inside = []
            word = word[1:]
        if inside is None:
            groups.append((False, [word]))
            continue
        closed = word.endswith("]")
        inside.append(word.rstrip("]"))
        if closed:
            groups.append((True, inside))
            inside = None
    assert inside is None, f"an unclosed [ in {' '.join(words)!r}"
    return groups


def _examples(line: str) -> list[list[str]]:
    """The command lines a README line stands for: each alternative (a|b), with every
    optional part and without any, each placeholder replaced by an example value."""
    groups = _groups(line.split("#")[0].split()[1:])
    found = []
    for optional in (True, False):
        chosen = [words for is_optional, words in groups if optional or not is_optional]
        flat = [word for words in chosen for word in words]
        width = max((len(word.split("|")) for word in flat), default=1)
        for pick in range(width):
            argv = []
            for word in flat:
                choices = word.split("|")
                word = choices[min(pick, len(choices) - 1)]
                argv.append(EXAMPLE_VALUES.get(word, word))
            found.append(argv)
    return found


def test_every_command_line_the_readme_shows_parses() -> None:
    """Each `    hotspare ...` line, every alternative, with and without its options."""
    tried = 0
    for line in README.read_text().splitlines():
        if not line.startswith("    hotspare"):
            continue
        for argv in _examples(line):
            parser = main_parser()
            errors = io.StringIO()
            try:
                with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                    parser.parse_args(route(argv))
            except SystemExit:
                raise AssertionError(
                    f"README.md: {line.strip()!r} as `hotspare {' '.join(argv)}` is refused:\n"
                    f"{errors.getvalue()}"
                ) from None
            tried += 1
    assert tried >= 40  # every line was read, not skipped


def test_a_readme_line_the_parser_refuses_is_caught() -> None:
    (argv,) = {tuple(a) for a in _examples("    hotspare lab up --blocks 127.0.10  # x")}
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        main_parser().parse_args(route(list(argv)))
