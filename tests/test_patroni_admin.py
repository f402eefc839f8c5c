"""Patroni's administration without a Patroni: pause, resume and restart, planned and run.

The answers under fixtures/patroni (member_*.json) were read
from the Patroni lab's Patroni 4.1.5. Where a step runs, a fake ``ctx.run``
hands back canned curl output; nothing here talks to a box.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any, cast

import pytest

from console.actions import catalog
from console.actions.context import Context
from console.actions.database import patroni_pause, patroni_reinit, patroni_restart
from console.actions.plan import Check, Plan, Probe
from console.errors import ActionError
from console.probes import http
from console.probes.patroni import PatroniProbeError
from console.probes.patroni_rest import MemberStatus, parse_member
from console.ssh import RemoteTimeout, Result
from console.state.model import ClusterState
from tests.support import verdict_parts as parts
from tests.support.patroni_parts import INV, URL, answered, fixture, state_with, view

PAUSED = view("paused_scheduled")
HEALTHY = view("healthy")


# --- reading /patroni and /history ------------------------------------------------------


def test_a_members_own_status_is_read_from_patronis_answer() -> None:
    replica = parse_member(fixture("member_replica"))
    assert replica == MemberStatus("running", "replica", "2026-12-07 12:34:27.281961+00:00", False)
    assert parse_member(fixture("member_leader")).role == "primary"
    pending = json.loads(fixture("member_replica")) | {"pending_restart": True}
    assert parse_member(json.dumps(pending)).pending_restart
    stopped = parse_member('{"state": "stopped"}')  # PostgreSQL down: no role, no start time
    assert (stopped.state, stopped.role, stopped.started) == ("stopped", "", "")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("<html>502 Bad Gateway</html>", "Patroni's /patroni answer is not JSON"),
        ('["running"]', "a JSON list at the top, not an object"),
        ('{"role": "replica"}', "state as nothing"),
        ('{"state": 7}', "state as a number"),
        ('{"state": "running", "pending_restart": "yes"}', "pending_restart as a text"),
        ('{"state": "run\\u001b[2Jning"}', "control characters in state"),
    ],
)
def test_a_members_status_out_of_shape_says_what_and_where_to_look(text: str, says: str) -> None:
    with pytest.raises(PatroniProbeError, match=r"Check it in cluster\.yaml") as raised:
        parse_member(text)
    assert says in str(raised.value)


# --- the plans ----------------------------------------------------------------------------


def test_pause_asks_patroni_from_the_leaders_box_and_says_what_stops() -> None:
    plan = patroni_pause.plan_pause(INV, state_with(HEALTHY))
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == (
        "patroni pause",
        "the site",
        (),
        None,
    )
    assert "no failover" in plan.summary and "`hotspare promote` refuses" in plan.summary
    assert plan.way_back == "hotspare patroni resume"
    (step,) = plan.steps
    patch = http.Request("PATCH", f"{URL}/config", 10.0, '{"pause":true}', http.JSON)
    assert (step.command, step.where) == (patch.command(), "curl on db1 to Patroni")
    assert "pg_ctl" not in json.dumps(plan.as_dict())


def test_pause_when_already_paused_and_resume_when_not_say_so() -> None:
    assert "already paused" in patroni_pause.plan_pause(INV, state_with(PAUSED)).summary
    plan = patroni_pause.plan_resume(INV, state_with(HEALTHY))
    assert plan.summary == "Patroni is not paused: read again, nothing sent"
    assert plan.refusals == () and len(plan.steps) == 1


def test_resume_shows_what_patroni_takes_over() -> None:
    stopped = replace(
        PAUSED, members=(PAUSED.members[0], replace(PAUSED.members[1], state="stopped"))
    )
    plan = patroni_pause.plan_resume(INV, state_with(stopped))
    assert plan.way_back == "hotspare patroni pause"
    said = {c.what: c.detail for c in plan.preconditions}
    assert said["what Patroni takes over"] == (
        "db1 leads, running; db2 is stopped: Patroni starts or follows it"
    )
    assert '{"pause":false}' in plan.steps[0].command


def test_the_box_asked_is_the_leaders_unless_it_does_not_answer() -> None:
    switched = view("switched")  # db2 leads
    assert patroni_pause.plan_pause(INV, state_with(switched)).steps[0].where == (
        "curl on db2 to Patroni"
    )
    state = _with_boxes(state_with(switched), stale={"db2"})
    assert patroni_pause.plan_pause(INV, state).steps[0].where == "curl on db1 to Patroni"
    nobody = _with_boxes(state_with(switched), stale={"db1", "db2"})
    (refusal,) = patroni_pause.plan_pause(INV, nobody).refusals
    assert refusal == (
        "no database box answers (db1: connection refused; db2: connection refused): "
        "see `hotspare status`"
    )


def test_pause_and_resume_refuse_without_a_current_view_and_need_patroni_declared() -> None:
    (refusal,) = patroni_pause.plan_pause(INV, state_with(None)).refusals
    assert refusal == "Patroni's view is unknown: hotspare has not read it yet"
    with pytest.raises(ActionError, match="does not say Patroni manages any database"):
        patroni_pause.plan_resume(parts.INV, state_with(None))


def test_restarting_a_replica_needs_a_yes_and_the_leader_its_name_typed() -> None:
    replica = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2")
    assert (replica.action, replica.target, replica.refusals, replica.confirm) == (
        "patroni restart",
        "db2",
        (),
        None,
    )
    ask, watch = replica.steps
    post = http.Request("POST", f"{URL}/restart", 60.0, "{}", http.JSON)
    assert (ask.command, ask.where) == (post.command(), "curl on db2 to Patroni")
    assert watch.command == f"GET {URL}/patroni (every 1 s)"
    leader = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db1", pending=True)
    assert leader.confirm == "db1"
    assert "writes stop for a few seconds" in leader.summary
    assert "if a restart is pending" in leader.summary
    assert """-d '{"restart_pending":true}'""" in leader.steps[0].command
    assert "the only leader again" in leader.steps[1].proves
    plans = json.dumps([replica.as_dict(), leader.as_dict()])
    assert "pg_ctl" not in plans


def test_a_restart_is_refused_for_a_member_patroni_does_not_know_or_cannot_be_asked() -> None:
    renamed = replace(
        HEALTHY, members=(HEALTHY.members[0], replace(HEALTHY.members[1], name="pg2"))
    )
    (refusal,) = patroni_restart.plan_restart(INV, state_with(renamed), "db2").refusals
    assert refusal.startswith("Patroni has no member db2 (it has: db1, pg2)")
    silent = _with_boxes(state_with(HEALTHY), stale={"db2"})
    (refusal,) = patroni_restart.plan_restart(INV, silent, "db2").refusals
    assert "db2 does not answer" in refusal
    (refusal,) = patroni_restart.plan_restart(INV, state_with(None), "db2").refusals
    assert "Patroni's view is unknown" in refusal
    with pytest.raises(ActionError, match=r"no database named 'db9'.*there are: db1, db2"):
        patroni_restart.plan_restart(INV, state_with(HEALTHY), "db9")
    with pytest.raises(ActionError, match="does not say Patroni manages db2"):
        patroni_restart.plan_restart(parts.INV, state_with(HEALTHY), "db2")


def test_the_catalogue_words_and_the_command_lines_they_make() -> None:
    found = {a.name: a for a in catalog.ACTIONS}
    restart = found["patroni restart"]
    assert catalog.command(restart, "db2", {"pending": True}) == (
        "hotspare patroni restart db2 --pending",
        "hotspare patroni restart db2",
    )
    assert {"patroni pause", "patroni resume"} <= set(found)
    assert all(found[n].key is None for n in ("patroni pause", "patroni resume", "patroni restart"))


# --- the steps, on canned curl output ----------------------------------------------------


class _Ctx:
    """Just enough of Context: canned answers to ctx.run, each command kept."""

    def __init__(self, *outputs: str) -> None:
        self.outputs = list(outputs)
        self.sent: list[tuple[str, str]] = []

    async def run(self, box: str, command: str, timeout: float) -> Result:
        self.sent.append((box, command))
        output = self.outputs.pop(0)
        if output == "timeout":
            raise RemoteTimeout(box, "did not finish")
        return Result(0, output, "")

    async def fetch(self, *args: Any) -> http.Answer:
        return await Context.fetch(cast(Context, self), *args)

    def clock(self) -> float:
        return 100.0


async def _poll_without_sleeps(
    ctx: Any, probe: Probe, timeout: float, every: float = 0.25
) -> Check:
    """Polls until the probe passes or the canned answers run out."""
    while True:
        check = await probe(ctx)
        if check.ok or not cast(_Ctx, ctx).outputs:
            return check


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patroni_pause, "poll", _poll_without_sleeps)
    monkeypatch.setattr(patroni_restart, "poll", _poll_without_sleeps)


def _run(plan: Plan, ctx: _Ctx) -> list[Check]:
    """Each step's precondition, act and verification, until one fails."""

    async def go() -> list[Check]:
        checks: list[Check] = []
        for step in plan.steps:
            if step.pre is not None and not (before := await step.pre(cast(Context, ctx))).ok:
                return [*checks, before]
            await step.act(cast(Context, ctx))
            checks.append(await step.verify(cast(Context, ctx)))
            if not checks[-1].ok:
                break
        return checks

    return asyncio.run(go())


