"""The site actions' pure parts: what the operator types, and the plans, without a lab."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from console.actions.roles.rolefile import fill_hook
from console.actions.site import modes as site
from console.actions.site.inputs import check_message, parse_until
from console.actions.site.steps import edit_map_file, map_command, parse_map_file
from console.errors import ActionError
from tests.support import verdict_parts as parts
from tests.support.fake_haproxy import FakeContext, FakeHAProxy, run_steps

NOW = datetime(2026, 11, 26, 2, 10, 20, tzinfo=UTC)
MESSAGE = "Upgrading the database, back soon"
INV = replace(parts.INV, balancer=replace(parts.INV.balancer, site_url="http://lb1:8080/"))  # type: ignore[type-var]


# --- what the operator types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("03:30", "03:30 UTC"),
        ("02:05", "2026-11-27 02:05 UTC"),  # passed today: the next one
        ("2026-11-26 03:30", "03:30 UTC"),
        ("2026-11-28T23:00", "2026-11-28 23:00 UTC"),
        ("30m", "02:41 UTC"),  # rounded up to the minute
        ("1h30m", "03:41 UTC"),
        ("2h", "04:11 UTC"),
        ("04:00 utc", "04:00 UTC"),
    ],
)
def test_until_reads_clock_times_dates_and_delays(given: str, shown: str) -> None:
    until = parse_until(given, NOW)
    assert until.text == shown
    assert until.at > NOW


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("2026-11-26 01:00", "already passed"),
        ("0m", "is now"),
        ("tomorrow", "not a time"),
        ("25:00", "no such time"),
        ("2026-02-30 03:00", "no such time"),
    ],
)
def test_until_refuses_what_is_not_a_time_ahead(given: str, why: str) -> None:
    with pytest.raises(ActionError, match=why):
        parse_until(given, NOW)


def test_a_message_is_limited_to_characters_the_page_and_runtime_api_take() -> None:
    assert check_message("  Nous revenons à 3h, désolé (v5.10)!  ") == (
        "Nous revenons à 3h, désolé (v5.10)!"
    )
    for bad in ("<script>", "a & b", "semi; colon", 'say "hi"', "back\\slash", "100%"):
        with pytest.raises(ActionError, match="cannot contain"):
            check_message(bad)
    with pytest.raises(ActionError, match="at most"):
        check_message("x" * 201)


def test_map_commands_escape_spaces_and_the_file_keeps_other_lines() -> None:
    assert map_command("set", "/m", "message", "Back soon, sorry") == (
        "set map /m message Back\\ soon,\\ sorry"
    )
    text = "# flags\nmode normal\nother 1\nmessage -\nmode read-only\n"
    edited = edit_map_file(text, {"mode": "maintenance", "message": "Back soon", "until": "-"})
    assert edited == "# flags\nmode maintenance\nother 1\nmessage Back soon\nuntil -\n"
    assert parse_map_file(edited) == {
        "mode": "maintenance",
        "other": "1",
        "message": "Back soon",
        "until": "-",
    }


def test_the_role_change_hook_gets_the_node_its_role_and_address() -> None:
    hook = "sudo systemctl reload site-{node} # {role} at {address}, ${HOME}"
    assert fill_hook(hook, INV.web_node("web3"), "warm", "10.0.0.4") == (
        "sudo systemctl reload site-web3 # warm at 10.0.0.4, ${HOME}"
    )


# --- plans ---------------------------------------------------------------------------------


def _titles(plan: Any) -> list[str]:
    return [step.title for step in plan.steps]


def test_read_only_on_plans_balancer_nodes_every_member_then_checks() -> None:
    plan = site.plan_read_only_on(INV, parts.cluster_state(), parse_until("03:30", NOW), MESSAGE)
    assert plan.refusals == ()
    assert _titles(plan) == [
        "Switch the site flags on the balancer",
        "Save the site flags for a reload",
        "Tell web1: read-only on",
        "Tell web2: read-only on",
        "Tell web3: read-only on",
        "Make db1 read-only by default (primary)",
        "Make db2 read-only by default (standby)",
        "Check the site through the balancer",
        "Probe a write on db1",
    ]
    assert "advisory" in plan.summary and plan.way_back == "hotspare read-only off"
    assert "message Upgrading\\ the\\ database" in plan.steps[0].command


def test_read_only_is_refused_without_a_primary_to_verify_on() -> None:
    down = parts.db("db1", role=None, problem="PostgreSQL does not answer")
    state = parts.cluster_state(databases=(down, parts.db("db2", role="standby")))
    plan = site.plan_read_only_on(INV, state, None, None)
    assert any("no database primary answers" in r for r in plan.refusals)
    assert any(
        "no database primary answers" in r for r in site.plan_read_only_off(INV, state).refusals
    )
    # Maintenance needs no database.
    assert site.plan_maintenance_on(INV, state, parse_until("03:30", NOW), None).refusals == ()


def test_an_unreachable_standby_is_named_not_silently_skipped() -> None:
    boxes = tuple(parts.box(b.name, stale=b.name == "db2") for b in INV.boxes)
    plan = site.plan_read_only_on(INV, parts.cluster_state(boxes=boxes), None, None)
    assert plan.refusals == ()
    assert "Make db2 read-only by default (standby)" not in _titles(plan)
    assert "not reached: db2" in plan.summary and "before promoting it" in plan.summary


def test_read_only_off_refuses_to_take_the_maintenance_page_down() -> None:
    flags = parts.SiteFlags("maintenance", "Moving", "04:00 UTC")
    plan = site.plan_read_only_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    assert any("maintenance off` first" in r for r in plan.refusals)


def test_maintenance_off_goes_back_to_read_only_when_it_was_underneath() -> None:
    flags = parts.SiteFlags("maintenance", "Moving", "04:00 UTC")
    read_only = parts.nodes_with("web2", read_only=True)
    state = parts.cluster_state(balancer=parts.balancer(flags=flags), nodes=read_only)
    plan = site.plan_maintenance_off(INV, state)
    assert "stays read-only" in plan.summary
    assert plan.steps[1].proves.endswith("mode read-only")
    assert plan.way_back == "hotspare maintenance on --until '04:00 UTC'"
    plain = site.plan_maintenance_off(
        INV, parts.cluster_state(balancer=parts.balancer(flags=flags))
    )
    assert "serves normally" in plain.summary


def test_read_only_off_states_the_way_back_with_the_old_message_and_time() -> None:
    flags = parts.SiteFlags("read-only", "Back soon", "03:30 UTC")
    plan = site.plan_read_only_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    assert plan.refusals == ()
    assert plan.way_back == "hotspare read-only on --message 'Back soon' --until '03:30 UTC'"
    assert _titles(plan)[:3] == [
        "Stop making db1 read-only by default (primary)",
        "Stop making db2 read-only by default (standby)",
        "Probe a write on db1",
    ]
    assert _titles(plan)[-1] == "Check the site through the balancer"


def test_maintenance_names_the_nodes_it_cannot_check_directly() -> None:
    state = parts.cluster_state(nodes=parts.nodes_with("web2", health_status=503))
    plan = site.plan_maintenance_on(INV, state, parse_until("03:30", NOW), None)
    assert plan.refusals == () and "not checked directly: web2" in plan.summary
    assert "web2" not in plan.steps[-1].command and "web1" in plan.steps[-1].command


def test_a_site_without_site_url_cannot_be_checked() -> None:
    plan = site.plan_maintenance_on(
        parts.INV, parts.cluster_state(), parse_until("3:30", NOW), None
    )
    assert any("site_url" in r for r in plan.refusals)


# --- the mode is judged again before a step lifts it (fake balancer, no lab) ---------------


def _first_checks(plan: Any, fake: FakeHAProxy) -> list[str]:
    assert plan.refusals == ()
    done = asyncio.run(run_steps(plan.steps, FakeContext(fake, INV)))
    return [check.detail for _, check, _ in done]


def test_read_only_off_leaves_a_site_put_in_maintenance_since_planning_alone() -> None:
    flags = parts.SiteFlags("read-only", "Back soon", "03:30 UTC")
    plan = site.plan_read_only_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    fake = FakeHAProxy(flags={"mode": "maintenance", "message": "Moving", "until": "04:00 UTC"})
    (check,) = _first_checks(plan, fake)  # the first step, on db1, never ran its SQL
    assert check == (
        "precondition not met: the site is maintenance now, not read-only as when planned: "
        "plan again"
    )
    assert fake.changes == []


def test_maintenance_off_does_not_lift_a_read_only_set_since_planning() -> None:
    flags = parts.SiteFlags("maintenance", "Moving", "04:00 UTC")
    plan = site.plan_maintenance_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    assert _titles(plan)[0] == "Switch the site flags on the balancer"
    fake = FakeHAProxy(flags={"mode": "read-only", "message": "Back soon", "until": "-"})
    (check,) = _first_checks(plan, fake)
    assert "the site is read-only now, not maintenance as when planned" in check
    assert fake.changes == [] and fake.flags["mode"] == "read-only"


def test_maintenance_off_on_a_read_only_site_has_nothing_to_take_down() -> None:
    flags = parts.SiteFlags("read-only", "Back soon", "03:30 UTC")
    plan = site.plan_maintenance_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    assert plan.refusals == () and "nothing to take down" in plan.summary
    assert "Switch the site flags on the balancer" not in _titles(plan)


def test_a_plan_whose_mode_already_holds_says_so() -> None:
    flags = parts.SiteFlags("read-only", "Back soon", "03:30 UTC")
    state = parts.cluster_state(balancer=parts.balancer(flags=flags))
    again = site.plan_read_only_on(INV, state, parse_until("03:30", NOW), "Back soon")
    assert again.summary.startswith("the site is already read-only until 03:30 UTC")
    normal = parts.cluster_state()
    assert "already takes writes" in site.plan_read_only_off(INV, normal).summary
    assert "nothing to take down" in site.plan_maintenance_off(INV, normal).summary
