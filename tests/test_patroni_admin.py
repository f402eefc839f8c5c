"""Patroni's administration without a Patroni: pause, resume and restart, planned and run.

The answers under fixtures/patroni (member_*.json) were read
from the Patroni lab's Patroni 4.1.5. Where a step runs, a fake ``ctx.run``
hands back canned curl output (tests/support/patroni_run.py); nothing here
talks to a box.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from console.actions import catalog
from console.actions.database import patroni_pause, patroni_restart
from console.actions.plan import Check
from console.errors import ActionError
from console.probes import http
from tests.support import verdict_parts as parts
from tests.support.patroni_parts import INV, URL, answered, fixture, state_with, view
from tests.support.patroni_run import (
    LATER,
    CannedCtx,
    cluster_answer,
    member_answer,
    run_plan,
    skip_sleeps,
    with_boxes,
)

PAUSED = view("paused_scheduled")
HEALTHY = view("healthy")


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_sleeps(monkeypatch)


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
    state = with_boxes(state_with(switched), stale={"db2"})
    assert patroni_pause.plan_pause(INV, state).steps[0].where == "curl on db1 to Patroni"
    nobody = with_boxes(state_with(switched), stale={"db1", "db2"})
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
    silent = with_boxes(state_with(HEALTHY), stale={"db2"})
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


def test_pause_sends_the_patch_then_reads_until_cluster_says_paused() -> None:
    plan = patroni_pause.plan_pause(INV, state_with(HEALTHY))
    ctx = CannedCtx(
        cluster_answer(False),
        answered('{"ttl": 30, "pause": true}'),
        cluster_answer(False),
        cluster_answer(True),
    )
    assert run_plan(plan, ctx) == [Check(True, "/cluster says paused")]
    assert [c for _, c in ctx.sent].count(plan.steps[0].command) == 1


def test_pause_sends_nothing_when_patroni_is_paused_already() -> None:
    plan = patroni_pause.plan_pause(INV, state_with(HEALTHY))  # paused since the snapshot
    ctx = CannedCtx(cluster_answer(True), cluster_answer(True))
    assert run_plan(plan, ctx) == [
        Check(True, "already paused, nothing sent: /cluster says paused")
    ]
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
        run_plan(plan, CannedCtx(cluster_answer(False), output))
    assert says in str(raised.value)


def test_a_pause_that_never_shows_fails_with_what_cluster_says() -> None:
    plan = patroni_pause.plan_resume(INV, state_with(PAUSED))
    ctx = CannedCtx(cluster_answer(True), answered("{}"), "timeout", cluster_answer(True))
    assert run_plan(plan, ctx) == [Check(False, "/cluster says paused")]


def test_a_restart_posts_then_waits_for_a_new_postmaster() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2")
    ctx = CannedCtx(
        member_answer(),  # before
        answered(fixture("healthy")),
        answered("restarted successfully"),
        answered("", 0, exit=7),  # Patroni busy: asked again
        member_answer(),  # not restarted yet
        member_answer(LATER, "starting"),
        member_answer(LATER),
    )
    checks = run_plan(plan, ctx)
    assert checks == [
        Check(True, "Patroni answered 200: restarted successfully"),
        Check(True, f"db2 running again, started {LATER}"),
    ]
    assert {box for box, _ in ctx.sent} == {"db2"}


def test_a_pending_restart_with_nothing_pending_restarts_nothing_and_says_so() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2", pending=True)
    (said,) = [c.detail for c in plan.preconditions if c.what == "only if a restart is pending"]
    assert "none pending now: most likely nothing is restarted" in said
    waiting = replace(
        HEALTHY, members=tuple(replace(m, pending_restart=True) for m in HEALTHY.members)
    )
    again = patroni_restart.plan_restart(INV, state_with(waiting), "db2", pending=True)
    assert any("has one pending now" in c.detail for c in again.preconditions)
    ctx = CannedCtx(
        member_answer(),
        answered(fixture("healthy")),
        answered("restart conditions are not satisfied", 503),
        member_answer(),
    )
    assert [c.detail for c in run_plan(plan, ctx)] == [
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
    ctx = CannedCtx(member_answer(), answered(fixture("healthy")), output, member_answer(LATER))
    check = run_plan(plan, ctx)[0]
    assert check.ok is ok and says in check.detail, check


def test_the_restart_is_judged_again_before_the_post() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db2")
    checks = run_plan(plan, CannedCtx(member_answer(), answered(fixture("switched"))))
    assert checks == [Check(False, "db2 is Patroni's leader now, not a replica: plan again")]
    with pytest.raises(ActionError, match="db2: Patroni's /patroni answer is not JSON"):
        run_plan(plan, CannedCtx(answered("<html>")))


def test_the_leader_must_lead_again_after_its_restart() -> None:
    plan = patroni_restart.plan_restart(INV, state_with(HEALTHY), "db1")
    ctx = CannedCtx(
        member_answer(),
        answered(fixture("healthy")),
        answered("restarted successfully"),
        member_answer(LATER),
        answered(fixture("switched")),
    )
    assert run_plan(plan, ctx)[-1] == Check(
        False, f"db1 running again, started {LATER}; the leader is db2"
    )
    again = CannedCtx(
        member_answer(),
        answered(fixture("healthy")),
        answered("restarted successfully"),
        member_answer(LATER),
        answered(fixture("healthy")),
    )
    assert run_plan(plan, again)[-1].detail.endswith("; still the leader")
