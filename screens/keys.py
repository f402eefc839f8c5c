"""Every key of the console, described once for bindings, help and palette."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """One operator key.

    Attributes:
        key: the key as Textual names it.
        action: the app action it runs.
        label: the footer's word for it.
        description: what it does, in an operator's words.
        changes_site: True for actions that change the site: observers never get them.
        arrives_with: the issue that builds the core action, while it does not exist.
    """

    key: str
    action: str
    label: str
    description: str
    changes_site: bool = False
    arrives_with: str | None = None


ACTIONS: tuple[Key, ...] = (
    Key("d", "drain", "drain", "Drain the selected node", True, "issue 6"),
    Key("r", "ready", "ready", "Set the selected node ready", True, "issue 6"),
    Key("m", "maint", "maint", "Put the selected node in maintenance", True, "issue 6"),
    Key("p", "promote", "promote", "Promote the selected standby", True, "issue 7"),
    Key("o", "read_only", "read-only", "Turn the site's read-only mode on or off", True, "issue 6"),
    Key(
        "M",
        "maintenance_page",
        "maint page",
        "Put up or take down the maintenance page",
        True,
        "issue 6",
    ),
    Key(
        "s",
        "move_scheduler",
        "scheduler",
        "Move the scheduler role to the selected node",
        True,
        "issue 6",
    ),
    Key("h", "make_hot", "hot", "Make the selected node hot", True, "issue 6"),
    Key("w", "make_warm", "warm", "Make the selected node warm", True, "issue 6"),
)

VIEWS: tuple[Key, ...] = (
    Key("enter", "details", "details", "Open the selected box's details"),
    Key("l", "logs", "logs", "Open the logs screen"),
    Key("slash", "filter", "filter", "Filter the tables by name"),
    Key("ctrl+s", "save_svg", "save SVG", "Save the screen as SVG"),
    Key("question_mark", "help", "help", "List every key"),
    Key("q", "quit", "quit", "Quit"),
)

MOVES = (
    ("tab / shift+tab", "Move between panels"),
    ("up / down, j / k", "Move within a panel"),
    ("ctrl+p", "Command palette: every action by name"),
    ("escape", "Close a screen or the filter"),
)

_SHOWN = {"question_mark": "?", "slash": "/"}


def shown(key: str) -> str:
    """How a key is written for the operator: "?" rather than "question_mark"."""
    return _SHOWN.get(key, key)


MUTATIONS = frozenset(k.action for k in ACTIONS if k.changes_site)
