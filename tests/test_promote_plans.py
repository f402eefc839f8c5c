"""Switchover, failover and rejoin plans built from synthetic snapshots, and their alarms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pytest

from console.actions.database.failover import plan_failover
from console.actions.database.promote import plan_switchover
from console.actions.database.rejoin import plan_rejoin
from console.actions.plan import Plan
from console.errors import ActionError
from console.inventory import Inventory
from console.state.balancer import SiteFlags, SiteMode
from console.state.model import ClusterState
from tests.support import verdict_parts as parts
from tests.support.verdict_parts import box, db, link

if TYPE_CHECKING:
    pass

INV = replace(parts.INV, balancer=replace(parts.INV.balancer, site_url="http://lb1:8080/"))  # type: ignore[type-var]
HEALTHY = parts.cluster_state()

READ_ONLY = [
    "Turn writes away at the balancer (read-only page)",
    "Save the site flags for a reload",
    "Check the site through the balancer",
]
REJOIN_AFTER_SWITCHOVER = [
    "Make sure db1 is stopped",
    "Make a replication slot for db1 on db2",
    "Rewind db1 onto db2's timeline",
    "Configure db1 as a standby of db2",
    "Start db1 as a standby",
    "Check db1 streams from db2",
    "Drop db1's slots from its primary days",
]


def titles(plan: Plan) -> list[str]:
    return [step.title for step in plan.steps]


def state(**changes: Any) -> ClusterState:
    return parts.cluster_state(**changes)


def with_db2(**changes: Any) -> ClusterState:
    return state(databases=(db("db1"), db("db2", role="standby", **changes)))


# --- switchover ------------------------------------------------------------------------


def test_a_healthy_site_gives_a_switchover_in_the_order_that_keeps_both_promises() -> None:
    plan = plan_switchover(INV, HEALTHY, "db2")
    assert plan.refusals == ()
    assert plan.preconditions and all(c.ok for c in plan.preconditions)
    assert titles(plan) == [
        *READ_ONLY,
        "Checkpoint db1",
        "Stop db1 (fast shutdown)",
        "Check db2 has every committed transaction",
        "Promote db2",
        "Check db2 takes writes",
        "Check the nodes still answer directly",
        "Lift the read-only mode on the balancer",
        "Check the site through the balancer",
    ]
    assert [s.title for s in plan.steps if s.no_return] == ["Promote db2"]
    assert plan.always == ()  # the cluster's action lock is the runner's, not a step
    assert plan.confirm == "db2"  # the candidate's name, typed
    assert plan.way_back == "hotspare promote db1 (after `hotspare rejoin db1`)"


def test_the_switchover_puts_back_what_it_did_before_the_promotion() -> None:
    plan = plan_switchover(INV, HEALTHY, "db2")
    undos = {s.title: s.undo.title for s in plan.steps if s.undo is not None}
    assert undos == {
        READ_ONLY[0]: "Lift the read-only mode on the balancer",
        "Stop db1 (fast shutdown)": "Start db1 again as the primary it was",
    }
    assert plan.steps[0].pre is not None  # the preconditions, judged again before the lock


def test_the_switchover_describes_its_checks_and_its_point_of_no_return() -> None:
    text = plan_switchover(INV, HEALTHY, "db2").describe()
    assert "    [ok] every member answers: db1, db2" in text
    assert "    [ok] db2 streams from db1: its WAL receiver is streaming; " in text
    assert "[NO]" not in text and "REFUSED" not in text
    assert "  7. Promote db2   (point of no return)" in text
    assert text.count("(point of no return)") == 1
    assert "if a later step fails first: Start db1 again as the primary it was" in text


def test_with_rejoin_the_old_primary_then_follows() -> None:
    plan = plan_switchover(INV, HEALTHY, "db2", rejoin=True)
    assert titles(plan)[-len(REJOIN_AFTER_SWITCHOVER) :] == REJOIN_AFTER_SWITCHOVER
    assert len(plan.steps) == 11 + len(REJOIN_AFTER_SWITCHOVER)
    assert plan.summary.endswith("db1 then follows db2 as a standby")
    assert plan.way_back == "hotspare promote db1"


@pytest.mark.parametrize("mode", ["read-only", "maintenance"])
def test_a_balancer_already_read_only_or_in_maintenance_is_left_as_it_is(mode: SiteMode) -> None:
    flags = SiteFlags(mode, "Back soon", None)
    plan = plan_switchover(INV, state(balancer=parts.balancer(flags=flags)), "db2")
    assert plan.refusals == ()
    assert not set(READ_ONLY[:2]) & set(titles(plan))
    assert "Lift the read-only mode on the balancer" not in titles(plan)
    assert "Check the site through the balancer" not in titles(plan)
    assert "Check the nodes still answer directly" in titles(plan)
    assert plan.summary.endswith("already read-only or in maintenance: left as it is")


@pytest.mark.parametrize(
    ("snapshot", "refusal"),
    [
        (
            with_db2(receiver_status=None),
            "db2 streams from db1: its WAL receiver is not running; db1 lists it as streaming",
        ),
        (
            state(databases=(db("db1", standbys=()), db("db2", role="standby"))),
            "db2 streams from db1: its WAL receiver is streaming; "
            "db1 does not list it in pg_stat_replication",
        ),
        (
            with_db2(replay_paused=True),
            "replay is not paused: replay is paused: pg_wal_replay_resume() on it first",
        ),
        (
            with_db2(timeline=2),
            "same timeline and system: timeline 2 vs 1, same system identifier",
        ),
        (
            with_db2(system_identifier="9999"),
            "same timeline and system: timeline 1 vs 1, system 9999 vs 7312",
        ),
        (
            state(databases=(db("db1"), db("db2"))),
            "exactly one primary: primaries: db1, db2",
        ),
        (
            state(boxes=tuple(box(b.name, stale=b.name == "db1") for b in INV.boxes)),
            "every member answers: db1 did not answer: it could be a primary",
        ),
    ],
)
def test_each_failed_precondition_refuses_in_its_own_words(
    snapshot: ClusterState, refusal: str
) -> None:
    plan = plan_switchover(INV, snapshot, "db2")
    assert refusal in plan.refusals
    assert plan.steps == () and plan.always == ()
    assert f"  REFUSED: {refusal}" in plan.describe()


def test_a_standby_further_behind_than_switchover_max_lag_is_refused() -> None:
    inv = replace(
        INV, databases=(INV.databases[0], replace(INV.databases[1], switchover_max_lag=1024))
    )
    behind = state(
        databases=(
            db("db1", standbys=(link(lag_bytes=3 * 1024 * 1024),)),
            db("db2", role="standby"),
        )
    )
    plan = plan_switchover(inv, behind, "db2")
    assert plan.refusals == ("lag under 1024 bytes (switchover_max_lag): 3.0 MiB not yet replayed",)
    assert plan_switchover(INV, behind, "db2").refusals == ()  # within the default 16 MiB


def test_promoting_the_primary_again_is_already_so() -> None:
    plan = plan_switchover(INV, HEALTHY, "db1")
    assert plan.refusals == () and plan.steps == ()
    assert plan.summary == "db1 is already the primary: nothing to do"


def test_the_primary_cannot_be_switched_over_to_while_another_member_is_unseen() -> None:
    unseen = state(boxes=tuple(box(b.name, stale=b.name == "db2") for b in INV.boxes))
    plan = plan_switchover(INV, unseen, "db1")
    assert "exactly one primary: db1 is already the primary" in plan.refusals
    assert plan.steps == ()


def test_an_unknown_candidate_names_the_databases_there_are() -> None:
    with pytest.raises(ActionError, match=r"no database named 'db9'.*there are: db1, db2"):
        plan_switchover(INV, HEALTHY, "db9")
    with pytest.raises(ActionError, match="there are: db1, db2"):
        plan_failover(INV, HEALTHY, "db9")
    with pytest.raises(ActionError, match="there are: db1, db2"):
        plan_rejoin(INV, HEALTHY, "db9")


@dataclass
class _SnapshotMonitor:
    """A Context reads .inv and .links from its monitor, and state() calls once(); no box."""

    fresh: ClusterState
    inv: Inventory = INV
    links: dict[str, Any] = field(default_factory=dict)

    async def once(self) -> ClusterState:
        return self.fresh


# --- failover --------------------------------------------------------------------------

DB1_GONE = (
    db("db1", role=None, writable=None),
    db("db2", role="standby", receiver_status="waiting"),
)


def test_no_failover_while_a_primary_answers() -> None:
    plan = plan_failover(INV, HEALTHY, "db2")
    assert plan.steps == ()
    (refusal, *_) = plan.refusals
    assert refusal == (
        "no primary answers the console: db1 answers as primary: "
        "use `hotspare promote db2` (switchover)"
    )


def test_no_failover_while_the_candidate_still_streams() -> None:
    gone = (db("db1", role=None, writable=None), db("db2", role="standby"))
    plan = plan_failover(INV, state(databases=gone), "db2")
    assert plan.refusals == (
        "db2 has lost its primary too: its WAL receiver is streaming: "
        "the primary is alive and only the console cannot reach it",
    )


def test_a_failover_fences_the_old_primary_whose_box_answers() -> None:
    plan = plan_failover(INV, state(databases=DB1_GONE), "db2")
    assert plan.refusals == ()
    assert titles(plan) == [
        "Fence db1: stop it and keep it from coming back as a primary",
        "Record what may be lost",
        "Promote db2",
        "Check db2 takes writes",
        "Check the nodes still answer directly",
        "Check the site through the balancer",
    ]
    assert [s.title for s in plan.steps if s.no_return] == ["Promote db2"]
    assert plan.always == ()  # the cluster's action lock is the runner's, not a step
    assert plan.confirm == "db2"
    assert "split brain" not in plan.summary
    assert plan.way_back == "hotspare rejoin db1 once its box answers"


def test_a_failover_without_the_old_primarys_box_needs_it_said_off() -> None:
    stale_db1 = tuple(box(b.name, stale=b.name == "db1") for b in INV.boxes)
    last_seen = (db("db1"), db("db2", role="standby", receiver_status="waiting"))
    plan = plan_failover(INV, state(boxes=stale_db1, databases=last_seen), "db2")
    assert plan.refusals == ()
    assert not any(t.startswith("Fence") for t in titles(plan))
    assert plan.confirm == "db1 is off, promote db2"
    assert "split brain" in plan.summary
    assert "needs the name typed to go ahead: db1 is off, promote db2" in plan.describe()


def test_a_box_never_reached_is_a_member_that_does_not_answer() -> None:
    # The monitor has no Database for a member whose box it never reached.
    never_db1 = tuple(box(b.name, stale=b.name == "db1") for b in INV.boxes)
    only_db2 = (db("db2", role="standby", receiver_status="waiting"),)
    plan = plan_failover(INV, state(boxes=never_db1, databases=only_db2), "db2")
    assert plan.confirm == "db1 is off, promote db2"
    assert "CANNOT stop it" in plan.summary
    switchover = plan_switchover(INV, state(boxes=never_db1, databases=only_db2), "db2")
    assert "every member answers: db1 did not answer: it could be a primary" in switchover.refusals


# --- rejoin ----------------------------------------------------------------------------

AFTER_FAILOVER = (
    db("db1", timeline=1, standbys=()),
    db("db2", timeline=2, standbys=()),
)


def test_the_old_primary_on_an_older_timeline_is_rejoined() -> None:
    plan = plan_rejoin(INV, state(databases=AFTER_FAILOVER), "db1")
    assert plan.refusals == () and plan.confirm == "db1"
    assert all(c.ok for c in plan.preconditions)
    assert titles(plan)[:2] == ["Make sure db1 is stopped", "Keep what only db1 has"]
    assert titles(plan)[2:] == REJOIN_AFTER_SWITCHOVER[1:]
    assert not any(s.no_return for s in plan.steps)
    assert "/data.hotspare-kept" in plan.summary


def test_the_primary_the_site_uses_is_not_rejoined() -> None:
    for snapshot in (HEALTHY, state(databases=AFTER_FAILOVER)):
        name = "db1" if snapshot is HEALTHY else "db2"
        plan = plan_rejoin(INV, snapshot, name)
        assert plan.steps == ()
        assert any(r.startswith(f"{name} is not the primary the site uses") for r in plan.refusals)


def test_rejoining_a_streaming_standby_again_is_already_so() -> None:
    plan = plan_rejoin(INV, HEALTHY, "db2")
    assert plan.refusals == () and plan.steps == ()
    assert plan.summary == "db2 already streams from db1: nothing to do"


def test_failing_over_again_to_the_primary_is_already_so() -> None:
    gone = state(
        boxes=tuple(box(b.name, stale=b.name == "db1") for b in INV.boxes),
        databases=(db("db1", role=None, writable=None), db("db2", timeline=2)),
    )
    plan = plan_failover(INV, gone, "db2")
    assert plan.refusals == () and plan.steps == ()
    assert plan.summary == (
        "db2 is already the primary: nothing to do (run `hotspare rejoin db1` once it answers)"
    )


# --- the alarm that asks for a rejoin ------------------------------------------------------


def test_an_old_primary_on_an_older_timeline_raises_stale_primary() -> None:
    alarms = parts.run(databases=AFTER_FAILOVER)[1]
    (stale,) = [a for a in alarms if a.code == "stale-primary"]
    assert stale.subject == ("db1",) and stale.severity == "critical"
    assert "timeline 1" in stale.message and "promoted to timeline 2" in stale.message
    assert "hotspare rejoin db1" in stale.message
    assert "split-brain" in [a.code for a in alarms]


def test_two_primaries_on_one_timeline_are_no_stale_primary() -> None:
    codes = parts.codes(databases=(db("db1", standbys=()), db("db2", standbys=())))
    assert "split-brain" in codes and "stale-primary" not in codes


def test_without_a_site_url_the_switchover_does_not_check_through_the_balancer() -> None:
    plan = plan_switchover(parts.INV, HEALTHY, "db2")
    assert parts.INV.balancer is not None and parts.INV.balancer.site_url is None
    assert plan.refusals == ()
    assert "Check the site through the balancer" not in titles(plan)
    assert "Turn writes away at the balancer (read-only page)" in titles(plan)


def test_a_balancer_whose_state_is_unknown_refuses_the_switchover() -> None:
    plan = plan_switchover(INV, state(balancer=None), "db2")
    assert any("the balancer answers" in reason for reason in plan.refusals)
    assert "already read-only" not in plan.summary


def test_the_plan_screen_scrolls_with_pgdn_while_the_name_field_has_the_focus() -> None:
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.widgets import Input

    from screens.action import ActionScreen

    plan = plan_switchover(INV, HEALTHY, "db2", rejoin=True)

    async def never(typed: str | None, say: Any) -> Any:
        raise AssertionError("nothing may run")

    async def go() -> None:
        app: App[None] = App()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.push_screen(ActionScreen(plan, never))
            await pilot.pause()
            assert isinstance(app.focused, Input)
            scroll = app.screen.query_one("#action-plan", VerticalScroll)
            assert scroll.scroll_y == 0 and scroll.max_scroll_y > 0
            await pilot.press("pagedown")
            await pilot.pause()
            assert scroll.scroll_y > 0 and isinstance(app.focused, Input)
            await pilot.press("pageup")
            await pilot.pause()
            assert scroll.scroll_y == 0

    asyncio.run(go())
