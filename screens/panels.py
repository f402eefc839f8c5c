"""The main screen's widgets: banner, the three tables and the event timeline."""

from __future__ import annotations

import textwrap
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Self

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.markup import escape
from textual.strip import Strip
from textual.widgets import DataTable, Log, Static

from console.events import Event
from console.inventory import Inventory
from console.probes.patroni import summary as patroni_summary
from console.state import model
from console.text import one_line
from console.trends import Series, Trends, sparkline
from screens import rows
from screens.trends import FLOORS, traffic, trend_points


class KeyBar(Static):
    """The key hints at the bottom, most needed first, as many whole hints as the width holds.

    Textual's Footer rebuilds its keys on every screen switch and, in 8.2.8,
    keeps the old ones alive (Textualize/textual#6666); the garbage they leave
    made key presses pause for hundreds of milliseconds.
    """

    def __init__(self, hints: Sequence[tuple[str, str]], id: str | None = None) -> None:
        super().__init__(id=id, classes="keybar")
        self.hints = tuple(hints)

    def show(self, hints: Sequence[tuple[str, str]]) -> None:
        """Show HINTS instead (a new focus); redraws only when they change."""
        if tuple(hints) != self.hints:
            self.hints = tuple(hints)
            self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        for key, label in self.hints:
            if text.cell_len + len(key) + len(label) + 4 > self.size.width:
                break  # a cut hint reads as a different key: leave it out whole
            text.append(f" {key} ", "bold reverse")
            text.append(f" {label} ")
        return text


class Banner(Static):
    """Cluster, environment, site mode, alarms and the OBSERVER badge."""

    _shown: Text | None = None
    _said: tuple[model.ClusterState | None, bool] = (None, False)

    def show(self, state: model.ClusterState | None, observer: bool) -> None:
        self._said = (state, observer)
        # The worst alarm is shortened to the width (less the padding), never cut.
        text = rows.banner(state, observer, self.size.width - 2)
        # An update re-lays out the screen: skip it when nothing changed.
        if self._shown is None or text != self._shown:
            self._shown = text
            self.update(text)

    def on_resize(self) -> None:
        self.show(*self._said)


