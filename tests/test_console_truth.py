"""Issue 14, truth in every corner: nothing cut without "…", alarms named, plans said as plans."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from console.events import changes
from console.state.balancer import SiteFlags
from console.state.lock import ActionLock
from console.state.model import ClusterState
from console.state.verdicts import judge
from screens.alarms import AlarmsScreen
from screens.panels import Banner, NodesPanel, ReplicasPanel
from tests.support.console_parts import console_app
from tests.support.verdict_parts import (
    INV,
    balancer,
    cluster_state,
    db,
    healthy_parts,
    node,
    nodes_with,
    server,
)

LONG = "no answer within 2.0 s: connection refused by the health endpoint"


def _run(test: Any) -> None:
    asyncio.run(test)


def _two_alarms() -> ClusterState:
    # web2 unhealthy (a warning) and no scheduler at all (critical).
    nodes = (
        node("web1", scheduler=False),
        node("web2", health_status=None, health_problem=LONG),
        node("web3"),
    )
    return cluster_state(nodes=nodes)


def test_the_banner_names_the_worst_alarm_and_how_many_more() -> None:
    state = _two_alarms()
    assert len(state.alarms) == 2

    async def go() -> None:
        app, _ = console_app(state)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            shown = str(app.query_one(Banner).render())
            assert "CRITICAL: no node runs" in shown
            assert shown.rstrip().endswith("+1 more")
            assert "alarm(s)" not in shown

    _run(go())


def test_a_opens_every_alarm_whole() -> None:
    state = _two_alarms()

    async def go() -> None:
        app, _ = console_app(state)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            await pilot.press("a")
            await pilot.pause(0.1)
            assert isinstance(app.screen, AlarmsScreen)
            text = str(app.screen.query_one("#alarms-text").render())
            for alarm in state.alarms:
                assert alarm.code in text
            assert LONG in " ".join(text.split())
            await pilot.press("escape")
            await pilot.pause(0.05)
            assert not isinstance(app.screen, AlarmsScreen)

    _run(go())


def test_a_long_health_reason_ends_in_an_ellipsis_and_nothing_is_cut_at_the_edge() -> None:
    state = cluster_state(nodes=nodes_with("web2", health_status=None, health_problem=LONG))

    async def go() -> None:
        app, _ = console_app(state)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            health = app.query_one(NodesPanel).get_cell("web2", "health").plain
            assert health.endswith("…") and LONG.startswith(health[2:-1])
            table = app.query_one(NodesPanel)
            widths = sum(c.get_render_width(table) for c in table.columns.values())
            assert widths <= table.scrollable_content_region.width  # nothing cut at the edge

    _run(go())


def test_a_cleared_alarm_is_said_in_words() -> None:
    sick = cluster_state(nodes=nodes_with("web2", health_status=None, health_problem=LONG))
    well = cluster_state(taken_at=101.0)
    texts = [e.text for e in changes(sick, well)]
    assert "cleared: web2 is healthy again" in texts
    assert not any("node-unhealthy" in t for t in texts)


def test_read_only_mode_names_the_read_only_primary() -> None:
    flags = SiteFlags("read-only", "upgrade", None)
    state = cluster_state(
        balancer=balancer(flags=flags),
        databases=(db("db1", writable=False), db("db2", role="standby")),
    )

    async def go() -> None:
        app, _ = console_app(state)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            assert app.query_one(ReplicasPanel).border_subtitle == "primary: db1 (read-only)"

    _run(go())


def _drained(last_change_s: int, action: ActionLock | None = None) -> ClusterState:
    drained = replace(server("web2", "drain", "DRAIN"), last_change_s=last_change_s)
    parts = balancer(server("web1"), drained, server("web3", "maint", "MAINT"))

    whole = {**healthy_parts(), "balancer": parts}
    verdicts, alarms = judge(INV, **whole, action=action, now=100.0)
    return ClusterState(
        "lab", "lab", "green", 100.0, verdicts=verdicts, alarms=alarms, action=action, **whole
    )


def test_a_planned_drain_is_said_as_planned_not_alarmed() -> None:
    state = _drained(60)
    assert state.alarms == ()
    assert state.verdicts.planned == ("web2 drain",)

    async def go() -> None:
        app, _ = console_app(state)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            shown = str(app.query_one(Banner).render())
            assert "no alarms" in shown and "planned: web2 drain" in shown

    _run(go())


def test_a_drain_that_outlives_its_plan_is_a_warning() -> None:
    (alarm,) = _drained(3600).alarms
    assert (alarm.code, alarm.severity) == ("backends-out", "warning")
    running = ActionLock("id", "op@h", "h", 1, "drain", "web2", "c", 1, 3, "t", 0.0, 1.0)
    assert _drained(3600, running).alarms == ()
