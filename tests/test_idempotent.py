"""Every action run twice: the second run succeeds and says what already holds.

The balancer's parts run here on a fake HAProxy 2.6 (its admin bits move as
the real one's CLI moves them); the lab tests at the end run each action
twice against the real lab, the warm spare included: `disabled` in
haproxy.cfg, which HAProxy 2.6 keeps as admin bit 0x04 once it is READY.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console import node_role
from console.actions.balancer import nodes, servers
from console.actions.plan import Check, Plan
from console.actions.roles import hot_warm
from console.actions.site import steps as site_steps
from console.lab.layout import LabLayout
from console.probes.haproxy import admin_state, parse_servers_state, parse_stat
from tests.support import verdict_parts as parts
from tests.support.fake_haproxy import CMAINT, FMAINT, IMAINT, FakeContext, FakeHAProxy, run_steps
from tests.support.labclient import eventually, haproxy, hotspare

INV = parts.INV
ROLE_FILE = ("web3", "/etc/site/node-role")


def _run(plan: Plan, ctx: FakeContext) -> list[tuple[str, Check, str]]:
    assert plan.refusals == (), plan.refusals
    return asyncio.run(run_steps(plan.steps, ctx))


def _all_ok(done: list[tuple[str, Check, str]]) -> dict[str, str]:
    """Every step passed; each step's answer by title."""
    assert [(title, check.ok) for title, check, _ in done] == [(t, True) for t, _, _ in done], done
    return {title: answer for title, _, answer in done}


# --- reading HAProxy's admin bits ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "state"),
    [
        (0, "ready"),
        (CMAINT, "ready"),  # `disabled` in haproxy.cfg, made ready at run time: it serves
        (0x40, "ready"),  # its FQDN changed: not maintenance
        (FMAINT | CMAINT, "maint"),
        (0x08 | CMAINT, "drain"),
        (IMAINT, "maint"),
        (0x20, "maint"),
        (0x08 | FMAINT, "maint"),
    ],
)
def test_admin_bits_read_as_haproxy_acts_on_them(bits: int, state: str) -> None:
    assert admin_state(bits) == state


# --- the balancer's actions on the fake HAProxy -------------------------------------------


@pytest.mark.parametrize(
    ("build", "title", "already"),
    [
        (lambda s: nodes.plan_drain(INV, s, "web2"), "Drain web2 in HAProxy", "DRAIN"),
        (lambda s: nodes.plan_maint(INV, s, "web2"), "Maint web2 in HAProxy", "MAINT"),
        (lambda s: nodes.plan_ready(INV, s, "web3"), "Ready web3 in HAProxy", "READY"),
        (lambda s: nodes.plan_weight(INV, s, "web2", 5), "Set web2's weight to 5", "5"),
    ],
)
def test_a_balancer_action_run_twice_sends_nothing_the_second_time(
    build: Any, title: str, already: str
) -> None:
    fake = FakeHAProxy()
    ctx = FakeContext(fake)
    first = _all_ok(_run(build(parts.cluster_state()), ctx))
    assert not first[title].startswith("already")
    sent = list(fake.changes)
    assert len(sent) == 1
    second = _all_ok(_run(build(parts.cluster_state()), ctx))
    assert second[title] == f"already {already}; nothing sent"
    assert "already holds" in second["Save the server states for a reload"]
    assert fake.changes == sent


def test_ready_brings_in_a_server_disabled_in_haproxy_cfg() -> None:
    fake = FakeHAProxy()  # web3: FMAINT | CMAINT, as `disabled` starts it
    done = _run(nodes.plan_ready(INV, parts.cluster_state(), "web3"), FakeContext(fake))
    _all_ok(done)
    assert fake.changes == ["set server site/web3 state ready"]
    assert fake.servers["web3"].bits == CMAINT and fake.servers["web3"].status == "UP"
    assert done[0][1].detail.startswith("web3 is READY (haproxy.cfg says `disabled` for web3")


def test_a_node_in_maint_is_not_drained_again_nor_waited_for() -> None:
    fake = FakeHAProxy()
    fake.servers["web3"].sessions = 2  # a MAINT server's old sessions: no drain to wait for
    plan = nodes.plan_drain(INV, parts.cluster_state(), "web3", timeout=0.1, then_maint=True)
    said = _all_ok(_run(plan, FakeContext(fake)))
    assert said["Drain web3 in HAProxy"] == "already MAINT; nothing sent"
    assert said["Wait for web3's sessions to end"] == "web3 is MAINT: no drain to wait for"
    assert fake.changes == [] and fake.servers["web3"].bits == FMAINT | CMAINT


