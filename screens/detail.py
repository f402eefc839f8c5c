"""A box's detail screen: everything the probes know of it, and its recent events.

Every record is shown field by field, in the console's words: clock times
with their age, yes/no, sizes and durations, nested records indented. Every
string from a box is cleaned and handed to Rich as Text, never as markup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from console.events import Event
from console.inventory import Inventory
from console.state.balancer import Server
from console.state.model import ClusterState
from console.text import one_line
from console.units import clock_time, duration, size
from screens.panels import KeyBar
from screens.rows import BAD, QUIET, WARN, data_age

LABEL_WIDTH = 26
"""Values start in this column, whatever the nesting."""

NONE = "—"

# Fields read by name: the model names its units (_s, _ms, _kb, _bytes).
_EPOCH = frozenset(
    {"observed_at", "last_ok", "last_archived_time", "last_failed_time", "last_replayed_commit"}
)
_SECONDS = frozenset({"age", "age_s", "replay_lag_s", "last_change_s", "state_s"})
_MS = frozenset({"rtt_ms", "health_latency_ms", "check_duration_ms"})
_BYTES = frozenset({"size", "lag_bytes", "retained_bytes", "lag"})
_KB = frozenset({"mem_total_kb", "mem_available_kb"})
_PCT = frozenset({"disk_used_pct"})
# None in these means "nothing wrong", not "not known".
_PROBLEMS = frozenset({"reason", "problem", "role_problem", "health_problem", "message"})
# A word that fits the field, for True and for False; yes/no otherwise.
_WORDS: dict[str, tuple[str, str]] = {
    "stale": ("STALE", "no"),
    "scheduler": ("★ yes", "no"),
    "active": ("active", "inactive"),
    "replay_paused": ("PAUSED", "no"),
    "paused": ("PAUSED", "no"),
    "site_alive": ("yes", "NO: site down"),
}
# An empty string in these means something; elsewhere it is shown as unknown.
_EMPTY: dict[str, str] = {"database": "the DSN's hosts (no pin)"}
# A nested record is headed by its own name, not listed as a field.
_TITLES = ("name", "path", "application_name")


class BoxSource(Protocol):
    """What the screen reads: the latest snapshot, the events seen, the time.

    HotspareApp is one; tests may hand any object with these attributes.
    """

    @property
    def inv(self) -> Inventory: ...

    @property
    def state(self) -> ClusterState | None: ...

    @property
    def events(self) -> Sequence[Event]: ...

    @property
    def clock(self) -> Callable[[], float]: ...


def box_of(inv: Inventory, panel: str, row: str) -> str | None:
    """The box behind ROW of PANEL (a server, a web node or a database name)."""
    if panel == "balancer":
        node = next((n for n in inv.web_nodes if n.server == row), None)
        return node.box if node else None
    if panel == "nodes":
        return inv.web_node(row).box
    if panel == "replicas":
        return inv.database(row).box
    return None


def _number(name: str, value: float, now: float) -> str:
    if name in _EPOCH:
        return clock_time(value, now)
    if name in _SECONDS:
        return duration(value)
    if name in _MS:
        return f"{value:.1f}ms" if value < 10 else f"{value:.0f}ms"
    if name in _BYTES:
        return size(int(value))
    if name in _KB:
        return size(int(value) * 1024)
    if name in _PCT:
        return f"{value:.0f}%"
    return str(value) if isinstance(value, int) else f"{value:g}"


def _tuple(name: str, value: tuple[object, ...]) -> str:
    if not value:
        return "none"
    if name == "load":
        return " ".join(f"{v:.2f}" for v in value) + "  (1, 5, 15 min)"
    return ", ".join(one_line(str(v), 60) for v in value)


def fact(name: str, value: object, now: float) -> Text:
    """VALUE of the field NAME in words, cleaned, as Text (never markup)."""
    if value is None:
        return Text("none" if name in _PROBLEMS else NONE, QUIET)
    if isinstance(value, bool):
        yes, no = _WORDS.get(name, ("yes", "no"))
        word = yes if value else no
        return Text(word, "bold reverse red" if word in ("STALE", "PAUSED") else "")
    if isinstance(value, int | float):
        return Text(_number(name, value, now))
    if isinstance(value, tuple):
        return Text(_tuple(name, value))
    shown = one_line(str(value), 300)
    if not shown:
        return Text(_EMPTY[name]) if name in _EMPTY else Text(NONE, QUIET)
    return Text(shown, WARN if name in _PROBLEMS else "")


def _label(name: str, depth: int, value: Text | None = None) -> Text:
    """A field's name at DEPTH, then VALUE in the value column (alone when None)."""
    label = f"{'  ' * depth}{name}"
    if value is None:
        return Text(label + "\n", QUIET)
    return Text(label.ljust(LABEL_WIDTH - 1) + " ", QUIET).append_text(value).append("\n")


