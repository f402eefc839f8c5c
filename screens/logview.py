"""LogView: a scrolling view of log lines, drawn one screen line at a time.

Only the lines on screen are rendered (Textual's line API), so ten thousand
lines cost no more to show than twenty. Lines arrive in batches; the view
keeps at most `max_lines`, a filter decides which are shown, and a cursor
marks the line the operator is on once they stop following. Every line is
drawn from a rich Text built without markup: a "[/]" in a log is just text.

While following, the view is a fixed window on its newest lines: a batch
only repaints it. Changing its virtual size would make Textual lay out the
whole screen again, ten times a second under a busy log (measured: most of
the cost of a key press, docs/BENCHMARKS.md). Once paused, it scrolls over
every line it keeps, and new lines extend it at most once a second.

Each row starts with a pinned part (the node, in the merged view, and the
time) that stays when the body scrolls sideways by a screen at a time, or
wraps (`set_wrap`) onto rows of its own.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.logs import seek
from console.logs.lines import LogLine, order
from screens import logrow
from screens.logrow import CLOCK_WIDTH, TAG_COLOURS

Keep = Callable[[LogLine], bool]
CACHE_LINES = 4096
PAUSED_RESIZE_EVERY = 1.0


def _keep_all(line: LogLine) -> bool:
    return True


class LogView(ScrollView, can_focus=True):
    """Log lines of one column (one node) or of the merged stream."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "up", show=False),
        Binding("down,j", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home,g", "top", "top", show=False),
        Binding("right,l", "page_x(1)", "right", show=False),
        Binding("left,h", "page_x(-1)", "left", show=False),
    ]

    class CursorMoved(Message):
        """The operator moved this view's cursor: other views follow its time."""

        def __init__(self, view: LogView, when: float, row: int) -> None:
            super().__init__()
            self.view = view
            self.when = when
            self.row = row  # the cursor's row on screen: the others put theirs there

    def __init__(
        self,
        max_lines: int,
        tag_nodes: Sequence[str] = (),
        ordered: bool = False,
        id: str | None = None,
    ) -> None:
        """A view of at most MAX_LINES lines.

        Args:
            max_lines: lines kept; the oldest go first.
            tag_nodes: start each line with its node's name (the merged view).
            ordered: keep lines in time order, placing a late line where it belongs.
            id: the widget's id.
        """
        super().__init__(id=id)
        self.max_lines = max_lines
        self.ordered = ordered
        self.brief = False
        self._tags = {name: TAG_COLOURS[i % len(TAG_COLOURS)] for i, name in enumerate(tag_nodes)}
        self._tag_width = max((len(name) for name in tag_nodes), default=0)
        self._pinned = (self._tag_width + 1 if tag_nodes else 0) + CLOCK_WIDTH
        self.wrap = False
        # With wrap on: the first row of each shown line, and the row after the last.
        self._wrapped = logrow.WrappedRows()
        self._all: list[LogLine] = []
        self._shown: list[LogLine] = []
        self._keep: Keep = _keep_all
        self._marks: re.Pattern[str] | None = None
        self._width = 0
        # Drawn lines by sequence number: a dict, not Textual's LRUCache, whose
        # clear() hands a ring of lists to the garbage collector at every trim.
        self._cache: dict[int, Strip] = {}
        self._sized_at = 0.0
        self._style: Style | None = None
        self.cursor: int | None = None
        self.following = True

    # Content ---------------------------------------------------------------

    @property
    def shown(self) -> Sequence[LogLine]:
        """The lines that pass the filter, oldest first."""
        return self._shown

    def add(self, lines: Sequence[LogLine]) -> None:
        """Append a batch of lines; one repaint for the whole batch."""
        if not lines:
            return
        if self.ordered:
            lines = sorted(lines, key=order)
        keep = self._keep
        new = [line for line in lines if keep(line)]
        if self.ordered and self._all and order(lines[0]) < order(self._all[-1]):
            self._insert(lines, new)
        else:
            self._all.extend(lines)
            self._shown.extend(new)
        excess = len(self._all) - self.max_lines
        if excess > self.max_lines // 10:  # trim in steps, not on every line
            self._trim(excess)
        if new:
            self._grow(new)

    def _insert(self, lines: Sequence[LogLine], new: Sequence[LogLine]) -> None:
        """Place LINES (sorted; NEW: those the filter keeps), some older than lines already
        kept, in time order: only the tail from the first of them is merged again."""
        self._all = seek.merged(self._all, lines)
        self._wrapped.forget()
        if new:
            at = bisect.bisect(self._shown, order(new[0]), key=order)
            if self.cursor is not None and at <= self.cursor:
                self.cursor += sum(
                    1 for line in new if order(line) <= order(self._shown[self.cursor])
                )
            self._shown = seek.merged(self._shown, new)

    def _trim(self, excess: int) -> None:
        gone = {line.seq for line in self._all[:excess]}
        self._wrapped.forget()
        del self._all[:excess]
        for line_id in gone:
            self._cache.pop(line_id, None)
        before = len(self._shown)
        self._shown = [line for line in self._shown if line.seq not in gone]
        if self.cursor is not None:
            self.cursor = max(0, self.cursor - (before - len(self._shown)))

    def _grow(self, new: Sequence[LogLine]) -> None:
        width = max(cell_len(self._text(line)) for line in new[-200:])
        if width > self._width:
            self._width = width
            self._fit_size()
        elif self.following:
            if len(self._shown) - len(new) < self._height():  # still filling its window
                self._fit_size()
        elif time.monotonic() - self._sized_at > PAUSED_RESIZE_EVERY:
            self._fit_size()
        self.refresh()

    def _height(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def _body_width(self) -> int:
        return max(1, self.scrollable_content_region.width - self._pinned)

    def _wrap_starts(self) -> list[int]:
        """Each shown line's first row when wrapped."""
        return self._wrapped.starts(self._shown, self._body_width(), self._text)

    def _rows(self) -> int:
        return self._wrap_starts()[-1] if self.wrap else len(self._shown)

    def _row_of(self, index: int) -> int:
        return self._wrap_starts()[index] if self.wrap else index

    def _line_at(self, row: int) -> tuple[int, int]:
        """The shown line at ROW and which of its wrapped rows that is."""
        if not self.wrap:
            return row, 0
        starts = self._wrap_starts()
        index = bisect.bisect_right(starts, row) - 1
        return index, row - starts[index]

    def _fit_size(self) -> None:
        """Set the virtual size: the window while following, every line once paused."""
        rows = self._rows()
        height = min(rows, self._height()) if self.following else rows
        width = self._pinned + (1 if self.wrap else self._width)
        self.virtual_size = Size(width, height)
        self._sized_at = time.monotonic()

    def on_resize(self) -> None:
        if self.following or self.wrap:
            self._fit_size()

    def set_wrap(self, on: bool) -> None:
        """Wrap long lines onto more rows (the pinned part stays on the left), or not."""
        self.wrap = on
        self._wrapped.forget()
        self.scroll_to(x=0, animate=False, immediate=True)
        self._fit_size()
        if self.cursor is not None:
            self._place_cursor(self.cursor, announce=False, row=None)
        self.refresh()

    def action_page_x(self, pages: int) -> None:
        """Scroll the body sideways by the visible width: the pinned part stays."""
        if not self.wrap:
            x = max(0, int(self.scroll_x) + pages * self._body_width())
            self.scroll_to(x=x, animate=False, immediate=True)

    def set_filter(self, keep: Keep | None) -> None:
        """Show only the lines KEEP accepts (all of them for None)."""
        at = self.cursor_line
        self._keep = keep or _keep_all
        self._shown = [line for line in self._all if self._keep(line)]
        self._wrapped.forget()
        self._fit_size()
        if at is not None:
            self._place_cursor(self.index_at(at.when), announce=False)
        self.refresh()

    def set_marks(self, pattern: re.Pattern[str] | None) -> None:
        """Highlight PATTERN's matches (the operator's own pattern, or the search)."""
        self._marks = pattern
        self._cache.clear()
        self.refresh()

    # Cursor and following --------------------------------------------------

    @property
    def cursor_line(self) -> LogLine | None:
        if self.cursor is None or not self._shown:
            return None
        return self._shown[min(self.cursor, len(self._shown) - 1)]

    def follow(self) -> None:
        """Drop the cursor and stay at the newest lines."""
        self.following, self.cursor = True, None
        self._fit_size()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def catch_up(self) -> None:
        """Fit the window to the view's size now that it is shown (a hidden one has none)."""
        if self.following:
            self._fit_size()
            self.refresh()

    def _unfollow(self) -> None:
        """From a window on the newest lines to scrolling over all of them, at the same place."""
        if not self.following:
            return
        self.following = False
        self._fit_size()
        top = max(0, self._rows() - self._height())
        # force: the scrollbar that allows scrolling appears only at the next layout.
        self.scroll_to(y=top, animate=False, immediate=True, force=True)

    def pause(self) -> None:
        """Stop at the lines on screen: new ones are kept but do not scroll."""
        if self.following:
            self._unfollow()
            self._place_cursor(max(0, len(self._shown) - 1), announce=False)

    def index_at(self, when: float, nearest: bool = False) -> int:
        """The shown line nearest in time at or after WHEN (see console.logs.seek.index_at)."""
        return seek.index_at(self._shown, when, self.ordered, nearest)

    def cursor_to_time(self, when: float, row: int | None = None) -> None:
        """Put the cursor on the first line at or after WHEN (keeps columns in step).

        With ROW (another view's cursor row), the line nearest WHEN instead,
        shown on that row so that the views line up by time.
        """
        self._unfollow()
        self._place_cursor(self.index_at(when, row is not None), announce=False, row=row)

    def find(self, pattern: re.Pattern[str], forward: bool = True) -> bool | None:
        """Move the cursor to the next (or previous) line matching PATTERN.

        Returns True if found, None if found after wrapping around the end, False if not found.
        """
        found = seek.find(self._shown, pattern, self.cursor, forward)
        if found is None:
            return False
        index, wrapped = found
        self._unfollow()
        self._place_cursor(index)
        return None if wrapped else True

    def _place_cursor(self, index: int, announce: bool = True, row: int | None = None) -> None:
        if not self._shown:
            self.cursor = None
            return
        self.cursor = max(0, min(index, len(self._shown) - 1))
        height = self._height()
        first = self._row_of(self.cursor)
        if row is not None:
            self.scroll_to(y=max(0, first - row), animate=False, immediate=True, force=True)
        elif not (self.scroll_y <= first < self.scroll_y + height):
            self.scroll_to(y=max(0, first - height // 2), animate=False, immediate=True, force=True)
        self.refresh()
        line = self.cursor_line
        if announce and line is not None:
            self.post_message(self.CursorMoved(self, line.when, first - int(self.scroll_y)))

    def action_cursor(self, step: int) -> None:
        if self.following:
            self.pause()
            if step < 0:  # the first up arrow lands on the newest line, then moves
                step += 1
        base = self.cursor if self.cursor is not None else len(self._shown) - 1
        self._place_cursor(base + step)

    def action_page(self, pages: int) -> None:
        self.action_cursor(pages * max(1, self.scrollable_content_region.height - 1))

    def action_top(self) -> None:
        self._unfollow()
        self._place_cursor(0)

    # Drawing ---------------------------------------------------------------

    def set_brief(self, on: bool) -> None:
        """Show access lines as time, status, method, path and size only."""
        self.brief = on
        self._cache.clear()
        self._wrapped.forget()
        self._width = max((cell_len(self._text(line)) for line in self._shown[-500:]), default=0)
        self._fit_size()
        self.refresh()

    def _base_style(self) -> Style:
        """The view's own colours, worked out once: Textual walks the DOM for each ask."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None  # a theme or a pseudo-class changed: colours again, and lines
        self._cache.clear()

    def _text(self, line: LogLine) -> str:
        """The line's body: what follows the pinned node and time."""
        return logrow.body(line, self.brief)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        # Following, the view is a window on its newest lines.
        top = max(0, self._rows() - self._height()) if self.following else scroll_y
        index, part = self._line_at(top + y)
        width = self.scrollable_content_region.width
        style = self._base_style()
        if index >= len(self._shown):
            return Strip.blank(width, style)
        line = self._shown[index]
        cached = None if index == self.cursor else self._cache.get(line.seq)
        if cached is not None:
            strip = cached
        elif index == self.cursor:
            strip = self._draw(line, True)
        else:
            if len(self._cache) > CACHE_LINES:
                self._cache.clear()
            strip = self._cache[line.seq] = self._draw(line, False)
        shift = part * self._body_width() if self.wrap else scroll_x
        return logrow.on_screen(
            strip, self._pinned, shift, part, width, style, index == self.cursor
        )

    def _draw(self, line: LogLine, on_cursor: bool) -> Strip:
        """The whole row: the pinned node and time, then the body unclipped."""
        tag = line.source.node.ljust(self._tag_width) + " " if self._tags else ""
        colour = self._tags.get(line.source.node) if tag else None
        text = logrow.row(
            line, self._text(line), tag, colour, self._base_style(), self._marks, on_cursor
        )
        return Strip(list(text.render(self.app.console)), text.cell_len)