def test_the_saved_state_file_is_what_haproxy_has() -> None:
    fake = FakeHAProxy()
    ctx = FakeContext(fake)
    _all_ok(_run(nodes.plan_weight(INV, parts.cluster_state(), "web2", 7), ctx))
    saved = ctx.files[("lb1", INV.balancer.state_file)]  # type: ignore[union-attr]
    assert servers.saved_fields(saved)[("site", "web2")] == (0, 7)
    assert parse_servers_state(saved)["web3"] == FMAINT | CMAINT


# --- node hot: refused before anything changes when HAProxy cannot bring it in ----------


@pytest.mark.parametrize(
    ("bits", "why"),
    [
        (IMAINT | FMAINT, "inherits maintenance from the server it tracks"),
        (0x20, "address does not resolve"),
    ],
)
def test_hot_is_refused_before_the_role_file_when_haproxy_cannot_bring_it_in(
    bits: int, why: str
) -> None:
    fake = FakeHAProxy()
    fake.servers["web3"].bits = bits
    ctx = FakeContext(fake)
    ctx.files[ROLE_FILE] = node_role.render(node_role.NodeRole(role="warm"))
    plan = hot_warm.plan_hot(INV, parts.cluster_state(), "web3")
    assert plan.steps[0].title.startswith("Write web3's role file")
    (done,) = asyncio.run(run_steps(plan.steps, ctx))
    assert done[1].detail.startswith("precondition not met") and why in done[1].detail
    assert "haproxy.cfg" in done[1].detail
    assert fake.changes == [] and node_role.parse(ctx.files[ROLE_FILE]).role == "warm"


def test_hot_is_refused_when_haproxy_has_no_such_server() -> None:
    fake = FakeHAProxy()
    del fake.servers["web3"]
    plan = nodes.plan_ready(INV, parts.cluster_state(), "web3")
    ((_, check, _),) = asyncio.run(run_steps(plan.steps, FakeContext(fake)))
    assert not check.ok and "add `server web3 ADDRESS:PORT check`" in check.detail


# --- the site flags ------------------------------------------------------------------------


def test_the_site_flags_set_twice_are_sent_once() -> None:
    fake = FakeHAProxy()
    ctx = FakeContext(fake)
    balancer = INV.balancer
    assert balancer is not None
    ctx.files[("lb1", balancer.flags_map)] = "mode normal\nmessage -\nuntil -\n"
    flags = site_steps.Flags("maintenance", "Back soon", "03:30 UTC")
    first = _all_ok(
        asyncio.run(
            run_steps(
                (
                    site_steps.set_flags(balancer, flags, "normal"),
                    site_steps.save_flags(balancer, "maintenance"),
                ),
                ctx,
            )
        )
    )
    assert "entries written" in first["Save the site flags for a reload"]
    sent = list(fake.changes)
    assert len(sent) == 3
    again = (
        site_steps.set_flags(balancer, flags, "maintenance"),
        site_steps.save_flags(balancer, "maintenance"),
    )
    second = _all_ok(asyncio.run(run_steps(again, ctx)))
    assert second["Switch the site flags on the balancer"].startswith("already mode maintenance")
    assert second["Save the site flags for a reload"].endswith("already holds them; left as it is")
    assert fake.changes == sent


# --- the real lab: each action twice -------------------------------------------------------

WEB = ("web1", "web2", "web3")


