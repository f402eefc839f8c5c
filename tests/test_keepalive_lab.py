"""Keepalive on the lab: the shared monitor restarts a hung site, and never the last ready one.

web2's site is stopped with SIGSTOP: it still accepts connections and answers
nothing, the hang the thread's keepalive was for. With keepalive on in
cluster.yaml, the shared monitor must drain web2, restart its site through
runit (forced: a stopped process does not stop on TERM) and ready it again,
with no failed request through the balancer meanwhile, an audit record made
"as keepalive", and the timeline telling it. With web1 drained, web2 is the
last node ready: stopped, it is left alone (and said so in the monitor's log).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.events import changes
from console.history import Recording
from console.lab.layout import LabLayout
from tests.support.labclient import eventually, hotspare
from tests.support.loadgen import Load, failures
from tests.support.shared_monitor import SharedMonitor

pytestmark = pytest.mark.lab

PROBES = 3


@pytest.fixture
def keepalive(
    lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SharedMonitor, Path]]:
    """A shared monitor of the lab with keepalive on (its own cluster.yaml copy and audit)."""
    monkeypatch.delenv("HOTSPARE_MONITOR")
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(audit))
    document = yaml.safe_load(lab.cluster_file.read_text())
    document["keepalive"] = {"enabled": True, "limit": 1, "probes": PROBES, "min_interval": 600}
    copy = tmp_path / "cluster.yaml"
    copy.write_text(yaml.safe_dump(document))
    monitor = SharedMonitor(
        copy, "--interval", "1", "--history", str(tmp_path / "history"), log=tmp_path / "m.log"
    )
    try:
        yield monitor, audit
    finally:
        monitor.stop()


def test_keepalive_restarts_a_hung_site_with_no_failed_request_and_never_the_last_ready(
    keepalive: tuple[SharedMonitor, Path],
    lab: LabLayout,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monitor, audit = keepalive
    copy = monitor.cluster_file
    status = eventually(lambda: _status(copy, capsys), timeout=20)
    assert status["keepalive"] == "on"
    assert "KEEPALIVE ON" in monitor.log.read_text() or "keepalive ON" in monitor.log.read_text()

    # 1. web1 drained: web2 is the last node ready; hung, it is left alone.
    code, answer = hotspare(lab, capsys, "drain", "web1", "--yes")
    assert code == 0, answer
    try:
        before = _site_pid(copy, capsys)
        os.kill(before, signal.SIGSTOP)
        try:
            held = "keepalive holds back on web2: no other node is ready and up on the balancer"
            eventually(lambda: held in monitor.log.read_text(), timeout=30)
            assert _site_pid(copy, capsys) == before
        finally:
            os.kill(before, signal.SIGCONT)
    finally:
        code, answer = hotspare(lab, capsys, "ready", "web1", "--yes")
        assert code == 0, answer
    eventually(lambda: _ready_and_up(copy, capsys, "web1", "web2"), timeout=30)

    # 2. Now web1 serves: web2 hung is drained, restarted and made ready, no request failing.
    load = Load(lab.site_url, rate=20, seconds=120, workers=4).start()
    try:
        pid = _site_pid(copy, capsys)
        stopped_at = time.time()
        os.kill(pid, signal.SIGSTOP)
        restarted = eventually(lambda: _restarted(copy, capsys, pid), timeout=90, every=0.5)
        eventually(lambda: _ready_and_up(copy, capsys, "web1", "web2"), timeout=60)
        time.sleep(2)  # requests on web2 again
    finally:
        answers = load.stop()
    assert failures(answers) == [], failures(answers)[:5]
    print(
        f"web2 restarted as pid {restarted} {time.time() - stopped_at:.1f} s after SIGSTOP; "
        f"{len(answers)} requests, slowest {max(a.seconds for a in answers):.2f} s"
    )

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    mine = [r for r in records if r.get("action") == "restart" and r.get("target") == "web2"]
    assert mine[0]["event"] == "intent" and mine[0]["operator"]["as"].startswith("keepalive"), mine
    assert any(r["event"] == "outcome" and r.get("outcome") == "done" for r in mine), mine
    said = monitor.log.read_text()
    assert "keepalive restarts web2: its health check has not answered within 1 s for" in said
    assert "keepalive restart of web2: done" in said

    # The timeline, as every console computes it, tells the restart by keepalive.
    recording = Recording.open(tmp_path / "history")
    states = [recording.at(t) for t in recording.times() if t >= stopped_at - 2]
    told = [e.text for a, b in pairwise(states) for e in changes(a, b)]
    assert any("keepalive" in text and "restart" in text for text in told), told


def _status(cluster: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any] | None:
    from console.cli import main

    capsys.readouterr()
    main(["--cluster", str(cluster), "status", "--json"])
    out = capsys.readouterr().out
    return json.loads(out) if out.strip() else None


def _node(cluster: Path, capsys: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    state = _status(cluster, capsys)
    assert state is not None
    return next(n for n in state["nodes"] if n["name"] == name)


def _site_pid(cluster: Path, capsys: pytest.CaptureFixture[str]) -> int:
    supervisor = _node(cluster, capsys, "web2")["supervisor"]
    assert supervisor["state"] == "run", supervisor
    return int(supervisor["pid"])


def _restarted(cluster: Path, capsys: pytest.CaptureFixture[str], old: int) -> int | None:
    supervisor = _node(cluster, capsys, "web2")["supervisor"]
    if supervisor["state"] == "run" and supervisor["pid"] not in (None, old):
        return int(supervisor["pid"])
    return None


def _ready_and_up(cluster: Path, capsys: pytest.CaptureFixture[str], *names: str) -> bool:
    state = _status(cluster, capsys)
    servers = {s["name"]: s for s in (state or {}).get("balancer", {}).get("servers", [])}
    return all(
        servers.get(n, {}).get("admin") == "ready"
        and str(servers.get(n, {}).get("operational", "")).startswith("UP")
        for n in names
    )
