"""`hotspare patroni pause|resume|restart|reinit|history` on the Patroni lab, for real.

Each action goes through Patroni's REST API with curl on a db box; the tests
check what Patroni itself then says (``GET /cluster``) and what PostgreSQL
did (the postmaster's pid), never hotspare's own reading alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from console.cli import main
from console.lab import patroni
from console.lab.layout import LabLayout
from tests.support.labclient import eventually, hotspare

pytestmark = pytest.mark.lab


def _paused(lab: LabLayout) -> bool:
    found = patroni.cluster(lab)
    assert found is not None, "no Patroni answered GET /cluster"
    return bool(found.get("pause", False))


def _postmaster(lab: LabLayout, member: str) -> int:
    return int((lab.data_dir(member) / "postmaster.pid").read_text().split()[0])


def _replicas(lab: LabLayout) -> list[str]:
    leader = eventually(lambda: patroni.leader(lab), timeout=30)
    return [db for db in lab.db_names if db != leader]


def _all_stream(lab: LabLayout) -> bool:
    return len(patroni.streaming(lab)) == len(lab.db_names) - 1


@pytest.fixture
def resumed(patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> Iterator[LabLayout]:
    """The Patroni lab, never left paused, whatever the test did."""
    yield patroni_lab
    if _paused(patroni_lab):
        code, answer = hotspare(patroni_lab, capsys, "patroni", "resume", "--yes")
        assert code == 0, answer


def test_pause_then_resume_through_patroni_and_promote_refused_while_paused(
    resumed: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = resumed
    replica = _replicas(lab)[0]
    code, answer = hotspare(lab, capsys, "patroni", "pause", "--yes")
    assert (code, answer["outcome"]) == (0, "done"), answer
    assert _paused(lab)
    code, answer = hotspare(lab, capsys, "patroni", "pause", "--yes")
    assert code == 0 and "already paused, nothing sent" in answer["steps"][0]["check"], answer
    code, answer = hotspare(lab, capsys, "promote", replica, "--confirm", replica)
    assert (code, answer["outcome"]) == (3, "refused"), answer
    assert "Patroni is paused (maintenance mode)" in answer["reason"]
    code, answer = hotspare(lab, capsys, "patroni", "resume", "--yes")
    assert (code, answer["outcome"]) == (0, "done"), answer
    assert not _paused(lab)


def test_restart_a_replica_and_pending_with_nothing_pending_restarts_nothing(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    replica = _replicas(lab)[0]
    before = _postmaster(lab, replica)
    code, answer = hotspare(lab, capsys, "patroni", "restart", replica, "--yes")
    assert (code, answer["outcome"]) == (0, "done"), answer
    assert "restarted successfully" in answer["steps"][0]["check"]
    assert _postmaster(lab, replica) != before
    eventually(partial(_all_stream, lab), timeout=30)
    after = _postmaster(lab, replica)
    code, answer = hotspare(lab, capsys, "patroni", "restart", replica, "--pending", "--yes")
    assert (code, answer["outcome"]) == (0, "done"), answer
    assert answer["steps"][0]["check"] == "no restart pending: Patroni restarted nothing"
    assert _postmaster(lab, replica) == after


def test_history_after_a_switchover_names_the_new_leader(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    candidate = _replicas(lab)[0]
    code, answer = hotspare(lab, capsys, "promote", candidate, "--confirm", candidate)
    assert code == 0, answer
    code, history = hotspare(lab, capsys, "patroni", "history")
    assert code == 0 and history["schema"] == "hotspare.patroni-history/1", history
    assert candidate in [line["new_leader"] for line in history["history"]], history
    capsys.readouterr()
    assert main(["--cluster", str(lab.cluster_file), "patroni", "history"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["TL", "LSN", "Reason", "Timestamp", "New", "Leader"]
    assert table[-1].split()[-1] == history["history"][-1]["new_leader"]
    eventually(partial(_all_stream, lab), timeout=60)  # the old leader follows again


def test_reinit_rebuilds_a_replica_from_the_leader_and_refuses_the_leader(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    leader = eventually(lambda: patroni.leader(lab), timeout=30)
    code, answer = hotspare(lab, capsys, "patroni", "reinit", leader, "--confirm", leader)
    assert (code, answer["outcome"]) == (3, "refused"), answer
    assert "a leader is never rebuilt" in answer["reason"]
    replica = _replicas(lab)[-1]
    system = (lab.data_dir(replica) / "global" / "pg_control").stat().st_ino
    before = _postmaster(lab, replica)
    code, answer = hotspare(lab, capsys, "patroni", "reinit", replica, "--confirm", replica)
    assert (code, answer["outcome"]) == (0, "done"), answer
    assert answer["steps"][-1]["check"].endswith("; streaming"), answer
    # A new copy: a new postmaster over a data directory written afresh.
    assert _postmaster(lab, replica) != before
    assert (lab.data_dir(replica) / "global" / "pg_control").stat().st_ino != system
    eventually(partial(_all_stream, lab), timeout=60)
