"""The A/B rollover's pure parts: its stages, what it refuses, its rollback, its gate, its
record, and the second primary it makes on purpose."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from console.errors import ActionError
from console.inventory import Inventory
from console.runbook import ab, engine, sides
from console.state import planned
from console.state.model import Alarm, ClusterState
from console.state.runbook import Mark, Runbook, from_record, to_record
from tests.support.verdict_parts import INV, balancer, cluster_state, node, server


def ab_inventory() -> Inventory:
    """The verdict parts' site with web4, and web3, web4 in a backend of their own."""
    web1, web2, web3 = INV.web_nodes
    web4 = replace(web3, name="web4", server="web4")
    nodes = (
        replace(web1, backend="site"),
        replace(web2, backend="site"),
        replace(web3, backend="site_b"),
        replace(web4, backend="site_b"),
    )
    assert INV.balancer is not None
    return replace(
        INV, web_nodes=nodes, balancer=replace(INV.balancer, backends=("site", "site_b"))
    )


INV_AB = ab_inventory()


def ab_state(**changes: Any) -> ClusterState:
    servers = (
        replace(server("web1"), backend="site"),
        replace(server("web2"), backend="site"),
        replace(server("web3", "maint", "MAINT"), backend="site_b"),
        replace(server("web4", "maint", "MAINT"), backend="site_b"),
    )
    parts: dict[str, Any] = {
        "balancer": balancer(*servers),
        "nodes": tuple(
            replace(n, release="v1")
            for n in (node("web1"), node("web2"), node("web3"), replace(node("web3"), name="web4"))
        ),
    }
    return cluster_state(**{**parts, **changes})


def rollover(state: ClusterState | None = None) -> tuple[Runbook, list[str]]:
    return ab.rollover(
        INV_AB, state or ab_state(), "v2", ["web3", "web4"], None, None, "ana@jump", "cmd"
    )


def test_the_rollover_goes_read_only_detaches_upgrades_tests_switches_then_waits() -> None:
    runbook, refusals = rollover()
    assert refusals == []
    assert [s.kind for s in runbook.stages] == [
        "read-only",
        "detach",
        "node",
        "node",
        "test",
        "switch",
        "scheduler",
        "warm",
        "gate",
        "rejoin",
        "settle",
        "node",
        "node",
    ]
    sides_ = ab.args_of(runbook)
    assert (sides_["a"], sides_["b"]) == (["web1", "web2"], ["web3", "web4"])
    assert (sides_["a_db"], sides_["b_db"]) == ("db1", "db2")
    assert (sides_["a_backend"], sides_["b_backend"]) == ("site", "site_b")
    assert sides_["a_scheduler"] == "web1"
    b_nodes = [s for s in runbook.stages if s.kind == "node"][:2]
    assert [s.args["end"] for s in b_nodes] == ["out", "out"]  # B is upgraded out of traffic
    rejoin = next(s for s in runbook.stages if s.kind == "rejoin")
    assert dict(rejoin.args) == {"db": "db1", "follow": "db2"}


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"nodes": (node("web1"), node("web2"), node("web3", role="hot"))}, "must be a warm"),
        ({"nodes": (node("web1"), node("web2"), node("web3", health_status=503))}, "not healthy"),
    ],
)
def test_b_must_be_warm_healthy_spares(changes: dict[str, Any], said: str) -> None:
    _, refusals = rollover(ab_state(**changes))
    assert any(said in r for r in refusals), refusals


def test_b_must_not_be_in_the_live_backend_and_a_standby_must_stream() -> None:
    inv = replace(INV_AB, web_nodes=tuple(replace(n, backend="site") for n in INV_AB.web_nodes))
    _, refusals = ab.rollover(inv, ab_state(), "v2", ["web3"], None, None, "ana", "cmd")
    assert any("live backend site" in r for r in refusals), refusals
    from tests.support.verdict_parts import db

    lone = ab_state(databases=(db("db1", standbys=()), db("db2", role="standby")))
    _, refusals = rollover(lone)
    assert any("no standby streams from db1" in r for r in refusals), refusals


def test_it_starts_only_from_a_site_in_normal_mode() -> None:
    from console.state.balancer import SiteFlags

    state = ab_state()
    assert state.balancer is not None
    read_only = replace(state.balancer, flags=SiteFlags("read-only", None, None))
    _, refusals = rollover(replace(state, balancer=read_only))
    assert any("the site is read-only" in r for r in refusals), refusals


def _begun(runbook: Runbook, *kinds: str) -> Runbook:
    """RUNBOOK with the stages of KINDS done (and the last one begun)."""
    stages = []
    for stage in runbook.stages:
        if stage.kind in kinds:
            stage = replace(stage, status="done", marks=(Mark("x", True, "ok", 1.0),))
        stages.append(stage)
    return replace(runbook, stages=tuple(stages), notes={sides.BASELINE + "public.notes": 4})


