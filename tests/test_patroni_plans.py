"""The Patroni seam without a Patroni: the monitor's reading and the plans.

Nothing here talks to a box: where a step runs, a fake ``ctx.run`` hands back
canned curl output, and only the parsing of that answer is under test.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any, cast

import pytest

from console.actions.context import Context
from console.actions.database import patroni as actions
from console.actions.plan import Check, Plan, Probe
from console.actions.site import checks
from console.errors import ActionError
from console.inventory import Inventory
from console.monitor import Monitor
from console.probes import http
from console.probes.patroni import (
    summary,
    unreachable,
)
from console.ssh import RemoteTimeout, Result
from tests.support import verdict_parts as parts
from tests.support.patroni_parts import (
    INV,
    URL,
    answered,
    fixture,
    patroni_inventory,
    state_with,
    view,
)

# --- the monitor reads it through the first answering database box -----------------------


class _Shell:
    def __init__(self, output: str) -> None:
        self.output = output
        self.asked: list[str] = []

    async def ask(self, script: str, timeout: float) -> str:
        self.asked.append(script)
        if self.output == "timeout":
            raise RemoteTimeout("db1", f"the probe did not answer within {timeout:g} s")
        return self.output


def _monitor(inv: Inventory, shells: dict[str, _Shell]) -> Monitor:
    monitor = Monitor(inv, clock=lambda: 100.0)
    for box, shell in shells.items():

        async def opened(shell: _Shell = shell) -> _Shell:
            return shell

        monitor.links[box].shell = opened  # type: ignore[method-assign,assignment]
    return monitor


def test_monitor_without_patroni_has_no_view() -> None:
    assert Monitor(parts.INV).snapshot().patroni is None


def test_monitor_reads_patroni_through_the_first_box_whose_patroni_answers() -> None:
    # Private parts on purpose: refresh_box needs SSH and PostgreSQL, which this test has not.
    down, up = _Shell(answered("", 0, exit=7)), _Shell(answered(fixture("healthy")))
    monitor = _monitor(INV, {"db1": down, "db2": up})
    assert monitor.snapshot().patroni == unreachable(100.0, "Patroni's view: not read yet")
    for box in ("db1", "db2"):
        monitor._records[box].ok, monitor._records[box].last_ok = True, 100.0
    assert monitor._patroni_reader() == "db1"
    asyncio.run(monitor._probe_patroni("db1"))
    assert monitor.snapshot().patroni is not None
    assert "nothing answers" in (monitor.snapshot().patroni.problem or "")  # type: ignore[union-attr]
    assert monitor._patroni_reader() == "db2"
    asyncio.run(monitor._probe_patroni("db2"))
    assert monitor.snapshot().patroni == view("healthy")
    assert monitor._patroni_reader() == "db2"  # it keeps to the box that answers
    cluster = http.Request("GET", f"{URL}/cluster", 3.0).command()
    assert down.asked == [cluster]  # no answer: nothing more is asked there
    # Where /cluster answered, the monitor also asks for Patroni's status and the DCS settings.
    assert up.asked == [cluster] + [
        http.Request("GET", f"{URL}/{path}", 3.0).command() for path in ("patroni", "config")
    ]


def test_a_hung_shell_is_patronis_problem_not_the_boxs() -> None:
    monitor = _monitor(INV, {"db1": _Shell("timeout")})
    monitor._records["db1"].ok, monitor._records["db1"].last_ok = True, 100.0
    asyncio.run(monitor._probe_patroni("db1"))
    snap = monitor.snapshot()
    assert snap.patroni is not None
    assert snap.patroni.problem == ("Patroni's view: db1: the probe did not answer within 4 s")
    assert not snap.freshness("db1").stale  # type: ignore[union-attr]


def test_monitor_marks_an_old_view_with_its_age() -> None:
    now = [100.0]
    monitor = _monitor(INV, {"db1": _Shell(answered(fixture("healthy")))})
    monitor._clock = lambda: now[0]
    asyncio.run(monitor._probe_patroni("db1"))
    assert monitor.snapshot().patroni == view("healthy", observed_at=100.0)
    now[0] += monitor.stale_after + 5  # every database box stopped answering
    late = monitor.snapshot().patroni
    assert late is not None and late.members
    assert late.problem == "no answer for 12 s (no database box has answered since)"
    assert summary(late).startswith("patroni: ✗ no answer for 12 s")


# --- the plans ----------------------------------------------------------------------------


def test_switchover_plan_posts_to_the_leaders_patroni_then_watches() -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == ("promote", "db2", (), "db2")
    assert plan.way_back == "hotspare promote db1"
    ask, watch = plan.steps
    # The leader's Patroni acts on it at once; db2's would pass it on through etcd.
    assert ask.where == "curl on db1 to Patroni"
    assert watch.where == "curl on db2 to Patroni, SQL on db2"
    failover = actions.plan_failover(INV, state_with(view("healthy")), "db2")
    assert failover.steps[0].where == "curl on db2 to Patroni"  # the leader may be unwell
    switchover = '{"leader":"db1","candidate":"db2"}'
    assert (
        ask.command
        == http.Request("POST", f"{URL}/switchover", 30.0, switchover, http.JSON).command()
    )
    assert (
        """-X POST -H 'Content-Type: application/json' -d '{"leader":"db1","candidate":"db2"}'"""
        in (ask.command)
    )
    assert watch.command == (
        f"GET {URL}/cluster (every 0.5 s); then on db2: "
        "SELECT state FROM pg_stat_replication WHERE application_name = 'db1'"
    )
    assert "db1 streams from it again" in watch.proves
    assert all(c.ok for c in plan.preconditions)
    assert "REFUSED" not in plan.describe()


def test_failover_plan_needs_the_name_typed_and_sends_only_the_candidate() -> None:
    plan = actions.plan_failover(INV, state_with(view("healthy")), "db2")
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == ("failover", "db2", (), "db2")
    failover = http.Request("POST", f"{URL}/failover", 30.0, '{"candidate":"db2"}', http.JSON)
    assert plan.steps[0].command == failover.command()
    assert "once Patroni shows db1 streaming again" in plan.way_back
    assert any("a failover does not wait" in c.detail for c in plan.preconditions)


def test_failover_without_a_leader_is_what_failover_is_for() -> None:
    plan = actions.plan_failover(INV, state_with(view("no_leader")), "db2")
    assert plan.refusals == ()
    assert "no leader to wait for" in plan.summary
    assert plan.way_back == ""


@pytest.mark.parametrize(
    ("fixture_name", "candidate", "says"),
    [
        ("healthy", "db1", "db1 is Patroni's leader, not a replica"),
        ("no_leader", "db2", "Patroni shows no leader: a switchover needs one"),
        ("paused_scheduled", "db2", "Patroni is paused (maintenance mode)"),
        (
            "paused_scheduled",
            "db2",
            "switchover scheduled at 2026-11-26T03:30:00+00:00 (db1 to db2)",
        ),
        ("lagging_unknown", "db2", "db2 is 50.0MB behind the leader, more than switchover_max_lag"),
        ("lagging_unknown", "db3", "db3 is stopped in Patroni, not running or streaming"),
        ("standby_cluster", "db2", "db1 is a standby leader"),
    ],
)
def test_switchover_refusals_say_why_in_a_sentence(
    fixture_name: str, candidate: str, says: str
) -> None:
    inv = patroni_inventory()
    inv = replace(inv, databases=(*inv.databases, replace(inv.databases[1], name="db3")))
    plan = actions.plan_switchover(inv, state_with(view(fixture_name)), candidate)
    assert plan.steps == ()
    assert any(says in r for r in plan.refusals), plan.refusals
    assert "REFUSED" in plan.describe()


def test_more_refusals_nofailover_unknown_lag_two_leaders_and_no_member() -> None:
    lagging = view("lagging_unknown")
    db3 = replace(lagging.members[2], state="streaming")
    tagged = replace(lagging, members=(*lagging.members[:2], db3))
    inv = replace(INV, databases=(*INV.databases, replace(INV.databases[1], name="db3")))
    plan = actions.plan_failover(inv, state_with(tagged), "db3")
    assert "db3 has the nofailover tag: Patroni never promotes it" in plan.refusals
    untagged = replace(tagged, members=(*tagged.members[:2], replace(db3, nofailover=False)))
    refusals = actions.plan_switchover(inv, state_with(untagged), "db3").refusals
    assert refusals == ("Patroni does not know db3's lag: wait for it to stream",)
    healthy = view("healthy")
    two = replace(healthy, members=(healthy.members[0], replace(healthy.members[1], role="leader")))
    assert "Patroni shows 2 leaders (db1, db2): look first" in (
        actions.plan_failover(INV, state_with(two), "db2").refusals
    )
    renamed = replace(
        healthy, members=(healthy.members[0], replace(healthy.members[1], name="pg2"))
    )
    (refusal,) = actions.plan_switchover(INV, state_with(renamed), "db2").refusals
    assert "Patroni has no member db2 (it has: db1, pg2)" in refusal


def test_lag_within_the_candidates_limit_is_allowed() -> None:
    inv = patroni_inventory(switchover_max_lag=64 * 1024 * 1024)
    assert actions.plan_switchover(inv, state_with(view("lagging_unknown")), "db2").refusals == ()


def test_no_view_or_a_view_with_a_problem_refuses() -> None:
    (refusal,) = actions.plan_switchover(INV, state_with(None), "db2").refusals
    assert refusal == "Patroni's view is unknown: hotspare has not read it yet"
    stale = unreachable(1.0, "no answer for 30 s (db1: nothing answers)")
    (refusal,) = actions.plan_failover(INV, state_with(stale), "db2").refusals
    assert "no answer for 30 s" in refusal


def test_a_database_not_managed_by_patroni_or_not_declared_is_an_action_error() -> None:
    with pytest.raises(ActionError, match="does not say Patroni manages db2"):
        actions.plan_switchover(parts.INV, state_with(view("healthy")), "db2")
    with pytest.raises(ActionError, match=r"no database named 'db9' .*there are: db1, db2"):
        actions.plan_failover(INV, state_with(view("healthy")), "db9")


# --- the steps' reading of Patroni's answers (canned curl output, no box) ----------------


class _Ctx:
    """Just enough of Context: canned answers to ctx.run, a clock, a poll without sleeps."""

    def __init__(self, *outputs: str, replication: tuple[list[tuple[str]], ...] = ()) -> None:
        self.outputs = list(outputs)
        self.replication = list(replication)  # what each pg_stat_replication read returns
        self.sent: list[tuple[str, str, float]] = []

    async def run(self, box: str, command: str, timeout: float) -> Result:
        self.sent.append((box, command, timeout))
        output = self.outputs.pop(0)
        if output == "timeout":
            raise RemoteTimeout(box, "did not finish")
        return Result(0, output, "")

    async def fetch(self, *args: Any) -> http.Answer:
        return await Context.fetch(cast(Context, self), *args)

    async def sql(self, db: Any, statement: str) -> list[tuple[str]]:
        self.sent.append((db.name, statement, 0.0))
        return self.replication.pop(0) if self.replication else []

    def clock(self) -> float:
        return 100.0

    async def poll(self, probe: Probe, timeout: float, every: float = 0.25) -> Check:
        while True:
            check = await probe(cast(Context, self))
            if check.ok or not self.outputs:
                return check


async def _poll_without_sleeps(
    ctx: Any, probe: Probe, timeout: float, every: float = 0.25
) -> Check:
    return await cast(_Ctx, ctx).poll(probe, timeout, every)


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps' watches poll the fake context's canned answers, without sleeping."""
    monkeypatch.setattr(checks, "poll", _poll_without_sleeps)