class Panel(DataTable[Text]):
    """A table of one kind of thing, rows keyed by name, cells updated in place."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]
    # Set while update_cell runs: its whole-table repaint is dropped (see refresh).
    _cells_only = False
    _said: tuple[model.ClusterState, Inventory, Trends | None] | None = None

    def __init__(
        self, columns: Sequence[str], title: str, id: str, trend: str | None = None
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.border_title = title
        self._heading = title
        self._base = tuple(columns)
        self._columns = self._base
        self._trend = trend  # the trend column's heading, if the panel has one
        self.points = 0  # points of trend each row shows; 0: no trend column
        self._shown: dict[str, tuple[str, ...]] = {}
        self._total = 0  # rows before the filter, at the last show()
        self.filter = ""

    def on_mount(self) -> None:
        for name in self._columns:
            self.add_column(name, key=name)

    def update_from(
        self, state: model.ClusterState, inv: Inventory, trends: Trends | None = None
    ) -> None:
        """Show this panel's part of STATE, with TRENDS where the width has room for them."""
        self._said = (state, inv, trends)
        self._update(state, inv, trends)

    def _update(self, state: model.ClusterState, inv: Inventory, trends: Trends | None) -> None:
        """Each panel shows its part of STATE here."""

    def on_resize(self) -> None:
        # The trends follow the width at once (the first snapshots may come before the layout).
        if self._said is not None:
            self._update(*self._said)

    def fit_trend(self, shown: bool = True) -> None:
        """Add or drop the trend column for the panel's width; a change rebuilds the table."""
        points = trend_points(self.size.width) if shown and self._trend else 0
        if points == self.points:
            return
        self.points = points
        self._columns = self._base + ((self._trend,) if points and self._trend else ())
        self.clear(columns=True)
        self._shown = {}
        for name in self._columns:
            self.add_column(name, key=name)

    def trend_cell(self, series: Series, floor: float) -> rows.Cells:
        """The cell a row ends with while the trend column shows: SERIES, a block per doubling.

        A fixed scale for every row: the eye compares rows, and jitter within
        a doubling stays flat (a line that changes is redrawn at each point).
        """
        if not self.points:
            return ()
        return (Text(sparkline(series, self.points, floor, doubling=True)),)

    def show(self, named_rows: Sequence[tuple[str, rows.Cells]]) -> None:
        """Show NAMED_ROWS; only cells whose text or style changed are redrawn."""
        wanted = [(n, c) for n, c in named_rows if self.filter.lower() in n.lower()]
        self._total = len(named_rows)
        if [n for n, _ in wanted] != list(self._shown):
            self.clear()
            self._shown = {}
            for name, cells in wanted:
                self.add_row(*cells, key=name)
                self._shown[name] = _signature(cells)
            self._title()
            return
        for row, (name, cells) in enumerate(wanted):
            signature = _signature(cells)
            shown = self._shown[name]
            if signature == shown:
                continue
            for column, value in enumerate(cells):
                if signature[column] != shown[column]:
                    self._update_in_place(name, row, column, value)
            self._shown[name] = signature

    def _update_in_place(self, name: str, row: int, column: int, value: Text) -> None:
        # DataTable.update_cell repaints the whole table (Textual 8.2.8): one
        # new LSN rewrote every row to the terminal. Repaint that cell only.
        self._cells_only = True
        try:
            self.update_cell(name, self._columns[column], value)
        finally:
            self._cells_only = False
        self.refresh_coordinate(Coordinate(row, column))

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        """Refresh as Textual does, except update_cell's whole-table repaint."""
        if self._cells_only and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def render_line(self, y: int) -> Strip:
        """A table line with neighbouring segments of one look joined into one.

        Textual writes a colour sequence for every segment, and rewrites a
        changed line from the table's left edge up to the change. DataTable
        tags each cell with its column (for clicks), so no two cells join;
        with a row cursor only the row matters, so a row's cells are all
        tagged column 0 and a rewritten line costs about a third fewer bytes.
        """
        strip = super().render_line(y)
        if self.cursor_type != "row":
            return strip
        return Strip(Segment.simplify(map(_row_only, strip)), strip.cell_length)

    def subtitle(self, text: str) -> None:
        """Set the border subtitle, repainting the bottom border alone.

        Textual repaints the whole table for a new subtitle (even the same
        text): a rate or a trend there rewrote every row at every snapshot.
        """
        if self.border_subtitle != text:
            self._cells_only = True
            try:
                self.border_subtitle = text
            finally:
                self._cells_only = False
            # The bottom border, in content coordinates: the line under the last one.
            self.refresh(Region(-1, self.size.height, self.outer_size.width, 1))

    def set_filter(self, text: str) -> None:
        """Show only rows whose name holds TEXT; the title says so while it is set."""
        self.filter = text
        self._title()

    def _title(self) -> None:
        """The panel's name, and the filter while one is set (and when it hides every row)."""
        said = self._heading
        if self.filter:
            said += f"  filter: {self.filter}"
            if self._total and not self._shown:
                said += f" (none of {self._total} match; escape clears)"
        if self.border_title != said:
            self.border_title = said

    @property
    def selected(self) -> str | None:
        """The name of the row under the cursor."""
        if not self._shown or self.cursor_row >= len(self._shown):
            return None
        return list(self._shown)[self.cursor_row]


_ROW_ONLY = Style.from_meta({"column": 0, "out_of_bounds": False})


def _row_only(segment: Segment) -> Segment:
    """SEGMENT tagged with its row alone (column 0), if it is a body cell's."""
    style = segment.style
    if style is None or style.meta.get("row", -1) < 0 or "column" not in style.meta:
        return segment
    return Segment(segment.text, style + _ROW_ONLY, segment.control)


def _signature(cells: rows.Cells) -> tuple[str, ...]:
    return tuple(f"{c.plain}\x00{c.style}\x00{c.spans}" for c in cells)