@pytest.fixture
def audited(lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabLayout:
    monkeypatch.setenv("HOTSPARE_AUDIT", str(tmp_path / "audit.jsonl"))
    return lab


def _bits(lab: LabLayout) -> dict[str, int]:
    return parse_servers_state(asyncio.run(haproxy(lab, "show servers state site")))


def _status(lab: LabLayout, server: str) -> str:
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    return next(r["status"] for r in rows if r["pxname"] == "site" and r["svname"] == server)


def _said(outcome: dict[str, Any], title: str) -> str:
    return str(next(s["answer"] for s in outcome["steps"] if s["title"] == title))


def _twice(
    lab: LabLayout, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the action twice with --yes; both must be done."""
    answers = []
    for _ in range(2):
        code, answer = hotspare(lab, capsys, *argv, "--yes")
        assert code == 0 and answer["outcome"] == "done", json.dumps(answer, indent=1)[-3000:]
        answers.append(answer)
    return answers[0], answers[1]


@pytest.fixture
def hot_again(lab: LabLayout) -> Iterator[None]:
    """web1 and web2 READY, UP and weight 1 after the test, web3 warm in MAINT, states saved.

    A hot log web3 wrote while it was hot here is removed: the lab's warm spare has none.
    """
    roles = {node: lab.role_file(node).read_bytes() for node in WEB}
    logs = lab.box_dir("web3") / "log"
    hot_logs = set(logs.glob("access.hot.*"))
    yield
    for path in set(logs.glob("access.hot.*")) - hot_logs:
        path.unlink()
    for node, data in roles.items():
        if lab.role_file(node).read_bytes() != data:
            node_role.write(lab.role_file(node), node_role.parse(data.decode()))
    for server, state in (("web1", "ready"), ("web2", "ready"), ("web3", "maint")):
        asyncio.run(haproxy(lab, f"set server site/{server} state {state}"))
        asyncio.run(haproxy(lab, f"set server site/{server} weight 1"))
    lab.state_file().write_text(asyncio.run(haproxy(lab, "show servers state")))
    eventually(lambda: _status(lab, "web1") == _status(lab, "web2") == "UP", timeout=20)


@pytest.mark.lab
def test_the_warm_spare_comes_in_and_goes_out_each_twice(
    audited: LabLayout, capsys: pytest.CaptureFixture[str], hot_again: None
) -> None:
    lab = audited
    assert _bits(lab)["web3"] == FMAINT | CMAINT  # `disabled` in haproxy.cfg, as the lab starts
    first, second = _twice(lab, capsys, "node", "hot", "web3")
    assert _said(first, "Ready web3 in HAProxy").startswith("accepted")
    assert _said(second, "Ready web3 in HAProxy") == "already READY; nothing sent"
    assert _said(second, "Write web3's role file: role=hot scheduler=no mail=log").startswith(
        "already"
    )
    assert "already so" in second["plan"]["summary"] or "already hot" in second["plan"]["summary"]
    assert _bits(lab)["web3"] == CMAINT and _status(lab, "web3") == "UP"
    assert servers.saved_fields(lab.state_file().read_text())[("site", "web3")] == (CMAINT, 1)

    first, second = _twice(lab, capsys, "node", "warm", "web3")
    assert _said(first, "Drain web3 in HAProxy") == "accepted"
    assert _said(second, "Drain web3 in HAProxy") == "already MAINT; nothing sent"
    assert _said(second, "Wait for web3's sessions to end") == "web3 is MAINT: no drain to wait for"
    assert _said(second, "Maint web3 in HAProxy") == "already MAINT; nothing sent"
    assert _bits(lab)["web3"] == FMAINT | CMAINT and _status(lab, "web3") == "MAINT"
    assert node_role.read(lab.role_file("web3")).role == "warm"


@pytest.mark.lab
def test_each_balancer_action_run_twice_says_already_so(
    audited: LabLayout, capsys: pytest.CaptureFixture[str], hot_again: None
) -> None:
    lab = audited
    for argv, title, already in (
        (("drain", "web2", "--timeout", "10"), "Drain web2 in HAProxy", "already DRAIN"),
        (("maint", "web2"), "Maint web2 in HAProxy", "already MAINT"),
        (("ready", "web2"), "Ready web2 in HAProxy", "already READY"),
        (("weight", "web2", "3"), "Set web2's weight to 3", "already 3"),
    ):
        first, second = _twice(lab, capsys, *argv)
        assert _said(first, title) == "accepted"
        assert _said(second, title) == f"{already}; nothing sent"
        saved = _said(second, "Save the server states for a reload")
        assert "already holds every server's state" in saved


@pytest.mark.lab
def test_a_scheduler_move_run_twice_only_checks_the_second_time(
    audited: LabLayout, capsys: pytest.CaptureFixture[str], hot_again: None
) -> None:
    lab = audited
    try:
        first, second = _twice(lab, capsys, "scheduler", "move", "web2")
        assert len(first["steps"]) > 1
        assert [s["title"] for s in second["steps"]] == [
            "Check that exactly one node is the scheduler"
        ]
        assert second["plan"]["summary"].startswith("web2 is already the scheduler")
    finally:
        code, back = hotspare(lab, capsys, "scheduler", "move", "web1", "--yes")
        assert code == 0, back


@pytest.mark.lab
def test_the_site_modes_run_twice_say_already_so(
    audited: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = audited
    flags = "Switch the site flags on the balancer"
    try:
        for argv in (
            ("read-only", "on"),
            ("read-only", "off"),
            ("maintenance", "on", "--until", "2099-01-01T03:30"),
            ("maintenance", "off"),
        ):
            first, second = _twice(lab, capsys, *argv)
            assert not _said(first, flags).startswith("already"), argv
            assert _said(second, flags).startswith("already"), argv
            saved = _said(second, "Save the site flags for a reload")
            assert saved.endswith("already holds them; left as it is"), argv
            changed = [
                s["answer"]
                for s in second["steps"]
                if s["title"].startswith(("Tell ", "Make ", "Stop making "))
            ]
            assert all(a.startswith("already") for a in changed), (argv, changed)
    finally:
        code, _ = hotspare(lab, capsys, "maintenance", "off", "--yes")
        code2, _ = hotspare(lab, capsys, "read-only", "off", "--yes")
        assert code == code2 == 0
