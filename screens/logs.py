"""The logs screen: every chosen node's logs side by side, or merged in time order.

The core's LogSession follows the files over the boxes' existing links; this
screen takes what arrived every FLUSH_EVERY seconds and adds it to the views
in one batch each, so a chatty node costs one repaint per tick, not one per
line. Both the columns and the merged view are kept current, so switching
between them is instant and keeps the cursor's time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import HorizontalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Input, Static

from console.inventory import WebNode
from console.logs import seek
from console.logs.lines import Kind, LogLine, Source, notice
from console.logs.session import LogSession, sources
from console.logs.since import SinceError, parse_since
from console.ssh import BoxLink
from screens import keys
from screens import logcolumns as columns
from screens.logview import LogView
from screens.panels import KeyBar

FLUSH_EVERY = 0.1
COLUMN_LINES = 10_000
MERGED_LINES = 30_000
RING_LINES = 2_000  # per file: at most this many lines per tick reach the screen
BACKLOG = 200
MIN_COLUMN = 38
KINDS: tuple[tuple[Kind, ...], ...] = (("access",), ("error",), ("access", "error"))
PROMPTS = {
    "filter": "filter: show lines matching a regex (!RE hides them instead)",
    "search": "search: regex; n and N find the next and previous line",
    "highlight": "highlight: regex to mark in every line",
    "time": "go to time: 14:05, 14:05:30, 10m (ago), 2026-11-25 14:05",
}
BAR_KEYS = ("m", "a", "f", "slash", "t", "c", "W", "space", "escape")
HINTS = [(keys.shown(k.key), k.label) for k in keys.LOGS if k.key in BAR_KEYS]
HINTS.insert(-1, ("tab", "column"))


class LogsScreen(Screen[None]):
    """Logs of the chosen web nodes: one column each, or one merged stream."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                "escape,q" if k.key == "escape" else "G,end" if k.key == "G" else k.key,
                k.action,
                k.label,
                show=False,
            )
            for k in keys.LOGS
        ),
    ]

    def __init__(
        self,
        links: Mapping[str, BoxLink],
        nodes: Sequence[WebNode],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.nodes = list(nodes)
        self.clock = clock
        self.session = LogSession(
            links,
            sources(self.nodes),
            follow=True,
            backlog=BACKLOG,
            ring_lines=RING_LINES,
            clock=clock,
        )
        self.kinds: tuple[Kind, ...] = KINDS[0]
        self.pattern: re.Pattern[str] | None = None
        self.invert = False
        self.search: re.Pattern[str] | None = None
        self.highlight: re.Pattern[str] | None = None
        self.merged = False
        self.brief = True
        self.wrap = False
        self.prompting: str | None = None
        self._applied: dict[LogView, tuple[object, ...]] = {}
        self._on_screen: set[LogView] = set()
        self._roles: dict[str, Source] = {}
        self._notes = 0

    # Layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="logs-status")
        with HorizontalScroll(id="columns"):
            for node in self.nodes:
                # In time order: access and error lines together interleave by time.
                yield LogView(COLUMN_LINES, ordered=True, id=f"column-{node.name}")
        yield LogView(MERGED_LINES, [n.name for n in self.nodes], ordered=True, id="merged")
        yield Input(id="logs-input", disabled=True)
        yield KeyBar(HINTS)

    def on_mount(self) -> None:
        for node in self.nodes:
            self._column(node.name).border_title = node.name
        self.query_one("#merged", LogView).border_title = "merged"
        for view in [*self._columns(), self.query_one("#merged", LogView)]:
            view.set_brief(self.brief)
        self._apply_view()
        self._fit(self.size.width)
        self.views()[0].focus()
        self.session.start()
        self.set_interval(FLUSH_EVERY, self.flush)

    async def on_unmount(self) -> None:
        await self.session.stop()

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """2 to 4 columns across the screen; more are reached by scrolling (tab)."""
        shown = [v for v in self._columns() if v.display]
        if not shown:
            return
        across = max(1, min(len(shown), 4, max(2, width // MIN_COLUMN)))
        for view in shown:
            view.styles.width = max(MIN_COLUMN if across > 1 else width, width // across)

    def _column(self, node: str) -> LogView:
        return self.query_one(f"#column-{node}", LogView)

    def _columns(self) -> list[LogView]:
        return [self._column(node.name) for node in self.nodes]

    def views(self) -> list[LogView]:
        """The views the operator sees now."""
        if self.merged:
            return [self.query_one("#merged", LogView)]
        return [v for v in self._columns() if v.display]

    # Lines arriving ------------------------------------------------------------

    def flush(self) -> None:
        """Move what the session took in since the last tick into the views."""
        batch = self.session.take()
        now = self.clock()
        notes: list[LogLine] = []
        for source, count in batch.dropped.items():
            notes.append(
                self._note(
                    source, f"⋯ {count:,} lines dropped: more than the console can show ⋯", now
                )
            )
        for source, text in batch.notices:
            notes.append(self._note(source, f"⋯ {source.label}: {text} ⋯", now))
        merged = list(notes)
        for source, lines in batch.lines.items():
            self._column(source.node).add(lines)
            merged.extend(lines)
            if source.kind == "access":
                self._roles[source.node] = source
        for line in notes:
            self._column(line.source.node).add([line])
        self.query_one("#merged", LogView).add(merged)
        self._titles()

    def _note(self, source: Source, text: str, now: float) -> LogLine:
        self._notes -= 1  # notices get their own (negative) sequence numbers
        return notice(source, self._notes, text, now)

    def _titles(self) -> None:
        for node in self.nodes:
            view = self._column(node.name)
            title = columns.title(node, self._roles.get(node.name), self.session, self.kinds)
            if view.border_title != title:
                view.border_title = title
            state = columns.state(node, self.session, self.kinds, view.following)
            if view.border_subtitle != state:
                view.border_subtitle = state

    # Views and filters ---------------------------------------------------------

    def _apply_view(self) -> None:
        """Show the chosen views with the current filter and marks.

        Only the views on screen are filtered now (tens of thousands of lines
        each); a hidden one is when it is shown again, if the filter changed.
        """
        self.query_one("#columns").display = not self.merged
        self.query_one("#merged", LogView).display = self.merged
        wanted = (self.kinds, self.pattern, self.invert, self.search or self.highlight)
        keep = seek.keeper(self.kinds, self.pattern, self.invert)
        for view in self.views():
            if self._applied.get(view) != wanted:
                view.set_filter(keep)
                view.set_marks(self.search or self.highlight)
                self._applied[view] = wanted
            if view not in self._on_screen:
                # A view that was hidden has no size yet: it fits its window once shown.
                self.call_after_refresh(view.catch_up)
        self._on_screen = set(self.views())
        self._status()
        self._titles()

    def _status(self) -> None:
        parts = [
            "merged" if self.merged else "side by side",
            " + ".join(self.kinds),
            "brief" if self.brief else "full lines",
        ]
        if self.wrap:
            parts.append("wrapped")
        if self.pattern is not None:
            parts.append(f"{'hiding' if self.invert else 'filter'} /{self.pattern.pattern}/")
        if self.search is not None:
            parts.append(f"search /{self.search.pattern}/")
        elif self.highlight is not None:
            parts.append(f"highlight /{self.highlight.pattern}/")
        following = all(view.following for view in self.views())
        parts.append("FOLLOWING" if following else "PAUSED (space or G to follow)")
        self.query_one("#logs-status", Static).update(" · ".join(parts))

    def action_toggle_merge(self) -> None:
        at = self._cursor_time()
        self.merged = not self.merged
        self._apply_view()
        if at is not None:
            for view in self.views():
                view.cursor_to_time(at)
        if self.views():
            self.views()[0].focus()

    def action_cycle_kinds(self) -> None:
        self.kinds = KINDS[(KINDS.index(self.kinds) + 1) % len(KINDS)]
        self._apply_view()

    def action_toggle_brief(self) -> None:
        self.brief = not self.brief
        for view in [*self._columns(), self.query_one("#merged", LogView)]:
            view.set_brief(self.brief)
        self._status()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        for view in [*self._columns(), self.query_one("#merged", LogView)]:
            view.set_wrap(self.wrap)
        self._status()

    def action_invert(self) -> None:
        self.invert = not self.invert
        self._apply_view()

    def action_hide_column(self) -> None:
        view = self.focused
        if self.merged or not isinstance(view, LogView):
            return
        if sum(1 for v in self._columns() if v.display) <= 1:
            self.notify("The last column stays.", severity="warning")
            return
        view.display = False
        self.focus_next()
        self._fit(self.size.width)

    def action_show_columns(self) -> None:
        for view in self._columns():
            view.display = True
        self._fit(self.size.width)
        self._apply_view()

    # Following, cursor and time -------------------------------------------------

    def _cursor_time(self) -> float | None:
        for view in self.views():
            line = view.cursor_line
            if line is not None:
                return line.when
        return None

    def action_toggle_follow(self) -> None:
        if all(view.following for view in self.views()):
            for view in self.views():
                view.pause()
        else:
            self.action_follow()
        self._status()

    def action_follow(self) -> None:
        for view in self.views():
            view.follow()
        self._status()

    def on_log_view_cursor_moved(self, event: LogView.CursorMoved) -> None:
        for view in self.views():
            if view is not event.view:
                view.cursor_to_time(event.when, event.row)
        self._status()

    def action_find(self, forward: bool) -> None:
        if self.search is None:
            self.notify("Search first with /", severity="warning")
            return
        view = self.focused if isinstance(self.focused, LogView) else self.views()[0]
        found = view.find(self.search, forward)
        if found is False:
            self.notify(f"/{self.search.pattern}/ is not in this view")
        elif found is None:
            self.notify(f"/{self.search.pattern}/: search wrapped around")
        self._status()

    # The prompt ---------------------------------------------------------------

    def action_prompt(self, what: str) -> None:
        field = self.query_one("#logs-input", Input)
        self.prompting = what
        field.placeholder = PROMPTS[what]
        field.value = ""
        field.disabled = False
        field.add_class("-shown")
        field.focus()

    def action_close(self) -> None:
        field = self.query_one("#logs-input", Input)
        if field.has_class("-shown"):
            self._close_prompt()
            return
        self.dismiss()

    def _close_prompt(self) -> None:
        field = self.query_one("#logs-input", Input)
        field.remove_class("-shown")
        field.disabled = True
        self.prompting = None
        if self.views():
            self.views()[0].focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()  # typed text is the prompt's own: not the panels' filter

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        what, value = self.prompting, event.value.strip()
        self._close_prompt()
        if what == "time":
            self._go_to_time(value)
            return
        try:
            self._set_pattern(what, value)
        except re.error as exc:
            self.notify(f"Not a valid regex: {exc}", severity="error")
        self._apply_view()
        if what == "search":
            self.action_find(True)

    def _set_pattern(self, what: str | None, value: str) -> None:
        if what == "filter":
            self.invert = value.startswith("!")
            value = value.removeprefix("!")
            self.pattern = re.compile(value) if value else None
        elif what == "search":
            self.search = re.compile(value) if value else None
        elif what == "highlight":
            self.highlight = re.compile(value) if value else None

    def _go_to_time(self, value: str) -> None:
        try:
            when = parse_since(value, self.clock())
        except SinceError as exc:
            self.notify(str(exc).replace("--since ", ""), severity="error")
            return
        for view in self.views():
            view.cursor_to_time(when)
        self._status()
