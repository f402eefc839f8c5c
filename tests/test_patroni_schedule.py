"""A switchover Patroni runs by itself at a set time, and its cancel, without a Patroni.

The plans are built from canned views of Patroni (tests/fixtures/patroni);
where a step runs, a fake ``ctx.run`` hands back canned curl output
(tests/support/patroni_run.py), with Patroni 4.1.5's own answers to ``POST``
and ``DELETE /switchover``. Nothing here talks to a box.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from console.actions import catalog
from console.actions.database import patroni as promote_through_patroni
from console.actions.database import patroni_schedule as schedule
from console.errors import ActionError, Exit
from console.probes import http
from console.probes.patroni import parse_cluster
from console.state.patroni import PatroniView
from tests.support.patroni_parts import (
    INV,
    URL,
    answered,
    fixture,
    patroni_inventory,
    state_with,
    view,
)
from tests.support.patroni_run import CannedCtx, poll_without_sleeps, run_plan, with_boxes

NOW = datetime(2026, 11, 26, 2, 10, 20, tzinfo=UTC)
AT = datetime(2026, 11, 26, 3, 30, 15, tzinfo=UTC)
SCHEDULED = "2026-11-26T03:30:15+00:00"  # AT as Patroni's /cluster gives it back
HEALTHY = view("healthy")


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule, "poll", poll_without_sleeps)


def _body(at: str | None = None, pause: bool = False, leader: str = "db1") -> str:
    """/cluster's JSON as Patroni 4.1.5 gives it: db1 leads (or LEADER), a switchover at AT."""
    data = json.loads(fixture("healthy"))
    if leader != "db1":
        data["members"][0]["role"], data["members"][1]["role"] = "replica", "leader"
    if at is not None:
        data["scheduled_switchover"] = {"at": at, "from": "db1", "to": "db2"}
    if pause:
        data["pause"] = True
    return json.dumps(data)


def _cluster(at: str | None = None, pause: bool = False, leader: str = "db1") -> str:
    """What curl prints for GET /cluster (see _body)."""
    return answered(_body(at, pause, leader))


def _view(at: str | None = None, leader: str = "db1") -> PatroniView:
    return parse_cluster(_body(at, leader=leader), 100.0)


# --- --at: the time grammar, to the second, ahead ------------------------------------------


@pytest.mark.parametrize(
    ("given", "moment"),
    [
        ("10s", "2026-11-26 02:10:30"),
        ("1h30m", "2026-11-26 03:40:20"),
        ("03:30 UTC", "2026-11-26 03:30:00"),
        ("02:00 UTC", "2026-11-27 02:00:00"),  # a clock time is the next one
        ("2026-11-26T03:30:15 UTC", "2026-11-26 03:30:15"),
        ("2026-11-26T04:30:15+01:00", "2026-11-26 03:30:15"),
        ("2026-11-26T03:30:15.25 UTC", "2026-11-26 03:30:16"),  # rounded up, never early
    ],
)
def test_at_takes_the_until_forms_and_keeps_the_second(given: str, moment: str) -> None:
    at = schedule.parse_at(given, NOW)
    assert at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") == moment
    assert at.tzinfo is not None


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "2026-11-26T02:00 UTC",
            "--at '2026-11-26T02:00 UTC' is 2026-11-26 02:00:00 UTC, which has already passed",
        ),
        ("0s", "--at '0s' is now; give a time ahead"),
        ("soon", "--at 'soon' is not a time: expected a duration like 10m"),
        ("9999-12-31T23:59:59.5 UTC", "after 9999-12-31 23:59:59, the last second"),
    ],
)
def test_at_refuses_a_time_not_ahead_as_bad_input(given: str, said: str) -> None:
    with pytest.raises(ActionError) as info:
        schedule.parse_at(given, NOW)
    assert said in str(info.value) and info.value.exit == Exit.USAGE


