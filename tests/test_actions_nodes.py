"""Node actions against the lab under load: drain, ready, maint, weight; refusals; the audit."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import cli
from console.lab import control, procs
from console.lab.layout import LabLayout
from console.probes.haproxy import admin_state, parse_servers_state, parse_stat
from tests.support.labclient import haproxy
from tests.support.loadgen import Load, failures


@pytest.fixture
def audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return path


@pytest.fixture
def ready_again(lab: LabLayout) -> Iterator[None]:
    """Whatever a test does to web1 and web2, they end READY (web3 stays MAINT, warm)."""
    yield
    for node in ("web1", "web2"):
        asyncio.run(haproxy(lab, f"set server site/{node} state ready"))
        asyncio.run(haproxy(lab, f"set server site/{node} weight 1"))


def hotspare(lab: LabLayout, *args: str) -> int:
    return cli.main(["--cluster", str(lab.cluster_file), *args])


def admin(lab: LabLayout, server: str) -> str:
    states = parse_servers_state(asyncio.run(haproxy(lab, "show servers state site")))
    return admin_state(states[server])


def records(audit: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


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


def test_a_drain_waits_for_the_sessions_and_shows_them_falling(
    lab: LabLayout, audit: Path, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hotspare(lab, "drain", "web2", "--yes", "--then-maint", "--json") == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["outcome"] == "done"
    assert [s["title"] for s in outcome["steps"]] == [
        "Drain web2 in HAProxy",
        "Wait for web2's sessions to end",
        "Maint web2 in HAProxy",
        "Save the server states for a reload",
    ]
    assert admin(lab, "web2") == "maint"


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
    assert len(lines) == 2
    assert lines[0].endswith("weight web1: DONE")
    assert "drain web1: REFUSED (observer mode" in lines[1]
    assert hotspare(lab, "audit", "--json", "-n", "1") == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "refused"
