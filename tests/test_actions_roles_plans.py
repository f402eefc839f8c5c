"""The plans of node hot|warm and scheduler move, built from snapshots: no lab needed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from console.actions.plan import Plan
from console.actions.roles import hot_warm as roles
from console.actions.roles import scheduler
from console.actions.roles.rolefile import differs, hook_command, role_url, show
from console.errors import ActionError
from console.inventory import load
from console.inventory.model import Hooks
from tests.support.verdict_parts import INV, box, cluster_state, nodes_with


def _titles(plan: Plan) -> list[str]:
    return [step.title for step in plan.steps]


def test_warm_leaves_the_balancer_before_its_role_changes() -> None:
    plan = roles.plan_role(INV, cluster_state(), "web2", "warm")
    assert plan.refusals == () and plan.confirm is None
    assert _titles(plan) == [
        "Drain web2 in HAProxy",
        "Wait for web2's sessions to end",
        "Maint web2 in HAProxy",
        "Save the server states for a reload",
        "Write web2's role file: role=warm scheduler=no mail=log",
        "Check that web2's site took it",
    ]
    assert plan.steps[0].pre is not None  # not the scheduler, checked before it leaves
    assert plan.way_back == "hotspare node hot web2"


def test_hot_joins_the_balancer_once_healthy() -> None:
    plan = roles.plan_role(INV, cluster_state(), "web3", "hot")
    assert plan.refusals == ()
    assert _titles(plan) == [
        "Write web3's role file: role=hot scheduler=no mail=log",
        "Check that web3's site took it",
        "Check that web3's site is healthy",
        "Ready web3 in HAProxy",
        "Save the server states for a reload",
        "Wait for web3's health check to be UP",
    ]
    assert plan.way_back == "hotspare node warm web3"


def test_the_scheduler_is_not_made_warm() -> None:
    plan = roles.plan_role(INV, cluster_state(), "web1", "warm")
    assert any("hotspare scheduler move web2" in reason for reason in plan.refusals)


def test_a_node_whose_role_is_unknown_is_refused() -> None:
    boxes = tuple(box(b.name, stale=(b.name == "web2")) for b in INV.boxes)
    plan = roles.plan_role(INV, cluster_state(boxes=boxes), "web2", "warm")
    assert any("hotspare maint web2" in reason for reason in plan.refusals)
    with pytest.raises(ActionError, match="the web nodes are: web1, web2, web3"):
        roles.plan_role(INV, cluster_state(), "web9", "hot")


def test_hooks_run_with_their_placeholders_filled_in() -> None:
    inv = replace(INV, hooks=Hooks("notify {node} {role}", "canonical {address}"))
    warm = roles.plan_role(inv, cluster_state(), "web2", "warm")
    assert [s.command for s in warm.steps if s.title.startswith("Run hook")] == ["notify web2 warm"]
    move = scheduler.plan_move_scheduler(inv, cluster_state(), "web2")
    hooks = [(s.title, s.command) for s in move.steps if s.title.startswith("Run hook")]
    assert hooks == [
        ("Run hook after_role_change on web1", "notify web1 hot"),
        ("Run hook after_role_change on web2", "notify web2 hot"),
        ("Run hook after_scheduler_move on web2", "canonical 10.0.0.3"),
    ]


def test_a_move_turns_the_old_scheduler_off_before_the_new_one_on() -> None:
    plan = scheduler.plan_move_scheduler(INV, cluster_state(), "web2")
    assert plan.refusals == () and plan.confirm is None
    assert _titles(plan) == [
        "Write web1's role file: scheduler=no mail=log",
        "Check that web1's site took it",
        "Check that web1 starts no new scheduled run",
        "Write web2's role file: scheduler=yes mail=real",
        "Check that web2's site took it",
        "Check that exactly one node is the scheduler",
    ]
    assert plan.steps[0].pre is not None  # every /role read again: web1 still the scheduler
    assert plan.steps[3].pre is not None  # every /role read again: none scheduling
    assert plan.way_back == "hotspare scheduler move web1"


def test_a_warm_scheduler_needs_its_name_typed_and_keeps_its_mail_in_its_log() -> None:
    plan = scheduler.plan_move_scheduler(INV, cluster_state(), "web3")
    assert plan.confirm == "web3"
    assert "Write web3's role file: scheduler=yes mail=log" in _titles(plan)


def test_a_move_to_the_scheduler_only_checks_that_it_still_is() -> None:
    already = scheduler.plan_move_scheduler(INV, cluster_state(), "web1")
    assert already.refusals == () and already.confirm is None
    assert already.summary.startswith("web1 is already the scheduler: nothing to move")
    assert _titles(already) == ["Check that exactly one node is the scheduler"]


def test_a_move_is_refused_when_it_cannot_prove_there_will_be_one() -> None:
    boxes = tuple(box(b.name, stale=(b.name == "web3")) for b in INV.boxes)
    unknown = scheduler.plan_move_scheduler(INV, cluster_state(boxes=boxes), "web2")
    assert "not known now whether web3" in unknown.refusals[0]


def test_a_move_mends_two_schedulers() -> None:
    state = cluster_state(nodes=nodes_with("web2", scheduler=True, mail="real"))
    plan = scheduler.plan_move_scheduler(INV, state, "web1")
    assert plan.refusals == ()
    assert _titles(plan)[0] == "Write web2's role file: scheduler=no mail=log"


def test_hooks_fill_in_node_role_and_address(repo_root: Path) -> None:
    inv = load(repo_root / "docs" / "cluster.example.yaml")
    web3 = inv.web_node("web3")
    assert inv.hooks.after_role_change is not None
    command = hook_command(inv, web3, inv.hooks.after_role_change, "warm")
    assert command.endswith('logger -t hotspare "web3 is now warm"')
    assert role_url(web3) == "http://web3.int.example.org:8000/role"


def test_flags_read_as_the_role_file_writes_them() -> None:
    assert show({"role": "warm", "scheduler": False, "mail": "log"}) == (
        "role=warm scheduler=no mail=log"
    )
    assert differs({"scheduler": True, "mail": "log"}, {"scheduler": False}) == "scheduler=yes"
    assert differs({"scheduler": False}, {"scheduler": False}) is None


def test_the_sweep_interval_is_one_nodes_own_rhythm() -> None:
    runs = [("web2", 20.0), ("web2", 17.0), ("web1", 12.1), ("web1", 9.0), ("web1", 6.0)]
    assert scheduler._interval(runs) == 3.0
    assert scheduler._interval([("web1", 1.0)]) is None
    moved_every_time = [("web1", 9.5), ("web2", 6.2), ("web1", 3.1), ("web2", 0.0)]
    assert scheduler._interval(moved_every_time) == pytest.approx(3.1)


def test_weight_0_on_the_last_ready_node_is_refused_unless_forced_and_typed() -> None:
    from console.actions.balancer.nodes import plan_weight
    from tests.support.verdict_parts import balancer, cluster_state, inventory, server

    inv = inventory()
    alone = cluster_state(
        balancer=balancer(
            server("web1"), server("web2", "maint", "MAINT"), server("web3", "maint", "MAINT")
        )
    )
    refused = plan_weight(inv, alone, "web1", 0)
    assert refused.refusals and "last ready server" in refused.refusals[0]
    forced = plan_weight(inv, alone, "web1", 0, force=True)
    assert not forced.refusals and forced.confirm == "web1"
    assert not plan_weight(inv, alone, "web1", 5).refusals  # still serving
    assert not plan_weight(inv, alone, "web2", 0).refusals  # takes nothing away
    two = cluster_state()
    plan = plan_weight(inv, two, "web1", 0)
    assert not plan.refusals and plan.confirm is None
    assert plan.steps[0].pre is not None  # judged again on HAProxy's word just before it acts