def _cluster(paused: bool) -> str:
    return answered(
        json.dumps(json.loads(fixture("healthy")) | ({"pause": True} if paused else {}))
    )


def test_pause_sends_the_patch_then_reads_until_cluster_says_paused() -> None:
    plan = patroni_pause.plan_pause(INV, state_with(HEALTHY))
    ctx = _Ctx(
        _cluster(False), answered('{"ttl": 30, "pause": true}'), _cluster(False), _cluster(True)
    )
    assert _run(plan, ctx) == [Check(True, "/cluster says paused")]
    assert [c for _, c in ctx.sent].count(plan.steps[0].command) == 1


def test_pause_sends_nothing_when_patroni_is_paused_already() -> None:
    plan = patroni_pause.plan_pause(INV, state_with(HEALTHY))  # paused since the snapshot
    ctx = _Ctx(_cluster(True), _cluster(True))
    assert _run(plan, ctx) == [Check(True, "already paused, nothing sent: /cluster says paused")]
    assert plan.steps[0].command not in [c for _, c in ctx.sent]


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (answered("", 409), "Patroni answered 409, not 200, to PATCH /config"),
        (answered("", 0, exit=7), "db1: nothing answers at http://127.0.0.1:8008/config"),
        (answered("", 0, exit=127), "curl is not installed on the box"),
    ],
)
def test_a_refused_patch_says_what_patroni_said_and_what_to_do(output: str, says: str) -> None:
    plan = patroni_pause.plan_pause(INV, state_with(HEALTHY))
    with pytest.raises(ActionError) as raised:
        _run(plan, _Ctx(_cluster(False), output))
    assert says in str(raised.value)


