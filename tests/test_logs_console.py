"""The logs screen against the lab: real tails over real SSH, keys pressed by a pilot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.authority import Authority
from console.inventory import Inventory
from console.lab.layout import LabLayout
from console.node_role import NodeRole
from console.ssh import BoxLink
from screens.logs import LogsScreen
from screens.logview import LogView
from tests.support.console_parts import RecordingApp, ScriptedFeed
from tests.support.labclient import http
from tests.support.logs_parts import access_line, append, lab_inventory, marker, node, set_role
from tests.test_logs import HOSTILE


@pytest.fixture(scope="module")
def inv(lab: LabLayout) -> Inventory:
    return lab_inventory(lab)


@asynccontextmanager
async def logs_screen(
    inv: Inventory, size: tuple[int, int] = (160, 40)
) -> AsyncIterator[tuple[RecordingApp, Pilot[int], LogsScreen]]:
    """The console over the lab's links, with the logs screen open and following."""
    links = {box.name: BoxLink(inv, box.name) for box in inv.boxes}
    app = RecordingApp(inv, ScriptedFeed(), Authority(False), links=links)
    try:
        async with app.run_test(size=size) as pilot:
            await pilot.press("l")
            screen = app.screen
            assert isinstance(screen, LogsScreen)
            await _until(
                pilot, lambda: all(t.state.following for t in screen.session.tails.values())
            )
            yield app, pilot, screen
    finally:
        await asyncio.gather(*(link.close() for link in links.values()))


