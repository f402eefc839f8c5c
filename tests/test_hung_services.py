"""A hung service, for real: the console and `hotspare status --json` say the same, in time.

Each test stops one lab process with SIGSTOP for 20 s (the process lives, holds its
sockets and answers nothing: what a hung server does), runs the console on
the real monitor and `hotspare status --json` beside it, and checks that both
name the hung service within one refresh, then that both recover within one
refresh of SIGCONT. SIGCONT is sent in a finally block, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from textual.pilot import Pilot

from console.authority import Authority
from console.feed import Feed
from console.inventory import load
from console.lab import control
from console.lab.layout import PG_PORT, LabLayout
from console.monitor import Monitor
from console.state.model import ClusterState
from screens.panels import Banner, NodesPanel, ReplicasPanel
from tests.support.console_parts import RecordingApp

pytestmark = pytest.mark.lab


def _live_app(lab: LabLayout) -> tuple[RecordingApp, Monitor]:
    """The console as `hotspare` builds it: the default monitor and refresh period."""
    monitor = Monitor(load(lab.cluster_file))
    feed = Feed(monitor, every=monitor.interval)
    app = RecordingApp(monitor.inv, feed, Authority(False), links=monitor.links, monitor=monitor)
    return app, monitor


def _one_refresh(monitor: Monitor) -> float:
    """One refresh of a hung service: a period, the service's deadline, the feed's
    period, and slack for a busy machine."""
    return 2 * monitor.interval + monitor.service_timeout + 3.0


HANG = 20.0  # seconds each service stays stopped


@contextmanager
def stopped(lab: LabLayout, service: str) -> Iterator[float]:
    """SERVICE (a lab process name) under SIGSTOP; SIGCONT always follows.

    Yields when it was stopped (time.monotonic()), for `held`.
    """
    pid = next(s.pid for s in control.status(lab).services if s.name == service)
    assert pid is not None, f"{service} does not run"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield time.monotonic()
    finally:
        os.kill(pid, signal.SIGCONT)


async def held(
    pilot: Pilot[int], app: RecordingApp, check: Callable[[ClusterState], object], since: float
) -> None:
    """Until HANG s after SINCE, every state the console shows still says what CHECK asks:
    a long hang does not wear the verdict away (nor pile up probes until it flips)."""
    shown = 0
    while time.monotonic() - since < HANG:
        state = app.state
        assert state is not None and check(state), (
            f"{time.monotonic() - since:.1f} s into the hang the console no longer says so: "
            f"{[a.message for a in state.alarms] if state else None}"
        )
        shown += 1
        await pilot.pause(0.5)
    assert shown > 10


async def status_json(lab: LabLayout, *options: str) -> dict[str, Any]:
    """`hotspare status --json`, in its own process, as an operator or a check runs it."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "screens.main", "--cluster", str(lab.cluster_file)),
        *("status", "--json", *options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert out.strip(), err.decode()
    document: dict[str, Any] = json.loads(out)
    return document


async def until(
    pilot: Pilot[int], app: RecordingApp, check: Callable[[ClusterState], object], bound: float
) -> ClusterState:
    """The console's first state for which CHECK holds, within BOUND seconds."""
    deadline = time.monotonic() + bound
    while True:
        state = app.state
        if state is not None and check(state):
            return state
        alarms = [a.message for a in state.alarms] if state is not None else None
        assert time.monotonic() < deadline, (
            f"not within {bound:g} s; the console's alarms: {alarms}"
        )
        await pilot.pause(0.1)


def _codes(alarms: list[dict[str, Any]] | tuple[Any, ...]) -> set[str]:
    return {a["code"] if isinstance(a, dict) else a.code for a in alarms}


def _member(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in document["databases"] if d["name"] == name)


def _box(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in document["boxes"] if b["box"] == name)


def test_a_hung_postmaster_is_down_in_both_and_named_as_postgresql(db_lab: LabLayout) -> None:
    lab = db_lab
    where = f"PostgreSQL at {lab.address('db1')}:{PG_PORT} does not answer"

    def db1(state: ClusterState) -> Any:
        return next(d for d in state.databases if d.name == "db1")

    async def go() -> None:
        app, monitor = _live_app(lab)
        bound = _one_refresh(monitor)
        async with app.run_test(size=(100, 40)) as pilot:
            await until(pilot, app, lambda s: db1(s).role == "primary", 20)
            with stopped(lab, "postgres-db1") as since:
                # An operator's `status` at the same moment as the console; a short
                # --timeout once had the db1 box time out whole and db1 dropped.
                status = asyncio.ensure_future(status_json(lab))
                short = asyncio.ensure_future(status_json(lab, "--timeout", "3"))
                state = await until(pilot, app, lambda s: db1(s).role is None, bound)
                document, hurried = await status, await short
                await held(pilot, app, lambda s: db1(s).role is None, since)
            problem = db1(state).problem or ""
            assert problem.startswith(where) and "its box db1 answers over SSH" in problem
            assert _member(document, "db1")["problem"] == problem  # word for word
            assert _member(document, "db1")["role"] is None
            assert state.answers("db1") and not _box(document, "db1")["stale"]
            assert _member(hurried, "db1")["problem"].startswith(where)  # within 1.8 s
            assert not _box(hurried, "db1")["stale"]
            assert "database-unreachable" in _codes(state.alarms) & _codes(document["alarms"])
            cell = app.query_one(ReplicasPanel).get_cell("db1", "role")
            assert cell.plain == "✗ DOWN"
            # SIGCONT: both see the primary again within one refresh.
            await until(pilot, app, lambda s: db1(s).role == "primary", bound)
            assert app.query_one(ReplicasPanel).get_cell("db1", "role").plain == "primary"
            after = await status_json(lab)
            assert _member(after, "db1")["role"] == "primary"
            assert "database-unreachable" not in _codes(after["alarms"])
            # The nodes' health checks failed meanwhile: let HAProxy take them back.
            await until(pilot, app, lambda s: s.verdicts.backends_up == 2, 20)

    asyncio.run(go())


def test_a_hung_haproxy_is_a_critical_balancer_alarm_and_an_unknown_mode(lab: LabLayout) -> None:
    # Hung, its socket's backlog (10) fills up: later connections fail at once.
    said = "HAProxy on lb1 "

    async def go() -> None:
        app, monitor = _live_app(lab)
        bound = _one_refresh(monitor)
        async with app.run_test(size=(100, 40)) as pilot:
            await until(pilot, app, lambda s: s.verdicts.site_mode == "normal", 20)
            with stopped(lab, "haproxy") as since:
                status = asyncio.ensure_future(status_json(lab))
                state = await until(pilot, app, lambda s: s.verdicts.site_mode is None, bound)
                document = await status
                await held(pilot, app, lambda s: s.verdicts.site_mode is None, since)
            alarm = next(a for a in state.alarms if a.code == "balancer-not-answering")
            assert alarm.severity == "critical" and said in alarm.message
            assert "its box answers over SSH" in alarm.message
            (theirs,) = [a for a in document["alarms"] if a["code"] == "balancer-not-answering"]
            assert theirs["severity"] == "critical" and said in theirs["message"]
            assert document["verdicts"]["site_mode"] is None
            assert state.answers("lb1") and not _box(document, "lb1")["stale"]
            banner = str(app.query_one(Banner).content)
            assert "SITE MODE UNKNOWN" in banner and "NORMAL" not in banner
            # SIGCONT: the mode is known again within one refresh.
            state = await until(pilot, app, lambda s: s.verdicts.site_mode == "normal", bound)
            assert "balancer-not-answering" not in _codes(state.alarms)
            after = await status_json(lab)
            assert after["verdicts"]["site_mode"] == "normal"
            assert "balancer-not-answering" not in _codes(after["alarms"])

    asyncio.run(go())


def test_a_hung_sshd_is_named_by_both_and_its_node_stays_in_the_table(lab: LabLayout) -> None:
    said = f"sshd on web2 accepts connections at {lab.address('web2')}:2222 but sends no SSH"

    def problem(state: ClusterState) -> str | None:
        fresh = state.freshness("web2")
        return fresh.sshd_problem if fresh is not None else None

    async def go() -> None:
        app, monitor = _live_app(lab)
        bound = _one_refresh(monitor)
        async with app.run_test(size=(100, 40)) as pilot:
            await until(pilot, app, lambda s: s.answers("web2") and not problem(s), 20)
            with stopped(lab, "sshd-web2") as since:
                status = asyncio.ensure_future(status_json(lab))
                state = await until(pilot, app, problem, bound)
                document = await status
                await held(pilot, app, problem, since)
            assert (problem(state) or "").startswith(said)
            # The console's open connection still brings web2's data; status had none.
            assert state.answers("web2") and _box(document, "web2")["stale"]
            assert _box(document, "web2")["sshd_problem"] == problem(state)
            ours = {a.code for a in state.alarms if a.subject == ("web2",)}
            theirs = {a["code"] for a in document["alarms"] if a["subject"] == ["web2"]}
            assert ours == theirs == {"sshd-not-answering"}
            # Never dropped: web2 stays in both tables.
            assert "web2" in [n["name"] for n in document["nodes"]]
            assert app.query_one(NodesPanel).get_cell("web2", "node").plain == "web2"
            # SIGCONT: sshd greets again within one refresh, for both.
            await until(pilot, app, lambda s: not problem(s), bound)
            after = await status_json(lab)
            assert not _box(after, "web2")["stale"] and _box(after, "web2")["sshd_problem"] is None

    asyncio.run(go())


def test_a_box_that_just_hung_is_not_waited_for_in_full_twice_in_a_row(lab: LabLayout) -> None:
    """An action reads the site twice (to plan, then under the lock): the second read gives
    a box that gave no answer moments ago a short wait, and the next one the whole time."""

    def reason(state: ClusterState) -> str:
        fresh = state.freshness("web2")
        assert fresh is not None and fresh.stale, fresh
        return fresh.reason or ""

    async def go() -> tuple[str, str, str, bool]:
        monitor = Monitor(load(lab.cluster_file))
        try:
            with stopped(lab, "sshd-web2"):
                first = reason(await monitor.once(3.0))
                second = reason(await monitor.once(3.0))
                third = reason(await monitor.once(3.0))
            fourth = await monitor.once(8.0)
            return first, second, third, fourth.answers("web2")
        finally:
            await monitor.close()

    first, second, third, back = asyncio.run(go())
    assert first == "no answer within 3 s"
    assert second == "no answer within 1.5 s (nor at the last look)"
    assert third == "no answer within 3 s"  # never short twice in a row
    assert back  # SIGCONT: it answers again at the next read
