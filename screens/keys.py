"""Every key of the console, described once for bindings, help and palette."""

from __future__ import annotations

from dataclasses import dataclass

from console.actions import catalog


@dataclass(frozen=True)
class Key:
    """One operator key.

    Attributes:
        key: the key as Textual names it.
        action: the app action it runs.
        label: the footer's word for it.
        description: what it does, in an operator's words.
        changes_site: True for actions that change the site: observers never get them.
    """

    key: str
    action: str
    label: str
    description: str
    changes_site: bool = False


def _action_keys() -> tuple[Key, ...]:
    """One key per catalogue key; a key shared by several actions names them all."""
    found = []
    for key, actions in catalog.keyed().items():
        first = actions[0]
        assert first.key is not None
        if len(actions) == 1:
            description = f"{first.name}: {first.help}"
        else:
            description = " / ".join(a.name for a in actions) + " (whichever fits now)"
        found.append(Key(key, f"act({key!r})", first.key.label, description, True))
    return tuple(sorted(found, key=lambda k: KEY_ORDER.index(k.key)))


# The key bar's order: the node's place, the database, the site, then roles.
KEY_ORDER = "drmpoMshw"
# The key bar: these first at any width, then the focused panel's keys, then the site's.
BAR_FIRST = ("question_mark", "q", "l", "ctrl+p")
BAR_PANEL = {"balancer": "drmhws", "nodes": "drmhws", "replicas": "p"}
BAR_SITE = "oM"
# Words an operator may type in the palette for an action, beside its name and aliases.
SYNONYMS = {
    "read-only on": ("message",),
    "maintenance on": ("message",),
}
# The site's actions come from the core's catalogue (console/actions/catalog.py).
ACTIONS: tuple[Key, ...] = _action_keys()

VIEWS: tuple[Key, ...] = (
    Key("enter", "details", "details", "Open the selected box's details"),
    Key("l", "logs", "logs", "Open the logs screen"),
    Key("u", "audit", "audit", "Open the audit log: who did what, newest first"),
    Key("U", "upgrade", "upgrade", "Open the upgrade screen: each node's release and stage"),
    Key("a", "alarms", "alarms", "List every alarm whole"),
    Key("slash", "filter", "filter", "Filter the tables by name"),
    Key("ctrl+s", "save_svg", "save SVG", "Save the screen as SVG"),
    Key("question_mark", "help", "help", "List every key"),
    Key("q", "quit", "quit", "Quit"),
)

LOGS: tuple[Key, ...] = (
    Key("m", "toggle_merge", "merge", "Side by side, or one stream merged in time order"),
    Key("a", "cycle_kinds", "access/error", "Access logs, error logs, or both"),
    Key("c", "toggle_brief", "brief", "Brief lines (time, status, request) or whole lines"),
    Key("W", "toggle_wrap", "wrap", "Wrap long lines (the node and time stay pinned)"),
    Key("f", "prompt('filter')", "filter", "Show only lines matching a regex (!RE hides them)"),
    Key("v", "invert", "invert", "Invert the filter (like grep -v)"),
    Key("slash", "prompt('search')", "search", "Search a regex; n / N next and previous"),
    Key("n", "find(True)", "next", "Next line matching the search"),
    Key("N", "find(False)", "previous", "Previous line matching the search"),
    Key("H", "prompt('highlight')", "highlight", "Highlight a regex in every line"),
    Key("t", "prompt('time')", "time", "Go to a time (14:05, 10m): every column in step"),
    Key("space", "toggle_follow", "pause", "Pause, or follow the newest lines again"),
    Key("G", "follow", "follow", "Follow the newest lines (end too)"),
    Key("x", "hide_column", "hide", "Hide the focused column (X shows them all)"),
    Key("X", "show_columns", "all columns", "Show every column again"),
    Key("escape", "close", "back", "Close the prompt, else back to the panels (q too)"),
)
# The upgrade screen (U): the runbook's keys, each a plan to read before anything runs.
UPGRADE: tuple[Key, ...] = (
    Key("p", "runbook('pause')", "pause", "Ask the running upgrade to pause", True),
    Key("r", "runbook('resume')", "resume", "Resume a paused, halted or interrupted one", True),
    Key("a", "runbook('abort')", "abort", "Abort the running upgrade, then roll back", True),
    Key("b", "runbook('rollback')", "rollback", "Return the nodes it moved to their release", True),
    Key("f", "runbook('finish')", "finish", "End an A/B rollover: A's database follows B's", True),
    Key("n", "new_upgrade", "new", "A new rolling upgrade: asks the release, then the plan", True),
    Key("escape", "back", "back", "Back to the panels (q too)"),
)
UPGRADE_ACTIONS = frozenset({"runbook", "new_upgrade"})
"""The upgrade screen's actions that change the site: none for an observer."""

LOG_MOVES = (
    ("tab / shift+tab", "Move between columns (the view scrolls to show it)"),
    ("up / down, j / k", "Move the cursor: the other columns follow its time"),
    ("pgup / pgdn, g", "Page up and down; g goes to the oldest line kept"),
    ("left / right", "Scroll long lines sideways by a screen's width (node, time stay)"),
)

MOVES = (
    ("tab / shift+tab", "Move between panels"),
    ("up / down, j / k", "Move within a panel"),
    ("^p", "Command palette: every action by name and synonym"),
    ("up / down, pgup / pgdn", "Scroll a screen on top (help, details, plan, audit)"),
    ("escape", "Close a screen or the filter"),
)

_SHOWN = {"question_mark": "?", "slash": "/", "escape": "esc", "ctrl+p": "^p"}


def shown(key: str) -> str:
    """How a key is written for the operator: "?" rather than "question_mark", "^s" for ctrl+s."""
    if key.startswith("ctrl+"):
        return "^" + key.removeprefix("ctrl+")
    return _SHOWN.get(key, key)


def bar(panel: str | None, observer: bool) -> list[tuple[str, str]]:
    """The key bar's hints, most needed first: help, quit, logs, palette, then PANEL's keys."""
    labels = {k.key: k.label for k in ACTIONS + VIEWS} | {"ctrl+p": "palette"}
    wanted = list(BAR_FIRST)
    if not observer:
        wanted += [*BAR_PANEL.get(panel or "", ""), *BAR_SITE]
    return [(shown(k), labels[k]) for k in wanted if k in labels]


# Every site action runs through the app's one `act` action, with its key.
MUTATIONS = frozenset({"act"})
