"""Issue 14: long lines wrap or scroll by a screen, node and time pinned, columns in step."""

from __future__ import annotations

import asyncio
import time

from textual.app import App, ComposeResult

from console.logs.lines import LogLine, Source
from screens.logs import HINTS, LogsScreen
from screens.logview import CLOCK_WIDTH, LogView

WEB1 = Source("web1", "web1", "access", "hot", "/l/access.hot.web1.log")
WEB1_ERRORS = Source("web1", "web1", "error", None, "/l/error.web1.log")
WEB2 = Source("web2", "web2", "access", "hot", "/l/access.hot.web2.log")
LONG = "GET /notes " + "x" * 200 + " ValueError: the end of the line"


def line(source: Source, seq: int, when: float, text: str) -> LogLine:
    return LogLine(source, seq, when, when, text, 0, when)


def clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def rows(view: LogView) -> list[str]:
    height = view.scrollable_content_region.height
    return ["".join(seg.text for seg in view.render_line(y)) for y in range(height)]


class TwoColumns(App[None]):
    """Two columns side by side, kept in step by the logs screen's own handler."""

    def compose(self) -> ComposeResult:
        yield LogView(1000, ["web1", "web2"], ordered=True, id="one")
        yield LogView(1000, ordered=True, id="two")

    def views(self) -> list[LogView]:
        return list(self.query(LogView))

    def _status(self) -> None:
        pass

    on_log_view_cursor_moved = LogsScreen.on_log_view_cursor_moved


def test_wrap_shows_the_end_of_a_long_line() -> None:
    async def go() -> None:
        app = TwoColumns()
        async with app.run_test(size=(60, 12)) as pilot:
            view = app.query_one("#one", LogView)
            view.add([line(WEB1, 1, 100.0, LONG)])
            await pilot.pause()
            assert "the end of the line" not in "".join(rows(view))
            view.set_wrap(True)
            await pilot.pause()
            shown = rows(view)
            assert "".join(row[5 + CLOCK_WIDTH :] for row in shown).rstrip() == LONG
            assert shown[0].startswith(f"web1 {clock(100.0)} GET /notes")
            assert shown[1].startswith(" " * (5 + CLOCK_WIDTH) + "x")  # pinned part stays left
            view.set_wrap(False)
            await pilot.pause()
            assert "the end of the line" not in "".join(rows(view))

    asyncio.run(go())


def test_right_scrolls_by_the_visible_width_and_node_and_time_stay() -> None:
    async def go() -> None:
        app = TwoColumns()
        async with app.run_test(size=(60, 12)) as pilot:
            view = app.query_one("#one", LogView)
            view.add([line(WEB1, 1, 100.0, LONG)])
            await pilot.pause()
            view.focus()
            width = view.scrollable_content_region.width
            body = width - (5 + CLOCK_WIDTH)
            before = rows(view)[0]
            await pilot.press("right")
            assert view.scroll_x == body
            after = rows(view)[0]
            assert after.startswith(f"web1 {clock(100.0)} ")
            assert after[5 + CLOCK_WIDTH :] == LONG[body : 2 * body]
            assert before[5 + CLOCK_WIDTH :] == LONG[:body]
            await pilot.press("left")
            assert view.scroll_x == 0

    asyncio.run(go())


def test_access_and_error_lines_of_a_column_are_in_time_order() -> None:
    async def go() -> None:
        app = TwoColumns()
        async with app.run_test(size=(60, 12)) as pilot:
            view = app.query_one("#two", LogView)
            # The access log's batch arrives first, the error log's after it.
            view.add([line(WEB1, i, 100.0 + 2 * i, f"access {i}") for i in range(5)])
            view.add([line(WEB1_ERRORS, 10 + i, 101.0 + 2 * i, f"error {i}") for i in range(5)])
            await pilot.pause()
            whens = [shown.when for shown in view.shown]
            assert whens == sorted(whens) and len(whens) == 10

    asyncio.run(go())


def test_moving_the_cursor_lines_the_other_column_up_by_time() -> None:
    async def go() -> None:
        app = TwoColumns()
        async with app.run_test(size=(80, 12)) as pilot:
            one, two = app.query_one("#one", LogView), app.query_one("#two", LogView)
            one.add([line(WEB1, i, float(i), f"one {i}") for i in range(100)])
            # The other node writes every third second, from a later start.
            two.add([line(WEB2, 1000 + i, 30.0 + 3 * i, f"two {i}") for i in range(40)])
            await pilot.pause()
            one.focus()
            await pilot.press("up", "up", "pageup")
            await pilot.pause()
            at = one.cursor_line
            assert at is not None and two.cursor_line is not None
            near = min(two.shown, key=lambda other: (abs(other.when - at.when), -other.when))
            assert two.cursor_line == near
            row_one = one.cursor - int(one.scroll_y)  # type: ignore[operator]
            row_two = two.cursor - int(two.scroll_y)  # type: ignore[operator]
            assert row_one == row_two  # side by side on the same row

    asyncio.run(go())


def test_the_cursor_stands_out() -> None:
    async def go() -> None:
        app = TwoColumns()
        async with app.run_test(size=(60, 12)) as pilot:
            view = app.query_one("#one", LogView)
            view.add([line(WEB1, i, float(i), f"line {i}") for i in range(5)])
            await pilot.pause()
            view.focus()
            await pilot.press("up")
            await pilot.pause()
            for theme in ("textual-dark", "textual-light", "hotspare-high-contrast"):
                if theme in app.available_themes:
                    app.theme = theme
                await pilot.pause()
                strips = [view.render_line(y) for y in range(5)]
                cursor = [seg.style for seg in strips[4] if seg.text.strip()]
                other = [seg.style for seg in strips[3] if seg.text.strip()]
                assert cursor and all(s is not None and s.reverse and s.bold for s in cursor)
                assert not any(s is not None and (s.reverse or s.bold) for s in other)

    asyncio.run(go())


def test_wrap_is_a_key_of_the_logs_screen() -> None:
    assert ("W", "wrap") in HINTS
    assert any(getattr(b, "key", "") == "W" for b in LogsScreen.BINDINGS)