async def _until(pilot: Pilot[int], check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting on the logs screen")
        await pilot.pause(0.05)


def _shown(view: LogView, tag: str) -> list[str]:
    return [line.text for line in view.shown if tag in line.text]


def _screen_text(view: LogView) -> str:
    rows = range(view.scrollable_content_region.height)
    return "\n".join("".join(seg.text for seg in view.render_line(y)) for y in rows)


def test_lines_from_two_nodes_show_in_their_columns_and_merged_in_time_order(
    inv: Inventory,
) -> None:
    tag = marker("side")
    base = time.time() - 30

    async def go() -> None:
        async with logs_screen(inv) as (_, pilot, screen):
            web1 = screen.query_one("#column-web1", LogView)
            web2 = screen.query_one("#column-web2", LogView)
            # Written web2 first, so arrival order is not time order.
            append(
                node(inv, "web2").access_log_for("hot"),
                [access_line(base + s, f"/{tag}/{s}") for s in (1, 3)],
            )
            await pilot.pause(0.3)
            append(
                node(inv, "web1").access_log_for("hot"),
                [access_line(base + s, f"/{tag}/{s}") for s in (0, 2)],
            )
            await _until(pilot, lambda: len(_shown(web1, tag)) == 2 and len(_shown(web2, tag)) == 2)
            assert [t.split()[6] for t in _shown(web1, tag)] == [f"/{tag}/0", f"/{tag}/2"]
            assert web1.border_title == "web1 · hot · access.hot.web1.log"
            await pilot.press("m")
            merged = screen.query_one("#merged", LogView)
            assert merged.display and not screen.query_one("#columns").display
            lines = [line for line in merged.shown if tag in line.text]
            assert [line.text.split()[6] for line in lines] == [f"/{tag}/{s}" for s in range(4)]
            assert [line.source.node for line in lines] == ["web1", "web2", "web1", "web2"]

    asyncio.run(go())


def test_a_node_turned_warm_is_followed_to_its_warm_log(inv: Inventory, lab: LabLayout) -> None:
    web2 = node(inv, "web2")
    path = f"/{marker('warm')}"

    async def go() -> None:
        async with logs_screen(inv) as (_, pilot, screen):
            column = screen.query_one("#column-web2", LogView)
            await _until(pilot, lambda: "hot" in str(column.border_title))
            set_role(web2, NodeRole(role="warm"))
            try:
                # The site re-reads its role file; then its requests log as warm.
                url = f"{lab.node_url('web2')}{path}"
                await _until(pilot, lambda: _warm_request(url, web2.access_log_for("warm"), path))
                await _until(pilot, lambda: _shown(column, path))
                assert column.border_title == "web2 · warm · access.warm.web2.log"
                line = next(line for line in column.shown if path in line.text)
                assert line.source.role == "warm"
            finally:
                set_role(web2, NodeRole(role="hot", mail="log"))

    asyncio.run(go())


def _warm_request(url: str, warm_log: str, path: str) -> bool:
    http(url)
    try:
        return path in Path(warm_log).read_text(errors="replace")
    except FileNotFoundError:
        return False


def test_hostile_lines_are_shown_as_inert_text(inv: Inventory) -> None:
    tag = marker("hostile")
    lines = [tag.encode() + b" " + value for value in HOSTILE.values()]
    lines.append(tag.encode() + b" huge " + b"B" * (1024 * 1024))

    async def go() -> None:
        async with logs_screen(inv, size=(200, 40)) as (app, pilot, screen):
            await pilot.press("a", "c", "m")  # error logs, full lines, merged
            column = screen.query_one("#column-web1", LogView)
            merged = screen.query_one("#merged", LogView)
            append(node(inv, "web1").error_log, lines)
            await _until(pilot, lambda: len(_shown(merged, tag)) == len(lines))
            await pilot.pause(0.2)
            text = _screen_text(merged)
            for bad in ("\x1b", "\x00", "\r", "\x07", "\x90", "\u202e"):
                assert bad not in text
            assert "[/] [link=http://evil.example]click[/link] [bold red]x" in text
            assert "\\x1b]52;c;cm0gLXJmIH4=" in text
            huge = next(line for line in column.shown if " huge " in line.text)
            assert huge.cut == len(lines[-1]) - 16 * 1024
            assert app.is_running  # nothing crashed the app

    asyncio.run(go())


def test_keys_filter_search_pause_and_go_to_time(inv: Inventory) -> None:
    tag = marker("keys")
    # An hour back, where the lab (purged at the start of the run) has written
    # nothing: no health-check line of a node that was warm a while ago can fall
    # between the test's own lines and be the one a column's cursor lands on.
    base = time.time() - 3600

    async def go() -> None:
        async with logs_screen(inv) as (app, pilot, screen):
            append(
                node(inv, "web1").access_log_for("hot"),
                [
                    access_line(base + s, f"/{tag}/{s}", 500 if s == 4 else 200)
                    for s in range(0, 10, 2)
                ],
            )
            append(
                node(inv, "web2").access_log_for("hot"),
                [access_line(base + s, f"/{tag}/{s}") for s in range(1, 10, 2)],
            )
            web1 = screen.query_one("#column-web1", LogView)
            web2 = screen.query_one("#column-web2", LogView)
            await _until(pilot, lambda: len(_shown(web1, tag)) == 5 and len(_shown(web2, tag)) == 5)

            await pilot.press("f", *tag, "enter")  # filter: only the test's lines
            assert len(web1.shown) == 5 and all(tag in line.text for line in web1.shown)
            await pilot.press("f", "!", *tag, "enter")  # inverse: none of them
            assert not _shown(web1, tag) and web1.shown
            await pilot.press("f", "enter")  # no filter

            web1.focus()
            await pilot.press("slash", *f"{tag}/4", "enter")  # search
            assert web1.cursor_line is not None and f"/{tag}/4" in web1.cursor_line.text
            assert not web1.following
            # The other columns follow the cursor's time: web2's line 5 s is the first after 4 s.
            assert web2.cursor_line is not None and f"/{tag}/5" in web2.cursor_line.text
            await pilot.press("slash", *tag, "enter", "n")
            assert web1.cursor_line is not None and tag in web1.cursor_line.text

            stamp = time.strftime("%H:%M:%S", time.localtime(base + 6))
            await pilot.press("t", *stamp, "enter")  # go to time
            assert web1.cursor_line is not None and f"/{tag}/6" in web1.cursor_line.text
            assert web2.cursor_line is not None and f"/{tag}/7" in web2.cursor_line.text

            await pilot.press("G")  # follow again
            assert web1.following and web1.cursor is None
            await pilot.press("space")
            assert not web1.following
            await pilot.press("escape")
            assert not isinstance(app.screen, LogsScreen)
            await _until(pilot, lambda: screen.session.done)  # its tails are stopped

    asyncio.run(go())


def test_a_search_and_a_filter_typed_in_the_logs_never_filter_the_main_tables(
    inv: Inventory,
) -> None:
    from screens.panels import BalancerPanel, NodesPanel, ReplicasPanel
    from tests.support.verdict_parts import cluster_state

    def counts(app: RecordingApp) -> tuple[int, int, int]:
        return tuple(  # type: ignore[return-value]
            app.query_one(p).row_count for p in (BalancerPanel, NodesPanel, ReplicasPanel)
        )

    async def go() -> None:
        links = {box.name: BoxLink(inv, box.name) for box in inv.boxes}
        app = RecordingApp(inv, ScriptedFeed(cluster_state()), Authority(False), links=links)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await _until(pilot, lambda: app.state is not None)
                assert counts(app) == (3, 3, 2)
                await pilot.press("l")
                assert isinstance(app.screen, LogsScreen)
                await pilot.press("slash", *"db2", "enter", "f", *"web", "enter")
                await pilot.press("escape")
                await _until(pilot, lambda: not isinstance(app.screen, LogsScreen))
                await pilot.pause(0.1)
                assert counts(app) == (3, 3, 2), "the logs' search reached the main filter"
        finally:
            await asyncio.gather(*(link.close() for link in links.values()))

    asyncio.run(go())