def _run_step(plan: Plan, n: int, ctx: _Ctx) -> tuple[str, Check]:
    step = plan.steps[n]

    async def go() -> tuple[str, Check]:
        said = await step.act(cast(Context, ctx))
        return said, await step.verify(cast(Context, ctx))

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("output", "ok", "says"),
    [
        (answered('Successfully switched over to "db2"'), True, "200: Successfully switched"),
        (answered("candidate name does not match with sync_standby", 412), False, "412, not 200"),
        (answered("Switchover failed", 503), False, "503, not 200: Switchover failed"),
        (answered("Switchover status unknown", 503), True, "watching"),
        (answered("", 0, exit=28), True, "watching"),
        (answered("", 0, exit=7), False, "nothing answers at"),
        (answered("Switchover scheduled", 202), False, "202, not 200"),
    ],
)
def test_the_post_reports_patronis_status_and_reason(output: str, ok: bool, says: str) -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    ctx = _Ctx(output)
    said, check = _run_step(plan, 0, ctx)
    assert check.ok is ok
    assert says in check.detail and said == check.detail
    assert ctx.sent == [("db1", plan.steps[0].command, 35.0)]  # the leader's Patroni


def test_the_post_is_checked_again_just_before_on_a_fresh_view() -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    pre = plan.steps[0].pre
    assert pre is not None

    async def before(output: str) -> Check:
        assert pre is not None
        return await pre(cast(Context, _Ctx(output)))

    assert asyncio.run(before(answered(fixture("healthy")))).ok
    moved = asyncio.run(before(answered(fixture("switched"))))
    assert not moved.ok
    assert "the leader is db2 now, not db1" in moved.detail
    with pytest.raises(ActionError, match="db2: nothing answers"):
        asyncio.run(before(answered("", 0, exit=7)))


