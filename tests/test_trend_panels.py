"""The panels' trends: shown in the room beyond 80 columns, absent at 80x24, cheap to redraw."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.trends import sparkline
from screens.app import HotspareApp
from screens.panels import BalancerPanel, NodesPanel, Panel, ReplicasPanel
from screens.trends import FLOORS
from tests.support.console_parts import console_app
from tests.support.trend_parts import busy, busy_minute

Refreshes = list[tuple[Region, ...]]


async def _until(pilot: Pilot[int], done: Callable[[], bool]) -> None:
    """Wait (a few seconds at most) until DONE, then for the screen to settle."""
    for _ in range(250):
        if done():
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


async def _minute_shown(app: HotspareApp, pilot: Pilot[int]) -> None:
    await _until(pilot, lambda: len(app.trends.requests()) == 30)


def _cell(panel: Panel, row: str) -> str:
    return str(panel.get_cell(row, panel.ordered_columns[-1].key).plain)


def test_at_80x24_no_trend_shows_and_the_panels_read_as_before() -> None:
    async def test() -> None:
        app, _ = console_app(*busy_minute())
        async with app.run_test(size=(80, 24)) as pilot:
            await _minute_shown(app, pilot)
            for panel in (app.query_one(NodesPanel), app.query_one(ReplicasPanel)):
                assert panel.points == 0
                assert [str(c.label) for c in panel.ordered_columns][-1] == "data"
            assert app.query_one(BalancerPanel).border_subtitle == "lb1: 2/3 up, 75 req/s"

    asyncio.run(test())


def test_at_120_columns_each_row_with_a_series_has_its_trend() -> None:
    async def test() -> None:
        app, _ = console_app(*busy_minute())
        async with app.run_test(size=(120, 30)) as pilot:
            await _minute_shown(app, pilot)
            nodes, dbs = app.query_one(NodesPanel), app.query_one(ReplicasPanel)
            assert nodes.points == dbs.points == 30
            assert str(nodes.ordered_columns[-1].label) == "health trend"
            # One fixed scale, a block per doubling from 100 ms: web1 (15-30 ms) lies flat,
            # web2 (eight times as slow: 120-240 ms) stands one or two blocks higher.
            web2 = app.trends.latency("web2")
            assert _cell(nodes, "web2") == sparkline(web2, 30, FLOORS["latency"], doubling=True)
            assert set(_cell(nodes, "web1")) == {"▁"}
            assert set(_cell(nodes, "web2")) == {"▂", "▃"}
            assert _cell(dbs, "db1").strip() == ""  # a primary has no lag
            assert _cell(dbs, "db2").strip() != ""
            said = str(app.query_one(BalancerPanel).border_subtitle)
            assert said.startswith("lb1: 2/3 up, 75 req/s ▃▄▅▇█▇▅▄")
            assert said.endswith(", 0 5xx/s  ▁▁▁▁▁▁▁▁▁████▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁")

    asyncio.run(test())


def test_the_trend_column_goes_when_the_terminal_narrows_to_80() -> None:
    async def test() -> None:
        app, _ = console_app(*busy_minute())
        async with app.run_test(size=(120, 30)) as pilot:
            await _minute_shown(app, pilot)
            nodes = app.query_one(NodesPanel)
            assert nodes.points == 30
            await pilot.resize_terminal(80, 24)
            await pilot.pause(0.1)
            assert nodes.points == 0
            assert [str(c.label) for c in nodes.ordered_columns][-1] == "data"
            assert _cell(nodes, "web1") == "live"
            assert app.query_one(BalancerPanel).border_subtitle == "lb1: 2/3 up, 75 req/s"

    asyncio.run(test())


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Refreshes]:
    """Every refresh each panel passes on to Textual, by the regions it names (none: all)."""
    seen: dict[str, Refreshes] = {}
    textual_refresh = DataTable.refresh

    def recording(self: DataTable[Text], *regions: Region, **options: bool) -> DataTable[Text]:
        if isinstance(self, Panel):
            seen.setdefault(self.id or "", []).append(regions)
        return textual_refresh(self, *regions, **options)

    monkeypatch.setattr(DataTable, "refresh", recording)
    return seen


def test_a_new_point_repaints_the_trend_cells_and_border_never_the_whole_table(
    refreshes: dict[str, Refreshes],
) -> None:
    async def test() -> None:
        app, feed = console_app(*busy_minute())
        async with app.run_test(size=(120, 30)) as pilot:
            await _minute_shown(app, pilot)
            before = _cell(app.query_one(NodesPanel), "web1")
            said = app.query_one(BalancerPanel).border_subtitle
            refreshes.clear()
            feed.push(busy(30, latency=300.0))
            await _until(pilot, lambda: app.trends.requests()[-1] == 40.0)
            assert _cell(app.query_one(NodesPanel), "web1") != before
            assert app.query_one(BalancerPanel).border_subtitle != said
            assert refreshes["nodes"] and all(regions for regions in refreshes["nodes"])
            # The balancer's new rate and trends: its bottom border line (under its header and
            # three rows), and web2's 5xx cell, not the whole table.
            regions = [r for named in refreshes["balancer"] for r in named]
            assert all(refreshes["balancer"]) and {r.height for r in regions} == {1}
            assert Region(-1, 4, 120, 1) in regions

    asyncio.run(test())
