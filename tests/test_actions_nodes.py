"""Node actions against the lab under load: drain, ready, maint, weight; refusals; the audit.

At the end, without the lab: the last-ready guard judged again just before the step acts.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

import pytest

from console import cli, node_role
from console.actions.balancer import plan_drain, plan_maint, plan_ready
from console.actions.plan import Plan
from console.actions.roles import plan_warm
from console.inventory import Inventory
from console.lab import control, procs
from console.lab.layout import LabLayout
from console.probes.haproxy import admin_state, parse_servers_state, parse_stat
from console.state.model import ClusterState
from tests.support import verdict_parts as parts
from tests.support.fake_haproxy import FMAINT, FakeContext, FakeHAProxy, run_steps
from tests.support.labclient import eventually, haproxy, serving
from tests.support.loadgen import HeldSessions, Load, failures


@pytest.fixture
def ready_again(lab: LabLayout) -> Iterator[None]:
    """web1 and web2 READY and UP before the test, and READY after it, whatever it does
    (web3 stays MAINT, warm): a test before may have restarted a site a moment ago."""
    eventually(lambda: serving(lab, "web1", "web2"), timeout=30)
    yield
    for node in ("web1", "web2"):
        asyncio.run(haproxy(lab, f"set server site/{node} state ready"))
        asyncio.run(haproxy(lab, f"set server site/{node} weight 1"))
    lab.state_file().write_text(asyncio.run(haproxy(lab, "show servers state")))


def hotspare(lab: LabLayout, *args: str) -> int:
    return cli.main(["--cluster", str(lab.cluster_file), *args])


def admin(lab: LabLayout, server: str) -> str:
    states = parse_servers_state(asyncio.run(haproxy(lab, "show servers state site")))
    return admin_state(states[server])


def records(audit: Path) -> list[dict[str, object]]:
    """Each action's outcome in the audit log (not its intent nor its steps' records)."""
    found = [json.loads(line) for line in audit.read_text().splitlines()]
    return [r for r in found if "outcome" in r]


def test_every_hot_node_drained_and_readied_in_turn_under_load_fails_no_request(
    lab: LabLayout, audit: Path, ready_again: None
) -> None:
    load = Load(lab.site_url, rate=60, seconds=60, post_every=4).start()
    try:
        time.sleep(0.5)
        for node in ("web1", "web2"):
            assert hotspare(lab, "drain", node, "--yes", "--timeout", "20") == 0
            assert admin(lab, node) == "drain"
            time.sleep(0.5)  # the other node carries the site alone for a moment
            assert hotspare(lab, "ready", node, "--yes") == 0
            assert admin(lab, node) == "ready"
    finally:
        answers = load.stop()
    assert len(answers) > 100
    assert failures(answers) == []
    assert {(a.method, a.status) for a in answers} == {("GET", 200), ("POST", 303)}
    done = [(r["action"], r["target"], r["outcome"]) for r in records(audit)]
    assert done == [
        ("drain", "web1", "done"),
        ("ready", "web1", "done"),
        ("drain", "web2", "done"),
        ("ready", "web2", "done"),
    ]


def sessions(lab: LabLayout, server: str) -> int:
    """SERVER's current sessions (scur) as HAProxy counts them."""
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    (row,) = [r for r in rows if r.get("pxname") == "site" and r.get("svname") == server]
    return int(row.get("scur") or 0)


