"""Patroni's reinit without a Patroni: a replica rebuilt, planned and run.

Where a step runs, a fake ``ctx.run`` hands back canned curl output
(tests/support/patroni_run.py); nothing here talks to a box.
"""

from __future__ import annotations

import json

import pytest

from console.actions.database import patroni_reinit
from console.actions.plan import Check
from console.probes import http
from tests.support.patroni_parts import INV, URL, answered, fixture, state_with, view
from tests.support.patroni_run import (
    LATER,
    CannedCtx,
    member_answer,
    run_plan,
    skip_sleeps,
    with_boxes,
)

HEALTHY = view("healthy")


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_sleeps(monkeypatch)


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
    silent = with_boxes(state_with(HEALTHY), stale={"db2"})
    (refusal,) = patroni_reinit.plan_reinit(INV, silent, "db2").refusals
    assert "db2 does not answer" in refusal


def test_a_reinit_posts_then_waits_until_the_member_streams_again() -> None:
    plan = patroni_reinit.plan_reinit(INV, state_with(HEALTHY), "db2")
    copying = json.loads(fixture("healthy"))
    copying["members"][1]["state"] = "creating replica"
    ctx = CannedCtx(
        member_answer(),  # before
        answered(fixture("healthy")),
        answered("reinitialize started"),
        member_answer(LATER, "stopped"),
        answered(json.dumps(copying)),
        member_answer(LATER),
        answered(fixture("healthy")),
    )
    checks = run_plan(plan, ctx)
    assert checks == [
        Check(True, "Patroni answered 200: reinitialize started"),
        Check(True, f"db2 running again, started {LATER}; streaming"),
    ]


def test_a_refused_reinit_says_what_patroni_said() -> None:
    plan = patroni_reinit.plan_reinit(INV, state_with(HEALTHY), "db2")
    ctx = CannedCtx(
        member_answer(), answered(fixture("healthy")), answered("Cluster has no leader", 503)
    )
    (check,) = run_plan(plan, ctx)
    assert not check.ok and "Patroni answered 503, not 200: Cluster has no leader" in check.detail
