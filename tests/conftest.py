"""Fixtures shared by the suite: a clean environment and the real lab."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.lab import control
from console.lab.layout import LabLayout
from tests.support.labguard import Guard

# The test lab's own address block, apart from the demo lab's (127.0.10);
# another one lets two suites run side by side.
TEST_BLOCK = os.environ.get("HOTSPARE_TEST_BLOCK", "127.0.99")
# The A/B lab (two backends, `hotspare lab up --ab`) on a block of its own.
TEST_AB_BLOCK = os.environ.get("HOTSPARE_TEST_AB_BLOCK", "127.0.97")
# The Patroni lab (`hotspare lab up --engine patroni`) on another.
TEST_PATRONI_BLOCK = os.environ.get("HOTSPARE_TEST_PATRONI_BLOCK", "127.0.95")

# No ~/.ssh, agent or user config may leak into a test run: pin HOME for the
# whole session before any fixture runs.
_home = tempfile.mkdtemp(prefix="hotspare-test-home-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["HOME"] = _home
os.environ.pop("SSH_AUTH_SOCK", None)
# Times on screen (timeline stamps) must not depend on the machine's zone.
os.environ["TZ"] = "UTC"
time.tzset()
for name in ("HOTSPARE_CLUSTER", "HOTSPARE_LAB_BLOCK", "PGPASSFILE", "PGPASSWORD"):
    os.environ.pop(name, None)
# Monitor sockets live under the session's HOME, never the login's runtime dir;
# and no test meets (or starts) a shared monitor unless it asks for one
# (tests/test_monitor_daemon.py does).
os.environ.pop("XDG_RUNTIME_DIR", None)
os.environ["HOTSPARE_MONITOR"] = "own"


def _say(line: str) -> None:
    print(line)


@pytest.fixture(scope="session")
def lab() -> Iterator[LabLayout]:
    """The real lab on TEST_BLOCK, up for the session and always torn down."""
    yield from _up_for_the_session(LabLayout.for_block(TEST_BLOCK))


def _up_for_the_session(layout: LabLayout) -> Iterator[LabLayout]:
    control.down(layout, _say, purge=True)  # leftovers of a crashed run, by pid
    try:
        control.up(layout, _say)
        yield layout
    finally:
        control.down(layout, _say, purge=True)


@pytest.fixture(scope="session")
def ab_lab() -> Iterator[LabLayout]:
    """The A/B lab on TEST_AB_BLOCK (web1, web2 in `site`; web3, web4 warm in `site_b`)."""
    yield from _up_for_the_session(LabLayout.for_block(TEST_AB_BLOCK, ab=True))


@pytest.fixture(scope="session")
def patroni_lab_up() -> Iterator[LabLayout]:
    """The Patroni lab on TEST_PATRONI_BLOCK: etcd and Patroni on db1, db2, db3."""
    yield from _up_for_the_session(LabLayout.for_block(TEST_PATRONI_BLOCK, engine="patroni"))


@pytest.fixture
def patroni_lab(patroni_lab_up: LabLayout) -> LabLayout:
    """The Patroni lab, settled: one leader, the others streaming, nothing scheduled or paused.

    The test before may have moved the leader; its old leader rejoins on
    Patroni's time, not the test's, so every test waits here for the same start.
    """
    from console.lab import patroni

    deadline = time.monotonic() + 90
    while why := patroni.unsettled(patroni_lab_up):
        assert time.monotonic() < deadline, f"the Patroni lab did not settle in 90 s: {why}"
        time.sleep(0.5)
    return patroni_lab_up


@pytest.fixture
def audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The audit log of this test alone ($HOTSPARE_AUDIT), for the actions it runs."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return path


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def db_lab(lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> Iterator[LabLayout]:
    """The lab with db1 primary and db2 streaming from it, before and after the test."""
    from tests.support.labclient import eventually, hotspare, is_primary, streams

    eventually(lambda: streams(lab, "db1", "db2"), timeout=20)
    yield lab
    if not is_primary(lab, "db1") or is_primary(lab, "db2"):
        code, answer = hotspare(lab, capsys, "promote", "db1", "--rejoin", "--confirm", "db1")
        assert code == 0, answer and answer.get("reason")
    eventually(lambda: streams(lab, "db1", "db2"), timeout=30)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the real lab (directly or through a fixture) is marked `lab`.

    `fixturenames` is the closure of the test's fixtures: a test asking only
    for `db_lab`, or for a module's fixture built on `lab`, has `lab` in it
    too (tests/test_lab_marks.py checks it). `pytest -m "not lab"` then runs
    the unit tests alone, in seconds.
    """
    for item in items:
        if {"lab", "ab_lab", "patroni_lab"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True)
def _no_lab_unless_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """A test not marked `lab` that reaches a lab anyway fails, saying how (labguard.py)."""
    if request.node.get_closest_marker("lab") is not None:
        yield
        return
    guard = Guard()
    guard.install(monkeypatch)
    yield
    if guard.reached:  # even if the code under test caught LabReached
        pytest.fail(f"not marked `lab`, but reached a lab: {'; '.join(guard.reached)}")
