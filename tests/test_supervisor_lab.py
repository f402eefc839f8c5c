"""The lab's sites under runit, seen and restarted by hotspare over SSH as the lab's user.

`hotspare restart web2` under a client loop through the balancer fails no
request and leaves an audit record; it is refused for the last ready node;
a SIGSTOPped site is restarted and serves again; the probe reports runit's
pid, uptime and count of restarts, and a site runit has down is an alarm.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.lab import control, procs, supervise
from console.lab.layout import LabLayout
from tests.support.labclient import eventually, haproxy, hotspare, serving, ssh
from tests.support.loadgen import Load, failures


@pytest.fixture
def ready_again(lab: LabLayout) -> Iterator[None]:
    """Whatever a test does, web1 and web2 end READY and their sites up under runit."""
    yield
    for node in ("web1", "web2"):
        os.kill(_pid(lab, node), signal.SIGCONT)
        asyncio.run(_sv(lab, node, "up"))
        asyncio.run(haproxy(lab, f"set server site/{node} state ready"))
    for node in ("web1", "web2"):
        health = f"{lab.node_url(node)}healthz"
        eventually(lambda url=health: procs.http_ok(url), timeout=20)  # type: ignore[misc]
    eventually(lambda: serving(lab, "web1", "web2"), timeout=30)  # the next test needs both
    lab.state_file().write_text(asyncio.run(haproxy(lab, "show servers state")))


def _pid(lab: LabLayout, node: str) -> int:
    proc = supervise.site_proc(lab, node)
    assert proc is not None, f"{node}: runit runs no site"
    return proc.pid


async def _sv(lab: LabLayout, node: str, command: str) -> str:
    """`sv COMMAND` on NODE's service, over SSH as the lab's user (as hotspare does)."""
    async with await ssh(lab, node) as conn:
        result = await conn.run(f"sv {command} {supervise.service_dir(lab, node)}", timeout=15)
    return str(result.stdout)


def _node(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in document["nodes"] if n["name"] == name)


def _restart_step(outcome: dict[str, Any]) -> dict[str, Any]:
    steps = outcome["steps"]
    return next(s for s in steps if s["title"].startswith("Restart web2"))


def test_restart_under_load_fails_no_request_and_is_audited(
    lab: LabLayout, audit: Path, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _pid(lab, "web2")
    load = Load(lab.site_url, rate=60, seconds=60, post_every=4).start()
    try:
        time.sleep(0.5)
        code, outcome = hotspare(lab, capsys, "restart", "web2", "--yes")
        time.sleep(0.5)
    finally:
        answers = load.stop()
    assert code == 0, outcome
    assert outcome["outcome"] == "done"
    assert f"(was pid {before}) by sv restart" in _restart_step(outcome)["check"]
    assert _pid(lab, "web2") != before
    assert len(answers) > 50
    assert failures(answers) == []
    records = [r for r in map(_json, audit.read_text().splitlines()) if "outcome" in r]
    assert [(r["action"], r["target"], r["outcome"]) for r in records] == [
        ("restart", "web2", "done")
    ]


def _json(line: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(line)
    return loaded


def test_restart_is_refused_for_the_last_ready_node(
    lab: LabLayout, audit: Path, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(haproxy(lab, "set server site/web1 state drain"))  # web3 is warm, in MAINT
    before = _pid(lab, "web2")
    code, answer = hotspare(lab, capsys, "restart", "web2", "--yes")
    assert code == 3, answer
    assert any("web2 is the last ready server" in r for r in answer["plan"]["refusals"])
    assert _pid(lab, "web2") == before  # nothing was restarted


def test_a_sigstopped_site_is_restarted_and_serves_again(
    lab: LabLayout, audit: Path, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = _pid(lab, "web2")
    os.kill(stopped, signal.SIGSTOP)
    eventually(lambda: not procs.http_ok(f"{lab.node_url('web2')}healthz", 0.5), timeout=5)
    code, outcome = hotspare(lab, capsys, "restart", "web2", "--yes")
    assert code == 0, outcome
    check = _restart_step(outcome)["check"]
    assert f"(was pid {stopped})" in check and ("sv restart" in check or "force" in check)
    assert procs.start_time(stopped) is None  # the stopped process is gone
    assert procs.http_ok(f"{lab.node_url('web2')}healthz")
    assert [s["title"] for s in outcome["steps"]][-1] == "Wait for web2's health check to be UP"


def test_the_probe_shows_runits_view_and_a_site_it_has_down_is_an_alarm(
    lab: LabLayout, ready_again: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, document = hotspare(lab, capsys, "status")
    sv = _node(document, "web2")["supervisor"]
    assert sv["state"] == "run" and sv["pid"] == _pid(lab, "web2"), sv
    assert sv["state_s"] >= 0 and sv["want_up"] is True and sv["restarts"] >= 0
    assert sv["service"] == str(supervise.service_dir(lab, "web2"))
    assert "ok: down" in asyncio.run(_sv(lab, "web2", "-w 10 down"))

    def down_alarm() -> dict[str, Any] | None:
        _code, seen = hotspare(lab, capsys, "status")
        found = [a for a in seen["alarms"] if a["code"] == "supervisor-down"]
        return found[0] if found else None

    alarm = eventually(down_alarm, timeout=10)
    assert alarm["subject"] == ["web2"] and "has the site down" in alarm["message"]
    _code, document = hotspare(lab, capsys, "status")
    assert _node(document, "web2")["supervisor"]["state"] == "down"
    restarts = sv["restarts"]
    assert "ok: run" in asyncio.run(_sv(lab, "web2", "-w 10 up"))
    _code, document = hotspare(lab, capsys, "status")
    assert _node(document, "web2")["supervisor"]["restarts"] == restarts + 1


def test_lab_down_stops_a_sigstopped_site_and_its_runsv_by_pid(
    lab: LabLayout, ready_again: None
) -> None:
    """What `lab down` does for each web node, on web2 alone; `lab up` then brings it back."""
    site = supervise.site_proc(lab, "web2")
    runsv = supervise.runsv_proc(lab, "web2")
    assert site is not None and runsv is not None
    os.kill(site.pid, signal.SIGSTOP)
    said = supervise.stop(lab, "web2")
    assert said == [f"stopped site-web2 (pid {site.pid})", f"stopped runsv-web2 (pid {runsv.pid})"]
    assert not procs.is_alive(site) and not procs.is_alive(runsv)
    control.up(lab, lambda line: None)
    assert supervise.site_proc(lab, "web2") is not None
    assert procs.http_ok(f"{lab.node_url('web2')}healthz")