def test_the_catalogue_reads_at_to_the_second_and_until_still_to_the_minute() -> None:
    found = {a.name: a for a in catalog.ACTIONS}
    at = next(o for o in found["patroni switchover"].options if o.name == "at")
    until = next(o for o in found["maintenance on"].options if o.name == "until")
    moment = catalog.read_option(at, "2099-01-01T03:30:15 UTC")
    assert moment == datetime(2099, 1, 1, 3, 30, 15, tzinfo=UTC)
    assert catalog.read_option(until, "2099-01-01T03:30:15 UTC").at.minute == 31
    assert catalog.read_option(at, None) is None
    with pytest.raises(ActionError, match=r"--at '2020-01-01' is .* already passed"):
        catalog.read_option(at, "2020-01-01")


def test_the_catalogue_words_and_the_command_lines_they_make() -> None:
    found = {a.name: a for a in catalog.ACTIONS}
    switchover, cancel = found["patroni switchover"], found["patroni cancel-switchover"]
    assert catalog.command(switchover, "db2", {"at": "03:30"}) == (
        "hotspare patroni switchover db2 --at 03:30",
        "hotspare patroni switchover db2",
    )
    assert catalog.command(cancel, None, {}) == ("hotspare patroni cancel-switchover",) * 2
    assert switchover.key is None and cancel.key is None
    assert "scheduled switchover" in catalog.PARENTS["patroni"]


# --- the scheduled switchover's plan -------------------------------------------------------


def test_a_scheduled_switchover_posts_the_time_with_its_zone_and_says_patroni_checks_again() -> (
    None
):
    plan = schedule.plan_patroni_switchover(INV, state_with(HEALTHY), "db2", AT)
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == (
        "patroni switchover",
        "db2",
        (),
        "db2",
    )
    assert plan.way_back.startswith("hotspare patroni cancel-switchover")
    (step,) = plan.steps
    body = '{"leader":"db1","candidate":"db2","scheduled_at":"2026-11-26T03:30:15+00:00"}'
    post = http.Request("POST", f"{URL}/switchover", 10.0, body, http.JSON)
    assert (step.command, step.where) == (post.command(), "curl on db2 to Patroni")
    assert "Patroni answers 202" in step.proves and "from db1 to db2" in step.proves
    assert "at 2026-11-26 03:30:15 UTC" in plan.summary
    assert "checks its own again at that time and may refuse then" in plan.summary
    assert "db1's Patroni log" in plan.summary and "no switchover happens" in plan.summary
    said = {c.what: c.detail for c in plan.preconditions}
    assert said["no switchover is scheduled"] == "none"
    assert said["the time is ahead"].startswith("2026-11-26 03:30:15 UTC, in ")
    assert all(c.ok for c in plan.preconditions)
    assert "pg_ctl" not in json.dumps(plan.as_dict())


def test_without_at_it_is_the_promote_plan_under_its_own_name() -> None:
    state = state_with(HEALTHY)
    now = schedule.plan_patroni_switchover(INV, state, "db2")
    promote = promote_through_patroni.plan_switchover(INV, state, "db2")
    assert now.action == "patroni switchover"
    assert replace(now, action="promote").as_dict() == promote.as_dict()
    refused = schedule.plan_patroni_switchover(INV, state, "db1")
    assert refused.action == "patroni switchover" and refused.steps == ()
    assert "db1 is Patroni's leader, not a replica" in refused.refusals


@pytest.mark.parametrize(
    ("fixture_name", "says"),
    [
        (
            "paused_scheduled",
            "Patroni is paused (maintenance mode): resume it with `hotspare patroni resume` first",
        ),
        (
            "paused_scheduled",
            "Patroni has a switchover scheduled at 2026-11-26T03:30:00+00:00 (db1 to db2): "
            "cancel it with `hotspare patroni cancel-switchover`, or let it run first",
        ),
        ("no_leader", "Patroni shows no leader: a switchover needs one"),
        (
            "lagging_unknown",
            "db2 is 50.0MB behind the leader, more than switchover_max_lag (16.0MB): "
            "wait for it to catch up",
        ),
    ],
)
def test_a_scheduled_switchover_is_refused_on_todays_switchover_conditions(
    fixture_name: str, says: str
) -> None:
    plan = schedule.plan_patroni_switchover(INV, state_with(view(fixture_name)), "db2", AT)
    assert plan.steps == ()
    assert says in plan.refusals, plan.refusals


