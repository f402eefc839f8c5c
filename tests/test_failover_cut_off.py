"""Failover when the old primary's box does not answer: the risk said, the phrase typed.

db1's postmaster is killed and its sshd stopped, so hotspare can neither
stop nor fence it. The plan must say so and ask for the phrase; the old
primary, once its box is back, must not start as a second primary, and is
rejoined on request (pg_rewind after a crash).
"""

from __future__ import annotations

import pytest

from console.lab import control, procs
from console.lab.layout import LabLayout
from tests.support.labclient import db, eventually, hotspare, is_primary, kill_postmaster, streams

pytestmark = pytest.mark.lab

PHRASE = "db1 is off, promote db2"


def _receiver_streaming(lab: LabLayout) -> bool:
    with db(lab, "db2") as conn:
        row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    return row is not None and row[0] == "streaming"


def test_failover_with_the_old_primarys_box_cut_off_needs_it_said_off(
    db_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = db_lab
    sshd = procs.recorded(lab.pid_dir)["sshd-db1"]
    kill_postmaster(lab, "db1")
    procs.stop(sshd)
    try:
        eventually(lambda: not _receiver_streaming(lab), timeout=20)
        code, answer = hotspare(lab, capsys, "failover", "db2", "--dry-run")
        plan = answer["plan"]
        assert code == 0 and plan["confirm"] == PHRASE
        assert "CANNOT stop it" in plan["summary"] and "split brain" in plan["summary"]
        assert not any(s["title"].startswith("Fence") for s in plan["steps"])
        code, answer = hotspare(lab, capsys, "failover", "db2", "--confirm", "db2")
        assert code == 3 and PHRASE in answer["reason"]
        code, answer = hotspare(lab, capsys, "failover", "db2", "--confirm", PHRASE)
        assert code == 0, answer["reason"]
        assert is_primary(lab, "db2")
    finally:
        control.up(lab, lambda line: None)  # db1's sshd back; db1 itself stays down
    assert not is_primary(lab, "db1"), "db1 came back as a second primary"
    code, answer = hotspare(lab, capsys, "rejoin", "db1", "--confirm", "db1")
    assert code == 0, answer["reason"]
    eventually(lambda: streams(lab, "db2", "db1"), timeout=20)
