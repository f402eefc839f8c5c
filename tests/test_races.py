"""Two operators at once: one action runs, the other is refused naming it.

Each operator is its own hotspare process with its own SSH links, as two
jump hosts would be. The cluster's action lock decides who goes first; the
guards are judged again under it on a fresh read, so the one that comes
second cannot act on what it saw before the first changed the site.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.actions.audit import AuditLog
from console.lab import procs
from console.lab.layout import LabLayout
from tests.support.labclient import haproxy, hotspare, http, is_primary, streams
from tests.support.operators import Operator, run

TRIES = 4  # each try waits out the hung box once (~9 s)


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return path


class SiteWatch:
    """Asks the site through the balancer every 20 ms; keeps every status that was not 200."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.bad: list[int] = []
        self.asked = 0
        self._stop = threading.Event()
        self._deadline = time.monotonic() + seconds
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SiteWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            status, _ = http(self.url)
            self.asked += 1
            if status != 200:
                self.bad.append(status)
            time.sleep(0.02)


@pytest.fixture
def web3_hung(lab: LabLayout) -> Iterator[None]:
    """web3's sshd stopped (SIGSTOP): every snapshot waits for it, then calls it stale."""
    sshd = procs.recorded(lab.pid_dir)["sshd-web3"]
    os.kill(sshd.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(sshd.pid, signal.SIGCONT)


def test_two_drains_at_once_with_a_box_hung_never_leave_the_site_without_a_server(
    lab: LabLayout, web3_hung: None, audit_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = []
    with SiteWatch(lab.site_url, seconds=TRIES * 40) as site:
        for _ in range(TRIES):
            first = Operator.start(lab, audit_file, "drain", "web1", "--yes")
            second = Operator.start(lab, audit_file, "drain", "web2", "--yes")
            codes = sorted((first.finish()[0], second.finish()[0]))
            outcomes.append(codes)
            for node in ("web1", "web2"):  # put back by hand: not what is tested here
                asyncio.run(haproxy(lab, f"set server site/{node} state ready"))
    print(f"exit codes per try: {outcomes}; {site.asked} requests, not 200: {site.bad}")
    assert all(codes == [0, 3] for codes in outcomes), outcomes
    assert site.asked > TRIES, "the site was hardly asked: the check proves nothing"
    assert site.bad == [], "the site answered other than 200 while two drains raced"


@pytest.mark.parametrize(
    "rival",
    [("read-only", "on"), ("promote", "db2", "--confirm", "db2"), ("drain", "web1")],
    ids=["read-only", "promote", "drain"],
)
def test_an_action_while_a_promote_runs_is_refused_naming_it(
    db_lab: LabLayout, audit_file: Path, capsys: pytest.CaptureFixture[str], rival: tuple[str, ...]
) -> None:
    lab = db_lab
    promote = Operator.start(
        lab, audit_file, "promote", "db2", "--rejoin", "--yes", "--confirm", "db2"
    )
    promote.wait_for(r"^\s+2/\d+ ")  # the lock is held from before step 1
    # The promoting console pauses (^Z, a slow jump host): its lock is fresh, it is running.
    promote.process.send_signal(signal.SIGSTOP)
    try:
        refused = run(lab, audit_file, *rival, "--yes")
    finally:
        promote.process.send_signal(signal.SIGCONT)
    code, _, said = promote.finish()
    assert code == 0, said
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "another action is running: promote db2 running: step " in refused.stdout
    assert "nothing changed" in refused.stdout and "way back" not in refused.stdout
    # The site is as the winner promised: db2 primary, db1 following, writes taken, nodes in.
    assert is_primary(lab, "db2") and not is_primary(lab, "db1")
    assert streams(lab, "db2", "db1")
    _, state = hotspare(lab, capsys, "status")
    assert state["verdicts"]["site_mode"] == "normal"
    assert state["verdicts"]["backends_up"] == 2
    assert state["action"] is None
    records = [r for r in AuditLog(audit_file, "lab").records() if r["event"] == "outcome"]
    assert [(r["action"], r["outcome"]) for r in records] == [
        (rival[0] if rival[0] != "read-only" else "read-only on", "refused"),
        ("promote", "done"),
    ]
