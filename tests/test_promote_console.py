"""`p` in the console against the lab: preconditions shown, the name typed, progress, summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import Input, Log

from console.lab.layout import LabLayout
from screens.action import ActionScreen
from screens.panels import ReplicasPanel
from tests.support.labclient import is_primary, streams
from tests.test_actions_console import live_app, until

pytestmark = pytest.mark.lab


def test_p_on_the_standby_shows_the_preconditions_asks_its_name_and_switches_over(
    db_lab: LabLayout, audit: Path
) -> None:
    lab = db_lab
    lines: list[str] = []

    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(100, 40)) as pilot:
            panel = app.query_one(ReplicasPanel)
            await until(pilot, lambda: panel.selected is not None)
            await until(pilot, lambda: app.state is not None and len(app.state.databases) == 2)
            panel.focus()
            while panel.selected != "db2":
                await pilot.press("down")
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, ActionScreen))
            screen = app.screen
            assert isinstance(screen, ActionScreen)
            assert (screen.plan.action, screen.plan.target, screen.plan.confirm) == (
                "promote",
                "db2",
                "db2",
            )
            assert screen.plan.preconditions and all(c.ok for c in screen.plan.preconditions)
            await pilot.press("enter")  # nothing typed: nothing runs
            await pilot.pause(0.3)
            assert screen.outcome is None and not screen.running and is_primary(lab, "db1")
            screen.query_one("#action-name", Input).value = "db2"
            await pilot.press("enter")
            await until(pilot, lambda: screen.outcome is not None, timeout=90)
            lines.extend(str(line) for line in screen.query_one("#action-progress", Log).lines)
            assert screen.outcome is not None and screen.outcome.status == "done", lines
            await pilot.press("escape")
            assert any("promote: DONE" in e.text for e in app.events)

    asyncio.run(go())
    text = "\n".join(lines)
    assert "promote db2: DONE" in text
    assert "✓ Promote db2: db2 is the primary, on timeline" in text
    assert "writes were stopped for" in text
    assert "✓ Check db1 streams from db2" in text
    assert is_primary(lab, "db2") and streams(lab, "db2", "db1")
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    records = [r for r in records if r["event"] == "outcome"]
    assert [(r["action"], r["target"], r["outcome"]) for r in records] == [
        ("promote", "db2", "done")
    ]
