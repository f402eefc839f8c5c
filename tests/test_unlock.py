"""The lock's edges on the lab: an audit log that cannot be written, and `hotspare unlock`."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from console.lab.layout import LabLayout
from tests.support.labclient import haproxy, hotspare
from tests.support.operators import Operator, run


def _admin(lab: LabLayout, server: str) -> str:
    answer = asyncio.run(haproxy(lab, "show servers state site"))
    for line in answer.splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[3] == server:
            return fields[6]  # srv_admin_state
    raise AssertionError(f"{server} not in {answer!r}")


def test_an_audit_log_that_cannot_be_written_refuses_the_action_before_anything_changes(
    lab: LabLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _admin(lab, "web1")
    unwritable = tmp_path / "a-directory"  # root may write anywhere, but not into a directory
    unwritable.mkdir()
    done = run(lab, unwritable, "drain", "web1", "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "drain web1: REFUSED" in done.stdout
    assert "cannot be written" in done.stdout and "nothing changed" in done.stdout
    assert not re.search(r"^\s+1/\d+ ", done.stderr, re.M), "a step ran"
    assert _admin(lab, "web1") == before
    _, state = hotspare(lab, capsys, "status")
    assert state["action"] is None, "the lock was left behind"


def test_unlock_removes_a_gone_holders_lock_only_with_its_action_typed(
    lab: LabLayout,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(audit))
    holder = Operator.start(lab, audit, "drain", "web2", "--yes")
    try:
        holder.wait_for(r"^\s+1/\d+ ")
        holder.process.send_signal(signal.SIGSTOP)
        code, answer = hotspare(lab, capsys, "unlock", "--yes", "--confirm", "drain web2")
        assert code == 3 and "it is still running" in answer["reason"], answer
    finally:
        holder.kill()
    code, answer = hotspare(lab, capsys, "unlock", "--yes")
    assert code == 3 and "needs 'drain web2' typed" in answer["reason"], answer
    _, state = hotspare(lab, capsys, "status")
    assert state["action"]["gone"], "the killed holder is not seen as gone"
    code, answer = hotspare(lab, capsys, "unlock", "--yes", "--confirm", "drain web2")
    assert code == 0, answer
    _, state = hotspare(lab, capsys, "status")
    assert state["action"] is None
    code, answer = hotspare(lab, capsys, "unlock", "--yes")
    assert code == 0 and answer["plan"]["summary"].startswith("no action holds the lock")
    asyncio.run(haproxy(lab, "set server site/web2 state ready"))