def test_the_promote_refusal_names_the_cancel_command() -> None:
    plan = promote_through_patroni.plan_switchover(INV, state_with(_view(SCHEDULED)), "db2")
    (refusal,) = plan.refusals
    assert "cancel it with `hotspare patroni cancel-switchover`" in refusal
    assert "patronictl" not in refusal


def test_a_time_passed_since_or_a_silent_box_is_refused() -> None:
    late = replace(state_with(HEALTHY), taken_at=AT.timestamp() + 1)
    (refusal,) = schedule.plan_patroni_switchover(INV, late, "db2", AT).refusals
    assert refusal == "2026-11-26 03:30:15 UTC has passed: give a time ahead"
    silent = with_boxes(state_with(HEALTHY), stale={"db2"})
    (refusal,) = schedule.plan_patroni_switchover(INV, silent, "db2", AT).refusals
    assert refusal == "db2 does not answer (connection refused): see `hotspare status`"
    (refusal,) = schedule.plan_patroni_switchover(INV, state_with(None), "db2", AT).refusals
    assert refusal == "Patroni's view is unknown: hotspare has not read it yet"
    with pytest.raises(ActionError, match=r"no database named 'db9'"):
        schedule.plan_patroni_switchover(INV, state_with(HEALTHY), "db9", AT)


# --- the scheduled switchover, run on canned answers ------------------------------------------


def test_scheduling_reads_again_posts_and_sees_the_schedule_in_cluster() -> None:
    plan = schedule.plan_patroni_switchover(INV, state_with(HEALTHY), "db2", AT)
    ctx = CannedCtx(
        _cluster(),  # read again just before
        answered("Switchover scheduled", 202),
        _cluster(),  # not shown yet
        _cluster(SCHEDULED),
    )
    (check,) = run_plan(plan, ctx)
    assert check.ok, check
    assert check.detail == "/cluster shows a switchover at 2026-11-26T03:30:15+00:00, db1 to db2"
    sent = [command for _, command in ctx.sent]
    assert sent[1] == plan.steps[0].command and "-X POST" in sent[1]
    assert all("-X" not in command for command in sent[:1] + sent[2:])  # the rest only read


def test_a_schedule_at_another_time_is_not_the_one_asked() -> None:
    plan = schedule.plan_patroni_switchover(INV, state_with(HEALTHY), "db2", AT)
    other = _cluster("2026-11-26T03:31:00+00:00")
    (check,) = run_plan(plan, CannedCtx(_cluster(), answered("Switchover scheduled", 202), other))
    assert not check.ok
    assert check.detail == "/cluster shows a switchover at 2026-11-26T03:31:00+00:00, db1 to db2"
    later = AT + timedelta(seconds=45)
    assert schedule.scheduled_as_asked(_view("2026-11-26T04:31:00+01:00"), "db1", "db2", later).ok
    assert not schedule.scheduled_as_asked(_view(SCHEDULED), "db1", "db3", AT).ok


def test_a_switchover_already_carried_out_when_read_counts_as_scheduled() -> None:
    check = schedule.scheduled_as_asked(_view(leader="db2"), "db1", "db2", AT)
    assert check.ok and check.detail == "the time came already: db2 leads"


def test_scheduling_stops_before_sending_when_the_view_changed_or_the_time_passed() -> None:
    plan = schedule.plan_patroni_switchover(INV, state_with(HEALTHY), "db2", AT)
    ctx = CannedCtx(_cluster(pause=True))
    (before,) = run_plan(plan, ctx)
    assert not before.ok and "Patroni is paused" in before.detail
    assert len(ctx.sent) == 1  # nothing was posted
    ctx = CannedCtx(_cluster(leader="db2"))
    (before,) = run_plan(plan, ctx)
    assert "the leader is db2 now, not db1" in before.detail
    late = CannedCtx(_cluster())
    late.clock = lambda: AT.timestamp()  # type: ignore[method-assign]
    (before,) = run_plan(plan, late)
    assert (
        before.detail
        == "2026-11-26 03:30:15 UTC has passed while planning: give a time further ahead"
    )