def _is_record(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def facts(part: object, now: float, depth: int = 1, skip: tuple[str, ...] = ()) -> Text:
    """PART's fields one a line at DEPTH, nested records indented under their field."""
    text = Text()
    assert dataclasses.is_dataclass(part)
    for field in dataclasses.fields(part):
        value = getattr(part, field.name)
        if field.name in skip:
            continue
        if _is_record(value):
            text.append_text(_label(field.name, depth))
            text.append_text(facts(value, now, depth + 1))
        elif isinstance(value, tuple) and value and all(_is_record(v) for v in value):
            text.append_text(_label(field.name, depth))
            for item in value:
                text.append_text(_record(item, now, depth + 1))
        else:
            text.append_text(_label(field.name, depth, fact(field.name, value, now)))
    return text


def _record(item: object, now: float, depth: int) -> Text:
    """One record of a list: headed by its name or path, its other fields below."""
    assert dataclasses.is_dataclass(item)
    title = next((f.name for f in dataclasses.fields(item) if f.name in _TITLES), None)
    if title is None:
        return facts(item, now, depth)
    text = Text("  " * depth).append(one_line(str(getattr(item, title)), 200), "bold")
    return text.append("\n").append_text(facts(item, now, depth + 1, skip=(title,)))


def _heading(words: str) -> Text:
    return Text(one_line(words, 100), "bold underline").append("\n")


def _server_of(state: ClusterState, inv: Inventory, node: str) -> Server | None:
    """The balancer's server for web node NODE, if both are known."""
    known = next((n for n in inv.web_nodes if n.name == node), None)
    if state.balancer is None or known is None:
        return None
    return next((s for s in state.balancer.servers if s.name == known.server), None)


def sections(state: ClusterState, inv: Inventory, box: str) -> Iterator[tuple[str, object]]:
    """The records of STATE that describe BOX, with a heading for each."""
    fresh = state.freshness(box)
    if fresh is not None:
        yield "freshness", fresh
    lb = state.balancer
    if lb is not None and lb.box == box:
        yield "balancer", lb
    for node in state.nodes:
        if node.box != box:
            continue
        yield f"web node {node.name}", node
        server = _server_of(state, inv, node.name)
        if server is not None and lb is not None and lb.box != box:
            yield f"balancer server {server.name} (as {lb.box} sees it)", server
    for db in state.databases:
        if db.box != box:
            continue
        yield f"database {db.name}", db
        member = state.patroni.member(db.name) if state.patroni else None
        if member is not None:
            yield f"patroni member {member.name}", member


def names_on(state: ClusterState, box: str) -> set[str]:
    """BOX and the nodes and databases on it: the subjects of its events."""
    return (
        {box}
        | {n.name for n in state.nodes if n.box == box}
        | {d.name for d in state.databases if d.box == box}
    )


def recent_events(events: Sequence[Event], names: set[str], now: float) -> Text:
    """The last twenty EVENTS about NAMES, with their time."""
    text = _heading("recent events")
    # Subjects are one name or several joined by ", " (an alarm's subjects).
    mine = [e for e in events if names & set(e.subject.split(", "))][-20:]
    if not mine:
        return text.append("  none seen yet\n", QUIET)
    styles = {"critical": BAD, "warning": WARN}
    for event in mine:
        text.append(f"  {clock_time(event.at, now)}  ", QUIET)
        text.append(one_line(event.subject, 40), "bold").append(": ")
        text.append(one_line(event.text, 200), styles.get(event.level, "")).append("\n")
    return text


def describe(source: BoxSource, box: str) -> Text:
    """The whole detail text for BOX, from SOURCE's latest snapshot."""
    now, state = source.clock(), source.state
    text = Text("box ", "bold").append(one_line(box, 60), "bold")
    if state is None:
        return text.append("\n\nno data yet\n")
    text.append("   snapshot ").append(clock_time(state.taken_at, now))
    text.append("   data ").append_text(data_age(state.freshness(box))).append("\n")
    for title, part in sections(state, source.inv, box):
        # The heading names the record and the screen its box.
        skip = ("name", "box")
        text.append("\n").append_text(_heading(title)).append_text(facts(part, now, skip=skip))
    text.append("\n").append_text(recent_events(source.events, names_on(state, box), now))
    return text.append("\nlogs: press l for every node's logs, live\n", QUIET)


class BoxScreen(Screen[None]):
    """Everything known about one box, as of the last snapshot."""

    AUTO_FOCUS = "VerticalScroll"  # the arrows and pgup/pgdn scroll it without a tab first
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("l", "app.logs", "Logs"),
    ]

    def __init__(self, box: str, source: BoxSource) -> None:
        super().__init__()
        self.box = box
        self._source = source

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(describe(self._source, self.box), id="facts")
        yield KeyBar([("esc", "back"), ("l", "logs")])