def test_a_pause_that_never_shows_fails_with_what_cluster_says() -> None:
    plan = patroni_pause.plan_resume(INV, state_with(PAUSED))
    ctx = _Ctx(_cluster(True), answered("{}"), "timeout", _cluster(True))
    assert _run(plan, ctx) == [Check(False, "/cluster says paused")]


def _member(started: str = "2026-12-07 12:34:27.281961+00:00", state: str = "running") -> str:
    data = json.loads(fixture("member_replica")) | {
        "postmaster_start_time": started,
        "state": state,
    }
    return answered(json.dumps(data))


LATER = "2026-12-07 12:40:00.000001+00:00"


def test_a_restart_posts_then_waits_for_a_new_postmaster() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2")
    ctx = _Ctx(
        _member(),  # before
        answered(fixture("healthy")),
        answered("restarted successfully"),
        answered("", 0, exit=7),  # Patroni busy: asked again
        _member(),  # not restarted yet
        _member(LATER, "starting"),
        _member(LATER),
    )
    checks = _run(plan, ctx)
    assert checks == [
        Check(True, "Patroni answered 200: restarted successfully"),
        Check(True, f"db2 running again, started {LATER}"),
    ]
    assert {box for box, _ in ctx.sent} == {"db2"}


def test_a_pending_restart_with_nothing_pending_restarts_nothing_and_says_so() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2", pending=True)
    ctx = _Ctx(
        _member(),
        answered(fixture("healthy")),
        answered("restart conditions are not satisfied", 503),
        _member(),
    )
    assert [c.detail for c in _run(plan, ctx)] == [
        "no restart pending: Patroni restarted nothing",
        "db2 running, not restarted (started 2026-12-07 12:34:27.281961+00:00 as before)",
    ]