def test_a_rollback_after_the_switch_counts_b_first_then_goes_back_and_rewinds_b() -> None:
    runbook, _ = rollover()
    done = _begun(runbook, "read-only", "detach", "node", "test", "switch", "scheduler", "warm")
    back = ab.rollback(INV_AB, ab_state(), done, 7, "ana", "hotspare upgrade rollback")
    assert [s.kind for s in back.stages] == [
        "back-read-only",
        "gate",
        "count",
        "back",
        "scheduler",
        "warm",
        "a-writes",
        "rejoin",
        "settle",
        "node",
        "node",
    ]
    count = next(s for s in back.stages if s.kind == "count")
    assert count.args["shown"] == 7 and count.args["baseline"] == ["public.notes=4"]
    rejoin = next(s for s in back.stages if s.kind == "rejoin")
    assert dict(rejoin.args) == {"db": "db2", "follow": "db1"}
    assert next(s for s in back.stages if s.kind == "scheduler").args["node"] == "web1"
    assert back.kind == "ab-rollback" and back.notes == done.notes


def test_a_rollback_before_the_detach_has_nothing_to_count_or_rewind() -> None:
    runbook, _ = rollover()
    back = ab.rollback(INV_AB, ab_state(), _begun(runbook, "read-only"), 0, "ana", "cmd")
    kinds = [s.kind for s in back.stages]
    assert "count" not in kinds and "rejoin" not in kinds and "node" not in kinds
    assert kinds[-1] == "settle"


def _at_gate(runbook: Runbook) -> Runbook:
    """RUNBOOK stopped at its gate: every stage before it done."""
    gate = next(n for n, s in enumerate(runbook.stages) if s.kind == "gate")
    return replace(
        runbook,
        state="paused",
        stages=tuple(
            replace(s, status="done") if n < gate else s for n, s in enumerate(runbook.stages)
        ),
    )


def test_after_finish_there_is_no_way_back() -> None:
    stopped = _at_gate(rollover()[0])
    assert ab.at_gate(stopped)
    finished = ab.finish(stopped)
    assert ab.past_gate(finished) and not ab.at_gate(finished)
    with pytest.raises(ActionError, match="no way back"):
        ab.rollback(INV_AB, ab_state(), finished, 0, "ana", "cmd")
    with pytest.raises(ActionError, match="not waiting at a gate"):
        ab.finish(finished)


def test_at_the_gate_the_ways_on_are_finish_or_rollback_and_the_banner_says_so() -> None:
    stopped = _at_gate(rollover()[0])
    assert stopped.banner() == "A/B: B live, rollback open"
    assert [w["command"] for w in engine.nexts(stopped)] == [engine.FINISH, engine.ROLLBACK]
    after = ab.finish(stopped)
    assert engine.ROLLBACK not in [w["command"] for w in engine.nexts(after)]
    assert after.banner().startswith("A/B ")


def test_notes_survive_the_record() -> None:
    runbook, _ = rollover()
    noted = replace(runbook, notes={sides.BASELINE + "public.notes": 12})
    again = from_record(to_record(noted))
    assert again is not None and dict(again.notes) == {sides.BASELINE + "public.notes": 12}
    assert sides.baseline(again.notes) == ["public.notes=12"]


def test_counts_are_told_by_table() -> None:
    assert sides.told({"public.notes": 9, "public.sweep_runs": 1}) == (
        "9 in public.notes, 1 in public.sweep_runs"
    )
    assert sides.told({}) == "none"


def test_a_second_read_only_primary_of_an_open_rollover_is_a_warning_naming_it() -> None:
    runbook, _ = rollover()
    stale = Alarm("stale-primary", "critical", ("db1",), "db1 is an old primary")
    brain = Alarm("split-brain", "critical", ("db1", "db2"), "split brain")
    said = planned.second_primary(runbook, (stale, brain))
    assert said[0].code == "ab-second-primary" and said[0].severity == "warning"
    assert "A/B rollover to v2" in said[0].message
    assert said[1] == brain  # two writable primaries stay critical
    done = replace(runbook, state="done")
    assert planned.second_primary(done, (stale,)) == (stale,)
    assert planned.second_primary(None, (stale,)) == (stale,)


def test_a_resumed_stage_skips_only_the_steps_its_new_plan_shares_with_the_marks() -> None:
    from console.actions.plan import Check, Plan, Step

    async def act(ctx: Any) -> str:
        return ""

    async def verify(ctx: Any) -> Check:
        return Check(True, "")

    def plan(*titles: str) -> Plan:
        return Plan("x", "y", "z", tuple(Step(t, "", "", "", "", act, verify) for t in titles))

    stage = replace(
        rollover()[0].stages[6],
        status="running",
        marks=(Mark("Write web1's role file", True, "ok", 1.0),),
    )
    assert engine.carried(stage, plan("Write web1's role file", "Check web1")) == 1
    # The old scheduler is already off: the new plan starts elsewhere, from its first step.
    assert engine.carried(stage, plan("Write web3's role file", "Check web3")) == 0
