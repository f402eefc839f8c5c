"""What the operator sees, pinned as SVG snapshots (update: pytest --snapshot-update)."""

from __future__ import annotations

from typing import Any

from tests.support.console_parts import console_app
from tests.support.trend_parts import busy_minute
from tests.support.verdict_parts import INV, box, cluster_state


async def _first_picture(pilot: Any) -> None:
    await pilot.pause(0.2)


def test_main_screen_at_80x24(snap_compare: Any) -> None:
    app, _ = console_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_first_picture)


def test_main_screen_at_160x50(snap_compare: Any) -> None:
    app, _ = console_app()
    assert snap_compare(app, terminal_size=(160, 50), run_before=_first_picture)


def test_a_stale_box_and_an_observer_at_80x24(snap_compare: Any) -> None:
    reason = "no SSH answer from 10.0.1.12:22 within 5 s: the box is hung"
    boxes = tuple(
        box(b.name, stale=True, age=31.0, reason=reason) if b.name == "web2" else box(b.name)
        for b in INV.boxes
    )
    app, _ = console_app(cluster_state(boxes=boxes), observer=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_first_picture)


def test_a_minute_of_trends_at_120x30(snap_compare: Any) -> None:
    """Beyond 80 columns: req/s and 5xx/s under the balancer, latency and lag per row."""
    app, _ = console_app(*busy_minute())

    async def minute_shown(pilot: Any) -> None:
        while len(app.trends.requests()) < 30:
            await pilot.pause(0.02)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(120, 30), run_before=minute_shown)