@pytest.mark.parametrize(
    ("output", "ok", "says"),
    [
        (answered("restart failed", 503), False, "503, not 200: restart failed; look at"),
        (answered("restart already in progress", 503), False, "already in progress"),
        (answered("restart conditions are not satisfied", 503), False, "503, not 200"),
        (answered("", 0, exit=28), True, "no answer from Patroni in 60 s; watching"),
        (answered("", 0, exit=7), False, "nothing answers at http://127.0.0.1:8008/restart"),
    ],
)
def test_the_restart_reports_patronis_answer(output: str, ok: bool, says: str) -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2")
    ctx = _Ctx(_member(), answered(fixture("healthy")), output, _member(LATER))
    check = _run(plan, ctx)[0]
    assert check.ok is ok and says in check.detail, check


def test_the_restart_is_judged_again_before_the_post() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2")
    checks = _run(plan, _Ctx(_member(), answered(fixture("switched"))))
    assert checks == [Check(False, "db2 is Patroni's leader now, not a replica: plan again")]
    with pytest.raises(ActionError, match="db2: Patroni's /patroni answer is not JSON"):
        _run(plan, _Ctx(answered("<html>")))


def test_the_leader_must_lead_again_after_its_restart() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db1")
    ctx = _Ctx(
        _member(),
        answered(fixture("healthy")),
        answered("restarted successfully"),
        _member(LATER),
        answered(fixture("switched")),
    )
    assert _run(plan, ctx)[-1] == Check(
        False, f"db1 running again, started {LATER}; the leader is db2"
    )
    again = _Ctx(
        _member(),
        answered(fixture("healthy")),
        answered("restarted successfully"),
        _member(LATER),
        answered(fixture("healthy")),
    )
    assert _run(plan, again)[-1].detail.endswith("; still the leader")


def _with_boxes(state: ClusterState, stale: set[str]) -> ClusterState:
    boxes = tuple(
        parts.box(b.box, stale=True, reason="connection refused") if b.box in stale else b
        for b in state.boxes
    )
    return replace(state, boxes=boxes)


# --- reinit -------------------------------------------------------------------------------


def test_a_reinit_rebuilds_a_replica_with_its_name_typed_and_never_the_leader() -> None:
    plan = patroni_reinit.plan_reinit(INV, state_with(HEALTHY), "db2")
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == (
        "patroni reinit",
        "db2",
        (),
        "db2",
    )
    assert "deletes db2's data directory and copies it again from db1" in plan.summary
    ask, watch = plan.steps
    post = http.Request("POST", f"{URL}/reinitialize", 15.0, "{}", http.JSON)
    assert (ask.command, ask.where) == (post.command(), "curl on db2 to Patroni")
    assert "streaming" in watch.proves
    assert "pg_basebackup" not in json.dumps(plan.as_dict()["steps"])  # Patroni copies, not us
    (refusal,) = patroni_reinit.plan_reinit(INV, state_with(HEALTHY), "db1").refusals
    assert "db1 is Patroni's leader: a leader is never rebuilt" in refusal
    (refusal,) = patroni_reinit.plan_reinit(INV, state_with(None), "db2").refusals
    assert "Patroni's view is unknown" in refusal
    silent = _with_boxes(state_with(HEALTHY), stale={"db2"})
    (refusal,) = patroni_reinit.plan_reinit(INV, silent, "db2").refusals
    assert "db2 does not answer" in refusal


def test_a_reinit_posts_then_waits_until_the_member_streams_again() -> None:
    plan = patroni_reinit.plan_reinit(INV, state_with(HEALTHY), "db2")
    copying = json.loads(fixture("healthy"))
    copying["members"][1]["state"] = "creating replica"
    ctx = _Ctx(
        _member(),  # before
        answered(fixture("healthy")),
        answered("reinitialize started"),
        _member(LATER, "stopped"),
        answered(json.dumps(copying)),
        _member(LATER),
        answered(fixture("healthy")),
    )
    checks = _run(plan, ctx)
    assert checks == [
        Check(True, "Patroni answered 200: reinitialize started"),
        Check(True, f"db2 running again, started {LATER}; streaming"),
    ]


def test_a_refused_reinit_says_what_patroni_said() -> None:
    plan = patroni_reinit.plan_reinit(INV, state_with(HEALTHY), "db2")
    ctx = _Ctx(_member(), answered(fixture("healthy")), answered("Cluster has no leader", 503))
    (check,) = _run(plan, ctx)
    assert not check.ok and "Patroni answered 503, not 200: Cluster has no leader" in check.detail
