"""A panel repaints only the cells that changed: idle output is what an operator waits for."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from screens.panels import Panel

Refreshes = list[tuple[Region, ...]]


class _OnePanel(App[None]):
    def compose(self) -> ComposeResult:
        yield Panel(("name", "lag"), "databases", id="replicas")


def _rows(lag: str) -> list[tuple[str, tuple[Text, ...]]]:
    return [("db1", (Text("db1"), Text("0 B"))), ("db2", (Text("db2"), Text(lag)))]


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> Refreshes:
    """Every refresh a Panel passes on to Textual, by the regions it names (none: all of it)."""
    seen: Refreshes = []
    textual_refresh = DataTable.refresh

    def recording(self: DataTable[Text], *regions: Region, **options: bool) -> DataTable[Text]:
        if isinstance(self, Panel):
            seen.append(regions)
        return textual_refresh(self, *regions, **options)

    monkeypatch.setattr(DataTable, "refresh", recording)
    return seen


def test_an_unchanged_snapshot_repaints_nothing(refreshes: Refreshes) -> None:
    async def test() -> None:
        async with _OnePanel().run_test(size=(60, 10)) as pilot:
            panel = pilot.app.query_one(Panel)
            panel.show(_rows("1 kB"))
            await pilot.pause()
            refreshes.clear()
            panel.show(_rows("1 kB"))
            await pilot.pause()
            assert refreshes == []

    asyncio.run(test())


def test_one_changed_cell_repaints_that_cell_only(refreshes: Refreshes) -> None:
    async def test() -> None:
        async with _OnePanel().run_test(size=(60, 10)) as pilot:
            panel = pilot.app.query_one(Panel)
            panel.show(_rows("1 kB"))
            await pilot.pause()
            refreshes.clear()
            panel.show(_rows("2 kB"))
            assert panel.get_cell("db2", "lag").plain == "2 kB"
            assert len(refreshes) == 1
            (region,) = refreshes[0]
            lag = panel.ordered_columns[panel.get_column_index("lag")]
            assert region.height == 1
            assert region.width == lag.get_render_width(panel)
            await pilot.pause()

    asyncio.run(test())


def test_a_click_on_any_cell_of_a_row_moves_the_cursor_to_that_row() -> None:
    async def test() -> None:
        async with _OnePanel().run_test(size=(60, 10)) as pilot:
            panel = pilot.app.query_one(Panel)
            panel.show(_rows("1 kB"))
            await pilot.pause()
            assert panel.cursor_row == 0
            await pilot.click(Panel, offset=(8, 2))  # the lag cell of db2
            assert panel.cursor_row == 1
            await pilot.click(Panel, offset=(1, 1))  # the name cell of db1
            assert panel.cursor_row == 0

    asyncio.run(test())
