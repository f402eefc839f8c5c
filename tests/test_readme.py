"""The README's command list and the action catalogue say the same: no action goes unlisted."""

from __future__ import annotations

import re
from pathlib import Path

from console.actions import catalog
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
