"""Switchover, failover and rejoin against the real lab, under a writer's load.

A writer commits rows through the site's multi-host connection string and
records each acknowledged commit; a watch asks both members, round after
round, which is out of recovery. Every test leaves db1 the primary and db2
streaming from it, as the lab starts.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from console import cli
from console.actions import catalog
from console.actions.audit import AuditLog
from console.actions.context import Context
from console.actions.runner import Outcome, execute
from console.authority import Authority
from console.inventory import load
from console.lab import pg
from console.lab.layout import LabLayout
from console.monitor import Monitor
from tests.support.dbwatch import Watch, Writer
from tests.support.labclient import (
    db,
    eventually,
    hotspare,
    http,
    is_primary,
    kill_postmaster,
    streams,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AuditLog:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return AuditLog(path, "lab")


def _switch(
    lab: LabLayout, capsys: pytest.CaptureFixture[str], old: str, new: str
) -> tuple[Any, Writer, Watch, float]:
    writer, watch = Writer(lab, seconds=90).start(), Watch(lab, seconds=90).start()
    eventually(lambda: len(writer.acked) > 50, timeout=10)
    started = time.monotonic()
    try:
        code, answer = hotspare(lab, capsys, "promote", new, "--rejoin", "--confirm", new)
        assert code == 0, (answer["reason"], answer["undone"])
        before = len(writer.acked)
        eventually(lambda: len(writer.acked) > before + 50, timeout=10)
    finally:
        writer.stop()
        watch.stop()
    return answer, writer, watch, writer.longest_gap(after=started)


def test_switchover_there_and_back_loses_no_commit_and_never_has_two_primaries(
    db_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = db_lab
    for old, new in (("db1", "db2"), ("db2", "db1")):
        answer, writer, watch, gap = _switch(lab, capsys, old, new)
        print(f"{old} -> {new}: {len(writer.acked)} commits, writes stopped {gap:.3f} s")
        assert answer["outcome"] == "done"
        assert writer.missing_on(new) == [], "acknowledged commits missing on the new primary"
        assert watch.both_writable() == [], "a round saw two members out of recovery"
        assert watch.primaries_seen() == [old, new]
        assert is_primary(lab, new) and not is_primary(lab, old)
        assert streams(lab, new, old), f"{old} does not stream from {new}"
        titles = [step["title"] for step in answer["steps"]]
        assert f"Promote {new}" in titles and f"Check {old} streams from {new}" in titles
        stopped = next(s["check"] for s in answer["steps"] if s["title"].endswith("takes writes"))
        assert "writes were stopped for" in stopped
    outcomes = [r["outcome"] for r in audit.records() if r["event"] == "outcome"]
    assert outcomes == ["done", "done"]
    status, _ = http(lab.site_url)
    assert status == 200


async def _run_switchover(lab: LabLayout, candidate: str, on_say: Any, audit: AuditLog) -> Outcome:
    inv = load(lab.cluster_file)
    monitor = Monitor(inv)
    ctx = Context(monitor, say=on_say)
    try:
        action = next(a for a in catalog.ACTIONS if a.name == "promote")
        request = catalog.request(action, inv, candidate, {})
        plan = request.build(await monitor.once(8.0), None)
        assert not plan.refusals, plan.refusals
        authority = Authority.decide(False, False, "lab")
        return await execute(request, plan, ctx, authority, audit, candidate)
    finally:
        await ctx.close()
        await monitor.close()


def test_a_candidate_that_cannot_catch_up_aborts_and_db1_takes_writes_again(
    db_lab: LabLayout, audit: AuditLog
) -> None:
    lab = db_lab
    said: list[str] = []

    def pause_replay_at_checkpoint(text: str) -> None:
        said.append(text)
        if "Checkpoint db1" in text and not text.split(" ", 1)[1].startswith(("ok", "FAILED")):
            with db(lab, "db2") as conn:  # after the preconditions: the plan cannot see it coming
                conn.execute("SELECT pg_wal_replay_pause()")

    try:
        outcome = asyncio.run(_run_switchover(lab, "db2", pause_replay_at_checkpoint, audit))
    finally:
        with db(lab, "db2") as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    assert outcome.status == "failed"
    assert outcome.results[-1].title == "Check db2 has every committed transaction"
    assert "NOT past db1's shutdown checkpoint" in outcome.results[-1].check
    assert [r.title for r in outcome.undone] == [
        "Start db1 again as the primary it was",
        "Lift the read-only mode on the balancer",
    ]
    assert all(r.ok for r in outcome.undone + outcome.cleanup)
    assert outcome.reason is not None and "put back" in outcome.reason
    assert is_primary(lab, "db1") and not is_primary(lab, "db2")
    with db(lab, "db1") as conn:
        conn.execute("BEGIN READ WRITE; CREATE TEMP TABLE t (); COMMIT")
    eventually(lambda: streams(lab, "db1", "db2"), timeout=20)
    # The nodes' health checks failed while db1 was down: HAProxy takes them back in a few s.
    # The site answers a saved note with 303 to its front page, which lists the note.
    note = f"after the abort {time.time()}"
    eventually(lambda: note in http(f"{lab.site_url}notes", {"body": note})[1], timeout=20)
    assert [r["outcome"] for r in audit.records() if r["event"] == "outcome"] == ["failed"]


def test_promote_is_refused_for_observers_and_unfit_candidates_and_already_so_for_the_primary(
    db_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog, tmp_path: Path
) -> None:
    lab = db_lab
    code, answer = hotspare(lab, capsys, "--observe", "promote", "db2", "--yes")
    assert (code, answer["outcome"]) == (3, "refused")
    assert "observer mode" in answer["reason"]
    code, answer = hotspare(lab, capsys, "promote", "db1", "--yes")
    assert code == 0 and answer["plan"]["summary"] == "db1 is already the primary: nothing to do"
    assert answer["steps"] == []
    # Lag: a copy of cluster.yaml that allows 1 kB, and a standby that has stopped replaying.
    strict = tmp_path / "cluster.yaml"
    text = lab.cluster_file.read_text()
    strict.write_text(
        text.replace("database_defaults:\n", "database_defaults:\n  switchover_max_lag: 1kB\n")
    )
    with db(lab, "db2") as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        with db(lab, "db1") as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS lag_filler (t text)")
            conn.execute(
                "INSERT INTO lag_filler SELECT repeat('x', 100) FROM generate_series(1, 200)"
            )
        capsys.readouterr()
        code = cli.main(["--cluster", str(strict), "promote", "db2", "--yes", "--json"])
        answer = json.loads(capsys.readouterr().out)
        assert code == 3
        assert "lag under 1024 bytes (switchover_max_lag)" in answer["reason"]
        assert "replay is not paused" in answer["reason"]
    finally:
        with db(lab, "db2") as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    # Not streaming: the standby's WAL receiver is switched off.
    with db(lab, "db2") as conn:
        row = conn.execute("SHOW primary_conninfo").fetchone()
        assert row is not None
        conninfo = str(row[0])
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
    try:
        eventually(lambda: not streams(lab, "db1", "db2"), timeout=20)
        code, answer = hotspare(lab, capsys, "promote", "db2", "--yes")
        assert code == 3 and "db2 streams from db1" in answer["reason"]
    finally:
        with db(lab, "db2") as conn:
            conn.execute(f"ALTER SYSTEM SET primary_conninfo = '{conninfo}'")
            conn.execute("SELECT pg_reload_conf()")
    eventually(lambda: streams(lab, "db1", "db2"), timeout=20)
    outcomes = [r["outcome"] for r in audit.records() if r["event"] == "outcome"]
    assert outcomes == ["refused", "done", "refused", "refused"]
    assert is_primary(lab, "db1")


def test_failover_after_the_primary_dies_then_the_old_primary_is_refused_and_rejoined(
    db_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = db_lab
    kill_postmaster(lab, "db1")
    eventually(lambda: not _streams_from_db2_view(lab), timeout=20)
    code, answer = hotspare(lab, capsys, "failover", "db2", "--confirm", "db1")
    assert code == 3 and "needs 'db2' typed" in answer["reason"]
    code, answer = hotspare(lab, capsys, "failover", "db2", "--confirm", "db2")
    assert code == 0, answer
    answers = {s["title"]: s["answer"] for s in answer["steps"]}
    assert "received WAL up to" in answers["Record what may be lost"]
    fence = "Fence db1: stop it and keep it from coming back as a primary"
    assert fence in answers
    assert is_primary(lab, "db2")
    assert (lab.data_dir("db1") / "standby.signal").exists()
    # Restarted as it was left, the fenced db1 comes back read-only and cannot be promoted.
    pg.start(lab, "db1")
    assert not is_primary(lab, "db1")
    code, answer = hotspare(lab, capsys, "promote", "db1", "--yes")
    assert code == 3 and "db1 streams from db2" in answer["reason"]
    # Worse: someone removes the fence and starts it by hand. It is flagged and refused.
    pg.stop(lab, "db1")
    (lab.data_dir("db1") / "standby.signal").unlink()
    pg.start(lab, "db1")
    assert is_primary(lab, "db1") and is_primary(lab, "db2")
    code, status = hotspare(lab, capsys, "status")
    codes = {alarm["code"]: alarm for alarm in status["alarms"]}
    assert "stale-primary" in codes and codes["stale-primary"]["subject"] == ["db1"]
    assert "hotspare rejoin db1" in codes["stale-primary"]["message"]
    code, answer = hotspare(lab, capsys, "promote", "db1", "--yes")
    assert code == 3 and "exactly one primary" in answer["reason"]
    code, answer = hotspare(lab, capsys, "read-only", "off", "--yes")
    assert code == 3
    code, answer = hotspare(lab, capsys, "rejoin", "db1", "--confirm", "db1")
    assert code == 0, answer
    kept = next(s["answer"] for s in answer["steps"] if s["title"] == "Keep what only db1 has")
    assert "kept in" in kept
    assert list((Path(f"{lab.data_dir('db1')}.hotspare-kept") / "pg_wal").iterdir())
    eventually(lambda: streams(lab, "db2", "db1"), timeout=20)
    assert not is_primary(lab, "db1")
    outcomes = [(r["action"], r["outcome"]) for r in audit.records() if r["event"] == "outcome"]
    assert outcomes == [
        ("failover", "refused"),
        ("failover", "done"),
        ("promote", "refused"),
        ("promote", "refused"),
        ("read-only off", "refused"),
        ("rejoin", "done"),
    ]


def _streams_from_db2_view(lab: LabLayout) -> bool:
    with db(lab, "db2") as conn:
        row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    return row is not None and row[0] == "streaming"
