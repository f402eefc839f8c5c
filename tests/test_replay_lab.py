"""Replay of a switchover the shared monitor recorded on the real lab.

A shared monitor records the lab every second; db2 is promoted (db1 rejoins
it as its standby), then db1 again. Replayed, the moment the promote was
asked shows db1 primary, then (db1 stopped first) a moment or two with no
primary, then db2: the change lands within two refreshes of the plan's
step "Promote db2" (one to probe db2, one to record the snapshot), and
the timeline at that moment holds the new primary's event. An export of
the recording, opened as another machine would (no cluster.yaml), shows
the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import pytest

from console.cli.replay import opened
from console.history import Recording
from console.history.replay import Replay
from console.lab.layout import LabLayout
from screens.panels import ReplicasPanel
from screens.replay import ReplayApp
from tests.support.labclient import eventually, hotspare
from tests.support.shared_monitor import SharedMonitor, run

pytestmark = pytest.mark.lab
INTERVAL = 1.0
PROBE = 0.5  # the most a probe of a lab box takes, answer included


def _primaries(history: Path, since: float) -> set[tuple[str, ...]]:
    """The primaries seen in the moments recorded after SINCE."""
    return {s.verdicts.primaries for s in Recording.open(history).moments(since)}


def _change(replay: Replay, start: float, to: tuple[str, ...]) -> int:
    """The first moment after START whose primaries are TO."""
    for number in range(len(replay)):
        state = replay.recording.moment(number)
        if state.taken_at > start and state.verdicts.primaries == to:
            return number
    raise AssertionError(f"no moment after {start} with primaries {to}")


def _step(audit: Path, title: str) -> tuple[float, float]:
    """When the step TITLE of the audit log began and ended."""
    for line in audit.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "step" and record.get("title") == title:
            return record["epoch"] - record["seconds"], record["epoch"]
    raise AssertionError(f"no step {title!r} in {audit}")


def _switchover_seen(replay: Replay, asked: float, promoted: tuple[float, float]) -> float:
    """Check the replay around the switchover asked at ASKED; return when db2 was seen primary.

    db2 is primary from the step PROMOTED (its start and end) on; the monitor sees it
    at its next probe of db2 (every INTERVAL) and records it with its next snapshot
    (every INTERVAL too): within two intervals and a probe's time of the step's end.
    """
    replay.go(asked)
    assert replay.state().verdicts.primaries == ("db1",)
    changed = _change(replay, asked, ("db2",))
    seen = []
    while replay.position < changed:
        replay.step(1)
        seen.append(replay.state().verdicts.primaries)
    print("primaries from the promote asked to db2 seen:", seen)
    assert set(seen[:-1]) <= {("db1",), ()}
    at = replay.taken_at
    assert replay.state().verdicts.primaries == ("db2",)
    assert promoted[0] < at <= promoted[1] + 2 * INTERVAL + PROBE, (promoted, at)
    events = [(e.subject, e.text) for e in replay.timeline().events if e.at == at]
    assert ("db2", "role standby -> primary") in events, events
    return at


def test_a_recorded_switchover_replays_with_the_primary_change_at_its_moment(
    db_lab: LabLayout,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOTSPARE_MONITOR")
    monkeypatch.setenv("HOTSPARE_AUDIT", str(tmp_path / "audit.jsonl"))
    history = tmp_path / "history"
    monitor = SharedMonitor(
        db_lab.cluster_file,
        *("--interval", str(INTERVAL), "--history", str(history)),
        log=tmp_path / "monitor.log",
    )
    try:
        eventually(lambda: len(Recording.open(history)) >= 3, timeout=30)
        asked = time.time()
        code, answer = hotspare(db_lab, capsys, "promote", "db2", "--rejoin", "--confirm", "db2")
        returned = time.time()
        assert code == 0, answer and answer.get("reason")
        eventually(lambda: ("db2",) in _primaries(history, returned), timeout=30)
        back = time.time()
        code, answer = hotspare(db_lab, capsys, "promote", "db1", "--rejoin", "--confirm", "db1")
        assert code == 0, answer and answer.get("reason")
        home = time.time()
        eventually(lambda: ("db1",) in _primaries(history, home), timeout=30)
    finally:
        monitor.stop()

    promoted = _step(tmp_path / "audit.jsonl", "Promote db2")
    replay = Replay(Recording.open(history))
    assert replay.recording.notes == []
    assert replay.interval == pytest.approx(INTERVAL, abs=0.3)
    at = _switchover_seen(replay, asked, promoted)
    print(
        f"promote asked {asked:.2f}, step 'Promote db2' {promoted[0]:.2f} to {promoted[1]:.2f}, "
        f"db2 seen primary {at:.2f}, promote returned {returned:.2f}"
    )
    replay.go(back)
    assert replay.state().verdicts.primaries == ("db2",)
    replay.last()
    assert replay.state().verdicts.primaries == ("db1",)

    # Exported as an operator does, and replayed where no cluster.yaml is.
    exported = tmp_path / "switchover.recording.gz"
    done = run(db_lab.cluster_file, "history", "--dir", str(history), "export", str(exported))
    assert done.returncode == 0, done.stderr
    args = argparse.Namespace(source=exported, cluster=None, at=None)
    chosen = opened(args, lambda _: None)
    assert chosen is not None
    inv, copy = chosen
    assert len(copy) == len(replay) and inv.name == "lab"
    assert _switchover_seen(copy, asked, promoted) == at

    async def role_of_db2(moment: float) -> str:
        app = ReplayApp(inv, Replay(Recording.open(exported)))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            app.replay.go(moment)
            app.moved()
            await pilot.pause(0.1)
            return str(app.query_one(ReplicasPanel).get_cell("db2", "role").plain)

    assert asyncio.run(role_of_db2(at)) == "primary"
    assert asyncio.run(role_of_db2(at - 0.01)) == "standby"