def test_patronis_refusal_to_schedule_fails_the_step_with_its_words() -> None:
    plan = schedule.plan_patroni_switchover(INV, state_with(HEALTHY), "db2", AT)
    ctx = CannedCtx(_cluster(), answered("Cannot schedule switchover in the past", 422))
    with pytest.raises(ActionError) as info:
        run_plan(plan, ctx)
    assert str(info.value) == (
        "Patroni answered 422, not 202, to POST /switchover: Cannot schedule switchover in "
        "the past; look at Patroni's log on db2"
    )


# --- the cancel -----------------------------------------------------------------------------


def test_cancel_is_refused_in_a_sentence_when_none_is_scheduled() -> None:
    plan = schedule.plan_cancel_switchover(INV, state_with(HEALTHY))
    assert (plan.action, plan.target, plan.steps) == ("patroni cancel-switchover", "the site", ())
    assert plan.refusals == (
        "Patroni has no switchover scheduled (read from /cluster): there is nothing to cancel",
    )
    (refusal,) = schedule.plan_cancel_switchover(INV, state_with(None)).refusals
    assert refusal == "Patroni's view is unknown: hotspare has not read it yet"


def test_cancel_deletes_the_schedule_and_says_what_stays() -> None:
    state = state_with(_view(SCHEDULED))
    plan = schedule.plan_cancel_switchover(INV, state)
    assert (plan.refusals, plan.confirm) == ((), None)
    assert plan.summary == (
        "Patroni forgets its switchover (at 2026-11-26T03:30:15+00:00, db1 to db2): none "
        "happens then; db1 stays the leader"
    )
    assert plan.way_back.startswith(
        "hotspare patroni switchover db2 --at 2026-11-26T03:30:15+00:00"
    )
    (step,) = plan.steps
    delete = http.Request("DELETE", f"{URL}/switchover", 10.0)
    assert (step.command, step.where) == (delete.command(), "curl on db1 to Patroni")
    ctx = CannedCtx(
        _cluster(SCHEDULED),
        answered("scheduled switchover deleted"),
        _cluster(),
    )
    (check,) = run_plan(plan, ctx)
    assert check == check.__class__(True, "/cluster shows no switchover scheduled")
    assert [command for _, command in ctx.sent][1] == delete.command()


def test_cancel_when_it_is_gone_by_the_time_it_runs_sends_nothing() -> None:
    plan = schedule.plan_cancel_switchover(INV, state_with(_view(SCHEDULED)))
    ctx = CannedCtx(_cluster(), _cluster())
    (check,) = run_plan(plan, ctx)
    assert check.ok and check.detail.startswith("none scheduled any more, nothing sent")
    assert all("DELETE" not in command for _, command in ctx.sent)


def test_cancel_fails_on_an_answer_other_than_200_or_404() -> None:
    plan = schedule.plan_cancel_switchover(INV, state_with(_view(SCHEDULED)))
    ctx = CannedCtx(_cluster(SCHEDULED), answered("", 409))
    with pytest.raises(ActionError, match="Patroni answered 409, not 200, to DELETE /switchover"):
        run_plan(plan, ctx)
    gone = CannedCtx(_cluster(SCHEDULED), answered("no switchover is scheduled", 404), _cluster())
    (check,) = run_plan(plan, gone)
    assert check.ok


def test_the_requests_carry_the_files_cluster_yaml_names_for_tls_and_the_password() -> None:
    guarded = patroni_inventory(patroni_cacert="/etc/patroni/ca.pem", patroni_auth="/etc/p.netrc")
    post = schedule.plan_patroni_switchover(guarded, state_with(HEALTHY), "db2", AT).steps[0]
    delete = schedule.plan_cancel_switchover(guarded, state_with(_view(SCHEDULED))).steps[0]
    for step in (post, delete):
        assert "--cacert /etc/patroni/ca.pem" in step.command
        assert "--netrc-file /etc/p.netrc" in step.command
