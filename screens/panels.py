"""The main screen's widgets: banner, the three tables and the event timeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.widgets import DataTable, Log, Static

from console.events import Event
from console.inventory import Inventory
from console.probes.patroni import summary as patroni_summary
from console.state import model
from console.text import one_line
from screens import rows


class KeyBar(Static):
    """The key hints at the bottom: a fixed line, drawn once.

    Textual's Footer rebuilds its keys on every screen switch and, in 8.2.8,
    keeps the old ones alive (Textualize/textual#6666); the garbage they leave
    made key presses pause for hundreds of milliseconds.
    """

    def __init__(self, hints: Sequence[tuple[str, str]], id: str | None = None) -> None:
        text = Text()
        for key, label in hints:
            text.append(f" {key} ", "bold reverse")
            text.append(f" {label} ")
        super().__init__(text, id=id, classes="keybar")


class Banner(Static):
    """Cluster, environment, site mode, alarms and the OBSERVER badge."""

    _shown: Text | None = None

    def show(self, state: model.ClusterState | None, observer: bool) -> None:
        text = rows.banner(state, observer)
        # An update re-lays out the screen: skip it when nothing changed.
        if self._shown is None or text != self._shown:
            self._shown = text
            self.update(text)


class Panel(DataTable[Text]):
    """A table of one kind of thing, rows keyed by name, cells updated in place."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, columns: Sequence[str], title: str, id: str) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.border_title = title
        self._columns = tuple(columns)
        self._shown: dict[str, tuple[str, ...]] = {}
        self.filter = ""

    def on_mount(self) -> None:
        for name in self._columns:
            self.add_column(name, key=name)

    def show(self, named_rows: Sequence[tuple[str, rows.Cells]]) -> None:
        """Show NAMED_ROWS; only cells whose text or style changed are redrawn."""
        wanted = [(n, c) for n, c in named_rows if self.filter.lower() in n.lower()]
        if [n for n, _ in wanted] != list(self._shown):
            self.clear()
            self._shown = {}
            for name, cells in wanted:
                self.add_row(*cells, key=name)
                self._shown[name] = _signature(cells)
            return
        for name, cells in wanted:
            signature = _signature(cells)
            if signature == self._shown[name]:
                continue
            for column, value in zip(self._columns, cells, strict=True):
                self.update_cell(name, column, value)
            self._shown[name] = signature

    def subtitle(self, text: str) -> None:
        """Set the border subtitle; Textual repaints the whole table even for the same text."""
        if self.border_subtitle != text:
            self.border_subtitle = text

    @property
    def selected(self) -> str | None:
        """The name of the row under the cursor."""
        if not self._shown or self.cursor_row >= len(self._shown):
            return None
        return list(self._shown)[self.cursor_row]


def _signature(cells: rows.Cells) -> tuple[str, ...]:
    return tuple(f"{c.plain}\x00{c.style}\x00{c.spans}" for c in cells)


class BalancerPanel(Panel):
    def __init__(self) -> None:
        super().__init__(rows.SERVER_COLUMNS, "balancer", id="balancer")

    def update_from(self, state: model.ClusterState, inv: Inventory) -> None:
        lb = state.balancer
        if lb is None:
            self.subtitle("no data yet")
            box = state.freshness(inv.balancer.box) if inv.balancer else None
            width = len(rows.SERVER_COLUMNS)
            self.show([(n.server, rows.unknown_row(n.server, width, box)) for n in inv.web_nodes])
            return
        fresh = rows.balancer_freshness(state)
        v = state.verdicts
        if fresh is not None and fresh.stale:
            self.subtitle(f"{lb.box}: STALE, last seen {v.backends_up}/{v.backends_total} up")
        else:
            self.subtitle(
                f"{lb.box}: {v.backends_up}/{v.backends_total} up, {lb.frontend_request_rate} req/s"
            )
        self.show([(s.name, rows.server_row(s, fresh)) for s in lb.servers])


class NodesPanel(Panel):
    def __init__(self) -> None:
        super().__init__(rows.NODE_COLUMNS, "web nodes", id="nodes")

    def update_from(self, state: model.ClusterState, inv: Inventory) -> None:
        self.subtitle("scheduler: " + (", ".join(state.verdicts.schedulers) or "NONE"))
        known = {n.name: n for n in state.nodes}
        width = len(rows.NODE_COLUMNS)
        self.show(
            [
                (
                    n.name,
                    rows.node_row(known[n.name], state.freshness(n.box))
                    if n.name in known
                    else rows.unknown_row(n.name, width, state.freshness(n.box)),
                )
                for n in inv.web_nodes
            ]
        )


class ReplicasPanel(Panel):
    def __init__(self) -> None:
        super().__init__(rows.DB_COLUMNS, "databases", id="replicas")

    def update_from(self, state: model.ClusterState, inv: Inventory) -> None:
        primaries = state.verdicts.primaries
        self.subtitle("primary: " + (", ".join(primaries) or "NONE"))
        # Patroni's own view goes on the top border: one line, names escaped (they are untrusted).
        title = "databases"
        if state.patroni is not None:
            title += " │ " + escape(patroni_summary(state.patroni, 76 - len(title) - 3))
        if self.border_title != title:
            self.border_title = title
        known = {d.name: d for d in state.databases}
        width = len(rows.DB_COLUMNS)
        self.show(
            [
                (
                    d.name,
                    rows.db_row(known[d.name], state)
                    if d.name in known
                    else rows.unknown_row(d.name, width, state.freshness(d.box)),
                )
                for d in inv.databases
            ]
        )


class Timeline(Log):
    """State changes seen and actions taken, newest last, with their time."""

    def __init__(self, stamp: Callable[[float], str]) -> None:
        super().__init__(id="timeline", max_lines=500, auto_scroll=True)
        self.border_title = "events"
        self._stamp = stamp

    def add(self, events: Sequence[Event]) -> None:
        """Append EVENTS in one batch (one write, one repaint)."""
        if events:
            self.write_lines(
                f"{self._stamp(e.at)} {one_line(e.subject, 20)}: {one_line(e.text, 200)}"
                for e in events
            )
