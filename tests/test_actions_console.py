"""Actions from the console against the lab: keys, the plan screen, the outcome, the audit."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from console.authority import Authority
from console.feed import Feed
from console.inventory import load
from console.lab.layout import LabLayout
from console.monitor import Monitor
from console.probes.haproxy import admin_state, parse_servers_state
from screens.action import ActionScreen
from screens.panels import BalancerPanel
from screens.prompt import PromptScreen
from tests.support.console_parts import RecordingApp
from tests.support.labclient import haproxy
from tests.test_actions_nodes import admin


def live_app(lab: LabLayout, observer: bool = False) -> RecordingApp:
    inv = load(lab.cluster_file)
    monitor = Monitor(inv, interval=0.5)
    authority = Authority(True, "started with --observe") if observer else Authority(False)
    return RecordingApp(
        inv, Feed(monitor, every=0.5), authority, links=monitor.links, monitor=monitor
    )


async def admin_now(lab: LabLayout, server: str) -> str:
    states = parse_servers_state(await haproxy(lab, "show servers state site"))
    return admin_state(states[server])


async def until(pilot: Pilot[int], check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.1)


def finished(screen: ActionScreen) -> Callable[[], bool]:
    return lambda: screen.outcome is not None


def mode_is(app: RecordingApp, wanted: str) -> Callable[[], bool]:
    def check() -> bool:
        balancer = app.state.balancer if app.state is not None else None
        return balancer is not None and balancer.flags.mode == wanted

    return check


async def select_server(app: RecordingApp, pilot: Pilot[int], server: str) -> None:
    panel = app.query_one(BalancerPanel)
    await until(pilot, lambda: panel.selected is not None)
    panel.focus()
    while panel.selected != server:
        await pilot.press("down")


def test_d_then_enter_drains_the_selected_node_and_r_readies_it(
    lab: LabLayout, audit: Path
) -> None:
    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.state is not None)
            await select_server(app, pilot, "web2")
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ActionScreen))
            screen = app.screen
            assert isinstance(screen, ActionScreen) and screen.plan.target == "web2"
            assert await admin_now(lab, "web2") == "ready"  # nothing runs before enter
            await pilot.press("enter")
            await until(pilot, lambda: screen.outcome is not None)
            assert screen.outcome is not None and screen.outcome.status == "done"
            assert await admin_now(lab, "web2") == "drain"
            await pilot.press("escape")
            assert any("drain: DONE" in e.text for e in app.events)
            await select_server(app, pilot, "web2")
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ActionScreen))
            await pilot.press("enter")
            ready = app.screen
            assert isinstance(ready, ActionScreen)
            await until(pilot, lambda: ready.outcome is not None)
            await pilot.press("escape")
        assert await admin_now(lab, "web2") == "ready"

    try:
        asyncio.run(go())
    finally:
        asyncio.run(haproxy(lab, "set server site/web2 state ready"))
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    records = [r for r in records if r["event"] == "outcome"]
    assert [(r["action"], r["target"], r["outcome"]) for r in records] == [
        ("drain", "web2", "done"),
        ("ready", "web2", "done"),
    ]


def test_escape_on_the_plan_changes_nothing_and_audits_nothing(lab: LabLayout, audit: Path) -> None:
    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.state is not None)
            await select_server(app, pilot, "web1")
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, ActionScreen))
            await pilot.press("escape")
            assert not isinstance(app.screen, ActionScreen)

    asyncio.run(go())
    assert admin(lab, "web1") == "ready"
    assert not audit.exists()


def test_an_observer_console_cannot_act_and_the_core_audits_the_refusal(
    lab: LabLayout, audit: Path
) -> None:
    async def go() -> None:
        app = live_app(lab, observer=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.state is not None)
            await select_server(app, pilot, "web2")
            await pilot.press("d")  # no such key for an observer
            await pilot.pause(0.3)
            assert not isinstance(app.screen, ActionScreen)
            app.action_act("d")  # reached anyway: the core refuses, and says so
            await until(pilot, lambda: any("REFUSED" in t for t in app.told))

    asyncio.run(go())
    assert admin(lab, "web2") == "ready"
    record = json.loads(audit.read_text())
    assert record["outcome"] == "refused" and "observer mode" in record["reason"]


def test_o_turns_read_only_on_then_off_and_capital_m_asks_the_time_first(
    lab: LabLayout, audit: Path
) -> None:
    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.state is not None)
            for wanted in ("read-only", "normal"):
                await pilot.press("o")
                if wanted == "read-only":  # on: the message and the end, defaults typed in
                    await until(pilot, lambda: isinstance(app.screen, PromptScreen))
                    await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, ActionScreen))
                screen = app.screen
                assert isinstance(screen, ActionScreen)
                await pilot.press("enter")
                await until(pilot, finished(screen), timeout=30)
                assert screen.outcome is not None and screen.outcome.ok, screen.outcome
                await pilot.press("escape")
                await until(pilot, mode_is(app, wanted))
            await pilot.press("M")
            await until(pilot, lambda: isinstance(app.screen, PromptScreen))
            await pilot.press(*"45m", "enter")
            await until(pilot, lambda: isinstance(app.screen, ActionScreen))
            plan = app.screen.plan  # type: ignore[attr-defined]
            assert plan.action == "maintenance on" and "UTC" in plan.summary
            await pilot.press("escape")  # not run

    try:
        asyncio.run(go())
    finally:
        asyncio.run(haproxy(lab, f"set map {lab.flags_map()} mode normal"))
    outcomes = [
        (r["action"], r["outcome"])
        for r in map(json.loads, audit.read_text().splitlines())
        if r["event"] == "outcome"
    ]
    assert outcomes == [("read-only on", "done"), ("read-only off", "done")]
