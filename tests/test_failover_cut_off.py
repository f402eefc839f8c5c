"""Failover when the old primary's box does not answer: the risk said, the phrase typed.

db1's postmaster is killed and its sshd stopped, so hotspare can neither
stop nor fence it (no standby.signal can be written). The plan must say so
and ask for the phrase. Once its box is back, the lab does not start it
(it would be a second primary); started anyway, as an operator might, it
comes back as the primary it was, on the old timeline: status raises
stale-primary (critical) naming the way back, promote refuses it, and it is
rejoined on request (pg_rewind after a crash).
"""

from __future__ import annotations

import pytest

from console import cli
from console.inventory import load
from console.lab import control, pg, procs
from console.lab.layout import LabLayout
from console.state.model import ClusterState
from tests.support.labclient import db, eventually, hotspare, is_primary, kill_postmaster, streams
from tests.support.variants import snapshot_until

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
        said: list[str] = []
        control.up(lab, said.append)  # db1's sshd back
    assert "db1: left stopped: it would be a second primary beside db2" in said
    assert not pg.is_running(lab, "db1")
    pg.start(lab, "db1")  # an operator starts it anyway: nothing fenced it
    assert is_primary(lab, "db1") and is_primary(lab, "db2")
    state = snapshot_until(load(lab.cluster_file), lambda s: _codes(s) >= {"stale-primary"})
    (stale,) = [a for a in state.alarms if a.code == "stale-primary"]
    assert (stale.severity, stale.subject) == ("critical", ("db1",))
    assert "`hotspare rejoin db1`" in stale.message
    assert cli.main(["--cluster", str(lab.cluster_file), "status"]) == 2  # CRITICAL
    code, answer = hotspare(lab, capsys, "promote", "db1", "--dry-run")
    assert code == 3, answer  # never a way to make the old primary the site's again
    code, answer = hotspare(lab, capsys, "rejoin", "db1", "--confirm", "db1")
    assert code == 0, answer["reason"]
    eventually(lambda: streams(lab, "db2", "db1"), timeout=20)
    assert not is_primary(lab, "db1")


def _codes(state: ClusterState) -> set[str]:
    return {alarm.code for alarm in state.alarms}
