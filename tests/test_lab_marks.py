"""`pytest -m "not lab"` runs no test that needs the lab: the marking is whole.

tests/conftest.py marks every test whose fixture closure holds `lab`, and
puts tests/support/labguard.py around every other test: here, that the
closure reaches through other fixtures, and that the guard stops each way
to a lab.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncssh
import psycopg
import pytest

from tests.conftest import TEST_BLOCK
from tests.support.labguard import Guard, LabReached

TESTS = Path(__file__).resolve().parent


def test_every_test_that_needs_the_lab_is_marked_even_through_other_fixtures(
    tmp_path: Path,
) -> None:
    report = tmp_path / "marks.json"
    plugins = ["-p", "no:cacheprovider", "-p", "tests.support.markreport"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *plugins, str(TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS.parent,
        env={**os.environ, "HOTSPARE_MARK_REPORT": str(report)},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tests = json.loads(report.read_text())
    assert len(tests) > 500
    unmarked = [t for t, seen in tests.items() if "lab" in seen["closure"] and not seen["marked"]]
    assert unmarked == []
    # The closure is what makes this whole: tests that never name `lab` themselves,
    # nor carry the mark in their file, reach it through db_lab or a module's fixture.
    through = [
        t
        for t, seen in tests.items()
        if "lab" in seen["closure"] and "lab" not in seen["own"] and not seen["said"]
    ]
    assert len(through) >= 5, through


def test_the_guard_stops_every_way_to_a_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = Guard()
    guard.install(monkeypatch)  # over this (unmarked) test's own guard: it sees none of this
    box = f"{TEST_BLOCK}.2"
    with pytest.raises(LabReached, match=f"a connection to {box}.*not marked `lab`"):
        socket.create_connection((box, 2222), timeout=1)

    async def ssh() -> None:
        await asyncssh.connect(box, port=2222, known_hosts=None, connect_timeout=1)

    with pytest.raises(LabReached):
        asyncio.run(ssh())
    with pytest.raises(LabReached, match="PostgreSQL at"):
        psycopg.connect(host=f"localhost,{TEST_BLOCK}.21", connect_timeout=1)
    with pytest.raises(LabReached, match="a process started with"):
        subprocess.run([sys.executable, "-c", "pass", "/tmp/hotspare-lab-127.0.5/cluster.yaml"])
    assert len(guard.reached) == 4
    # The machine's own loopback stays open to unit tests.
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname(), timeout=1):
        pass
    assert len(guard.reached) == 4


def test_a_test_not_marked_lab_runs_guarded() -> None:
    assert socket.socket.connect is not _UNGUARDED


_UNGUARDED = socket.socket.connect  # read at import, before any test's guard
