"""The log view on its own: following, pausing where the operator was, moving the cursor."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from console.logs.lines import LogLine, Source
from screens.logview import LogView

SOURCE = Source("web1", "web1", "access", "hot", "/l/access.hot.web1.log")


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(1000, id="view")


def lines(first: int, count: int) -> list[LogLine]:
    return [
        LogLine(SOURCE, i, float(i), float(i), f"line {i}", 0, float(i))
        for i in range(first, first + count)
    ]


def screen_text(view: LogView) -> list[str]:
    """Each row's body, after the pinned time."""
    rows = range(view.scrollable_content_region.height)
    return ["".join(seg.text for seg in view.render_line(y))[9:].strip() for y in rows]


def test_following_shows_the_newest_lines_and_pausing_stays_there() -> None:
    async def go() -> None:
        app = ViewApp()
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(LogView)
            view.add(lines(0, 200))
            await pilot.pause()
            assert screen_text(view)[-1] == "line 199"
            view.focus()
            await pilot.press("up", "up")  # pause on the newest line, then one up
            await pilot.pause()
            assert not view.following and view.cursor == 198
            assert screen_text(view)[-1] == "line 199"  # still at the end, not the top
            view.add(lines(200, 5))  # kept, not scrolled to
            await pilot.pause()
            assert "line 204" not in screen_text(view)
            await pilot.press("home")
            assert view.cursor == 0 and screen_text(view)[0] == "line 0"
            view.follow()
            await pilot.pause()
            assert screen_text(view)[-1] == "line 204"

    asyncio.run(go())


def test_cursor_to_time_puts_the_line_on_screen() -> None:
    async def go() -> None:
        app = ViewApp()
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(LogView)
            view.add(lines(0, 300))
            await pilot.pause()
            view.cursor_to_time(120.0)
            await pilot.pause()
            assert view.cursor_line is not None and view.cursor_line.text == "line 120"
            assert "line 120" in screen_text(view)

    asyncio.run(go())