def test_the_watch_waits_through_errors_until_the_candidate_leads_and_the_old_leader_follows() -> (
    None
):
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    half = json.loads(fixture("switched"))
    half["members"][0]["state"] = "stopped"
    switched = answered(fixture("switched"))
    ctx = _Ctx(
        answered("", 0, exit=7),
        "timeout",
        answered(fixture("healthy")),
        answered(json.dumps(half)),
        switched,
        switched,
        # db1 streams once its own connection to db2 says so, not when Patroni's view does.
        replication=([], [("catchup",)], [("streaming",)]),
    )
    said, check = _run_step(plan, 1, ctx)
    assert check.ok, check.detail
    assert said == "db2 leads; db1 streams from it"
    assert not ctx.outputs and not ctx.replication
    asked = [command for where, command, _ in ctx.sent if where == "db2"]
    assert "application_name = 'db1'" in asked[-1], asked


def test_the_watch_reports_the_last_view_when_it_never_settles() -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    _, check = _run_step(plan, 1, _Ctx(answered(fixture("healthy"))))
    assert (check.ok, check.detail) == (False, "leader: db1, running")
    failover = actions.plan_failover(INV, state_with(view("healthy")), "db2")
    switched = json.loads(fixture("switched"))
    del switched["members"][0]  # the old leader is gone: a failover does not wait for it
    _, check = _run_step(failover, 1, _Ctx(answered(json.dumps(switched))))
    assert (check.ok, check.detail) == (True, "db2 leads, running")