class BalancerPanel(Panel):
    def __init__(self) -> None:
        super().__init__(rows.SERVER_COLUMNS, "balancer", id="balancer")

    def _update(self, state: model.ClusterState, inv: Inventory, trends: Trends | None) -> None:
        lb = state.balancer
        if lb is None:
            self.subtitle("no data yet")
            box = state.freshness(inv.balancer.box) if inv.balancer else None
            width = len(rows.SERVER_COLUMNS)
            self.show([(n.server, rows.unknown_row(n.server, width, box)) for n in inv.web_nodes])
            return
        fresh = rows.balancer_freshness(state)
        v = state.verdicts
        side = rows.sides(inv.balancer.backends if inv.balancer else (), lb.live_backend)
        letter = side.get(lb.live_backend, "?").rstrip("*")
        live = f"live: {lb.live_backend} ({letter}), " if side else ""
        if fresh is not None and fresh.stale:
            self.subtitle(f"{lb.box}: STALE, last seen {live}{v.backends_up}/{v.backends_total} up")
        else:
            said = f"{lb.box}: {live}{v.backends_up}/{v.backends_total} up, "
            # The bottom border's room after SAID, inside its corners.
            room = self.size.width - 3 - len(said)
            rate = traffic(lb.frontend_request_rate, trends, room, self.size.width)
            self.subtitle(said + rate)
        self.show(
            [
                (s.name, rows.server_row(s, fresh, side.get(lb.in_backend(s), "")))
                for s in lb.servers
            ]
        )


class NodesPanel(Panel):
    def __init__(self) -> None:
        super().__init__(rows.NODE_COLUMNS, "web nodes", id="nodes", trend="health trend")

    def _update(self, state: model.ClusterState, inv: Inventory, trends: Trends | None) -> None:
        self.subtitle("scheduler: " + (", ".join(state.verdicts.schedulers) or "NONE"))
        self.fit_trend(trends is not None)
        known = {n.name: n for n in state.nodes}
        width = len(rows.NODE_COLUMNS)
        self.show(
            [
                (
                    n.name,
                    (
                        rows.node_row(known[n.name], state.freshness(n.box))
                        if n.name in known
                        else rows.unknown_row(n.name, width, state.freshness(n.box))
                    )
                    + self.trend_cell(trends.latency(n.name) if trends else (), FLOORS["latency"]),
                )
                for n in inv.web_nodes
            ]
        )


class ReplicasPanel(Panel):
    def __init__(self) -> None:
        super().__init__(rows.DB_COLUMNS, "databases", id="replicas", trend="lag trend")

    def _update(self, state: model.ClusterState, inv: Inventory, trends: Trends | None) -> None:
        self.subtitle(rows.primaries(state))
        self.fit_trend(trends is not None)
        # Patroni's own view goes on the top border: one line, names escaped (they are untrusted).
        title = "databases"
        if state.patroni is not None:
            title += " │ " + escape(patroni_summary(state.patroni, 76 - len(title) - 3))
        self._heading = title
        self._title()
        known = {d.name: d for d in state.databases}
        width = len(rows.DB_COLUMNS)
        self.show(
            [
                (
                    d.name,
                    (
                        rows.db_row(known[d.name], state)
                        if d.name in known
                        else rows.unknown_row(d.name, width, state.freshness(d.box))
                    )
                    + self.trend_cell(trends.lag(d.name) if trends else (), FLOORS["lag"]),
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
        self._said: deque[str] = deque(maxlen=500)
        self._wrapped_at = 0

    def add(self, events: Sequence[Event]) -> None:
        """Append EVENTS in one batch (one write, one repaint), wrapped to the width."""
        if events:
            said = [
                f"{self._stamp(e.at)} {one_line(e.subject, 20)}: {one_line(e.text, 200)}"
                for e in events
            ]
            self._said.extend(said)
            self.write_lines(self._wrap(said))

    def reset(self, events: Sequence[Event]) -> None:
        """Show EVENTS instead of every line shown (a replay's cursor went back)."""
        self._said.clear()
        self.clear()
        self.add(events)

    def on_resize(self) -> None:
        # Lines were wrapped for the old width: wrap them again, never cut.
        if self.scrollable_content_region.width != self._wrapped_at and self._said:
            self.clear()
            self.write_lines(self._wrap(self._said))

    def _wrap(self, said: Iterable[str]) -> list[str]:
        width = self.scrollable_content_region.width
        self._wrapped_at = width
        if width < 20:  # not laid out yet: on_resize wraps them once it is
            return list(said)
        indent = " " * 9  # under the time stamp
        return [
            part
            for line in said
            for part in textwrap.wrap(line, width, subsequent_indent=indent) or [""]
        ]