class _Lines:
    """The lines a child process writes to one of its pipes, read as they come."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.append(line.rstrip("\n"))

    def counts(self, node: str) -> list[int]:
        """The session counts the drain said for NODE, in order."""
        said = [re.fullmatch(rf" *{node}:? (?:has )?(\d+) current sessions", x) for x in self.lines]
        return [int(match[1]) for match in said if match]


def test_a_drain_waits_for_the_sessions_and_shows_them_falling(
    lab: LabLayout, audit: Path, ready_again: None
) -> None:
    load = Load(lab.site_url, rate=20, seconds=60).start()
    # Three uploads held half sent, all on web2: web1 takes no new session while they open.
    asyncio.run(haproxy(lab, "set server site/web1 state drain"))
    try:
        held = HeldSessions(lab.site_url, 3)
        eventually(lambda: sessions(lab, "web2") >= 3)
    finally:
        asyncio.run(haproxy(lab, "set server site/web1 state ready"))
    command = [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file)]
    command += ["drain", "web2", "--yes", "--then-maint", "--json", "--timeout", "20"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as drain:
        assert drain.stdout is not None and drain.stderr is not None
        stderr = _Lines(drain.stderr)
        try:
            # The drain waits while the sessions last, and says each count as it falls.
            eventually(lambda: stderr.counts("web2"), timeout=20)
            assert stderr.counts("web2")[0] >= 3 and drain.poll() is None
            while held:
                before = stderr.counts("web2")[-1]
                assert held.release_one().startswith("HTTP/1.1 303")  # the note was taken
                eventually(lambda: stderr.counts("web2")[-1] < before, timeout=10)  # noqa: B023
            code = drain.wait(20)
            outcome = json.loads(drain.stdout.read())
        finally:
            held.release_all()
            answers = load.stop()
    assert code == 0, stderr.lines
    counts = stderr.counts("web2")
    assert counts[-1] == 0 and counts == sorted(set(counts), reverse=True), counts
    assert outcome["outcome"] == "done"
    assert [s["title"] for s in outcome["steps"]] == [
        "Drain web2 in HAProxy",
        "Wait for web2's sessions to end",
        "Maint web2 in HAProxy",
        "Save the server states for a reload",
    ]
    assert admin(lab, "web2") == "maint"
    assert len(answers) > 20 and failures(answers) == []  # the site stayed up throughout


def test_the_last_ready_node_is_refused_unless_forced_with_its_name_typed(
    lab: LabLayout, audit: Path, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hotspare(lab, "drain", "web1", "--yes") == 0
    capsys.readouterr()
    assert hotspare(lab, "drain", "web2", "--yes") == 3
    assert "web2 is the last ready server" in capsys.readouterr().out
    assert hotspare(lab, "maint", "web2", "--yes", "--force", "--confirm", "web1") == 3
    assert admin(lab, "web2") == "ready"
    assert hotspare(lab, "maint", "web2", "--yes", "--force", "--confirm", "web2") == 0
    assert admin(lab, "web2") == "maint"
    outcomes = [(r["action"], r["target"], r["outcome"]) for r in records(audit)]
    assert outcomes == [
        ("drain", "web1", "done"),
        ("drain", "web2", "refused"),
        ("maint", "web2", "refused"),
        ("maint", "web2", "done"),
    ]


def test_dry_run_prints_the_plan_and_changes_nothing(
    lab: LabLayout, audit: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hotspare(lab, "drain", "web2", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "set server site/web2 state drain" in out and "way back: hotspare ready web2" in out
    assert admin(lab, "web2") == "ready"
    assert not audit.exists()


def test_an_observer_is_refused_and_the_refusal_is_audited(
    lab: LabLayout, audit: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in (
        ["drain", "web2"],
        ["ready", "web2"],
        ["maint", "web2"],
        ["weight", "web2", "9"],
    ):
        assert hotspare(lab, "--observe", *action, "--yes") == 3
    assert "observer mode (started with --observe); nothing changed" in capsys.readouterr().out
    assert admin(lab, "web2") == "ready"
    assert [(r["action"], r["outcome"]) for r in records(audit)] == [
        ("drain", "refused"),
        ("ready", "refused"),
        ("maint", "refused"),
        ("weight", "refused"),
    ]
    record = records(audit)[0]
    assert record["operator"]["user"]  # type: ignore[index]
    assert record["cluster"] == "lab" and record["schema"] == "hotspare.audit/1"


def test_weight_is_set_and_read_back(lab: LabLayout, audit: Path, ready_again: None) -> None:
    assert hotspare(lab, "weight", "web2", "7", "--yes") == 0
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    assert next(r for r in rows if r["svname"] == "web2")["weight"] == "7"
    assert hotspare(lab, "weight", "web2", "300", "--yes") == 3
    # Weight 0 takes a node out as surely as a drain: never the last ready one unforced.
    assert hotspare(lab, "maint", "web2", "--yes") == 0
    assert hotspare(lab, "weight", "web1", "0", "--yes") == 3
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    assert next(r for r in rows if r["svname"] == "web1")["weight"] != "0"


def test_a_drained_node_stays_drained_across_a_haproxy_restart(
    lab: LabLayout, audit: Path, ready_again: None
) -> None:
    assert hotspare(lab, "drain", "web2", "--yes") == 0
    proc = procs.recorded(lab.pid_dir)["haproxy"]
    assert procs.stop(proc)
    control.up(lab, lambda line: None)  # starts HAProxy again, from the state file
    assert admin(lab, "web2") == "drain"
    assert admin(lab, "web1") == "ready" and admin(lab, "web3") == "maint"


def test_audit_lists_every_action(
    lab: LabLayout, audit: Path, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hotspare(lab, "weight", "web1", "2", "--yes") == 0
    assert hotspare(lab, "--observe", "drain", "web1", "--yes") == 3
    capsys.readouterr()
    assert hotspare(lab, "audit") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.endswith("weight web1: DONE")]
    assert "drain web1: REFUSED (observer mode" in lines[-1]
    assert hotspare(lab, "audit", "--json", "-n", "1") == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "refused"


# --- the last ready node, judged again just before the step (no lab) -----------------------


def _run_fake(plan: Plan, fake: FakeHAProxy, role_files: bool = False) -> list[str]:
    """PLAN's steps on FAKE, as the runner runs them; each step's check, until one fails."""
    ctx = FakeContext(fake)
    if role_files:
        for node in ("web1", "web2"):
            role = node_role.NodeRole(role="hot", scheduler=node == "web1")
            ctx.files[(node, "/etc/site/node-role")] = node_role.render(role)
    return [check.detail for _, check, _ in asyncio.run(run_steps(plan.steps, ctx))]


@pytest.mark.parametrize(
    "build",
    [
        lambda state: plan_drain(parts.INV, state, "web2"),
        lambda state: plan_maint(parts.INV, state, "web2"),
        lambda state: plan_warm(parts.INV, state, "web2"),
    ],
    ids=["drain", "maint", "node warm"],
)
def test_a_node_that_became_the_last_ready_one_after_planning_is_not_taken_out(
    build: Callable[[ClusterState], Plan],
) -> None:
    plan = build(parts.cluster_state())  # the snapshot: web1 and web2 ready
    assert plan.refusals == () and plan.confirm is None
    fake = FakeHAProxy()
    fake.servers["web1"].bits = FMAINT  # since the snapshot, another operator took web1 out
    (check,) = _run_fake(plan, fake, role_files=True)
    assert check.startswith("precondition not met: ")
    assert "web2 is the last ready server now" in check
    assert fake.changes == [] and fake.servers["web2"].status == "UP"


def test_a_server_down_or_at_weight_0_is_not_ready_for_the_guard() -> None:
    for change in ({"healthy": False}, {"weight": 0}):
        fake = FakeHAProxy()
        for key, value in change.items():
            setattr(fake.servers["web1"], key, value)
        (check,) = _run_fake(plan_drain(parts.INV, parts.cluster_state(), "web2"), fake)
        assert "web2 is the last ready server now" in check and fake.changes == []


def test_the_last_ready_node_goes_out_when_its_name_was_asked_for() -> None:
    state = parts.cluster_state(
        balancer=parts.balancer(
            parts.server("web1", "maint", "MAINT"),
            parts.server("web2"),
            parts.server("web3", "maint", "MAINT"),
        )
    )
    plan = plan_maint(parts.INV, state, "web2", force=True)
    assert plan.confirm == "web2"
    fake = FakeHAProxy()
    fake.servers["web1"].bits = FMAINT
    checks = _run_fake(plan, fake)
    assert checks[0] == "web2 is MAINT" and fake.changes == ["set server site/web2 state maint"]


def test_taking_out_a_node_that_takes_nothing_is_no_loss() -> None:
    fake = FakeHAProxy()
    for name in ("web1", "web2"):
        fake.servers[name].bits = FMAINT
    checks = _run_fake(plan_drain(parts.INV, parts.cluster_state(), "web3", timeout=0.1), fake)
    assert checks[0] == "web3 is MAINT, already so: nothing sent" and fake.changes == []


def test_the_snapshot_counts_a_disabled_server_made_ready_as_ready() -> None:
    # What the probe may call MAINT for bit 0x04, HAProxy's status word calls UP.
    web3 = parts.server("web3", "maint", "UP")
    state = parts.cluster_state(
        balancer=parts.balancer(parts.server("web1", "maint", "MAINT"), parts.server("web2"), web3)
    )
    assert plan_drain(parts.INV, state, "web2").refusals == ()


def _ab_inventory() -> Inventory:
    """The unit tests' site with web3 in a second backend, site_b (an A/B rollover's side B)."""
    web = tuple(
        replace(w, backend="site_b" if w.name == "web3" else "site") for w in parts.INV.web_nodes
    )
    assert parts.INV.balancer is not None
    balancer = replace(parts.INV.balancer, backends=("site", "site_b"))
    return replace(parts.INV, web_nodes=web, balancer=balancer)


def test_a_node_acts_in_its_own_backend() -> None:
    inv = _ab_inventory()
    fake = FakeHAProxy()
    fake.servers["web3"].backend = "site_b"
    plan = plan_ready(inv, parts.cluster_state(), "web3")
    checks = [
        check.detail for _, check, _ in asyncio.run(run_steps(plan.steps, FakeContext(fake, inv)))
    ]
    assert checks[0].startswith("web3 is READY")
    assert fake.changes[0] == "set server site_b/web3 state ready"


def test_a_node_whose_backend_is_not_live_takes_nothing_from_the_site() -> None:
    inv = _ab_inventory()
    fake = FakeHAProxy()
    fake.servers["web3"] = replace(fake.servers["web3"], bits=0, backend="site_b")
    fake.flags["live"] = "site_b"
    fake.servers["web1"].bits = FMAINT  # side A's last ready server is web2: no matter now
    plan = plan_maint(inv, parts.cluster_state(), "web2")
    ctx = FakeContext(fake, inv)
    checks = [check.detail for _, check, _ in asyncio.run(run_steps(plan.steps, ctx))]
    assert checks[0] == "web2 is MAINT"
    assert fake.changes[0] == "set server site/web2 state maint"
    # And web3, the live side's only ready server, is guarded as the last one.
    (check,) = [
        c.detail
        for _, c, _ in asyncio.run(
            run_steps(plan_maint(inv, parts.cluster_state(), "web3").steps, ctx)
        )
    ]
    assert "web3 is the last ready server now" in check
