"""What hotspare shows of a real Patroni cluster: pending restarts, the pause, and etcd
losing a member, then its quorum, and getting it back.

The lab's Patroni and etcd are asked and changed through their own REST APIs
(what an operator's patronictl or etcdctl would do); etcd members are stopped
with SIGSTOP (alive, holding their sockets, answering nothing) and always
continued in a finally block.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from console.lab import control, patroni, patroni_tls
from console.lab.layout import LabLayout
from tests.support.following import Following, pictures
from tests.support.labclient import eventually, hotspare, http

pytestmark = pytest.mark.lab


def _patch_config(lab: LabLayout, change: dict[str, Any]) -> None:
    leader = patroni.leader(lab) or lab.db_names[0]
    patroni_tls.rest(lab, leader, "config", "PATCH", change)  # an HTTP error raises


def _status(lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _, state = hotspare(lab, capsys, "status")
    assert state is not None
    return dict(state)


def _text(lab: LabLayout) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout


def test_a_pending_restart_and_the_pause_are_shown_and_go_when_they_end(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    _patch_config(lab, {"postgresql": {"parameters": {"shared_buffers": "48MB"}}})
    try:

        def pending() -> list[str]:
            members = _status(lab, capsys)["patroni"]["members"]
            return sorted(m["name"] for m in members if m["pending_restart"])

        eventually(lambda: pending() == list(lab.db_names), timeout=30, every=1)
        assert "restart pending db1, db2, db3" in " ".join(_text(lab).split())  # wrapped
    finally:
        _patch_config(lab, {"postgresql": {"parameters": {"shared_buffers": "32MB"}}})
    eventually(lambda: pending() == [], timeout=30, every=1)
    _patch_config(lab, {"pause": True})
    try:
        eventually(lambda: _status(lab, capsys)["patroni"]["paused"], timeout=20, every=1)
        said = _text(lab)
        assert "PATRONI PAUSED" in said.splitlines()[0], said
        assert "· paused" in " ".join(said.split()), said
    finally:
        _patch_config(lab, {"pause": False})
    eventually(lambda: "PATRONI PAUSED" not in _text(lab), timeout=20, every=1)


@contextmanager
def _stopped(lab: LabLayout, *names: str) -> Iterator[None]:
    pids = [s.pid for s in control.status(lab).services if s.name in names]
    assert len(pids) == len(names) and all(pids), names
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)  # type: ignore[arg-type]


def _codes(watch: Following) -> set[str]:
    return {a["code"] for a in watch.documents[-1]["alarms"]} if watch.documents else set()


def test_etcd_losing_a_member_then_its_quorum_is_said_and_writes_come_back_by_themselves(
    patroni_lab: LabLayout,
) -> None:
    lab = patroni_lab
    leader = eventually(lambda: patroni.leader(lab), timeout=30)
    others = [db for db in lab.db_names if db != leader]
    watch = pictures(lab)
    try:
        eventually(lambda: watch.documents and not _codes(watch), timeout=30)
        with _stopped(lab, f"etcd-{others[0]}"):
            eventually(lambda: "etcd-member-down" in _codes(watch), timeout=20)
            # Two of three keep the quorum: the site still takes writes.
            assert http(f"{lab.site_url}notes", {"body": "one etcd down"})[0] in (200, 303)
            with _stopped(lab, f"etcd-{others[1]}"):
                lost = {"etcd-no-quorum", "no-primary"}
                eventually(lambda: lost <= _codes(watch), timeout=40)
                picture = watch.documents[-1]
                (alarm,) = [a for a in picture["alarms"] if a["code"] == "etcd-no-quorum"]
                assert "leader demotes itself" in alarm["message"], alarm
                assert "NO QUORUM" not in json.dumps(picture["verdicts"])  # said as an alarm
                # Patroni's cached view still names the old leader, PostgreSQL is a
                # standby: once that has lasted, the two disagree out loud.
                eventually(lambda: "patroni-disagrees" in _codes(watch), timeout=30)
                assert http(f"{lab.site_url}notes", {"body": "no quorum"})[0] == 503
        # Quorum back: Patroni elects and promotes by itself; nobody typed anything.
        eventually(lambda: http(f"{lab.site_url}notes", {"body": "back"})[0] in (200, 303), 90)
        eventually(lambda: not _codes(watch) & {"etcd-no-quorum", "etcd-member-down"}, 30)
    finally:
        watch.stop()
    seen = [a["code"] for p in watch.documents for a in p["alarms"]]
    print(f"{len(watch.documents)} pictures; alarms seen: {sorted(set(seen))}")
    eventually(lambda: len(patroni.streaming(lab)) == 2, timeout=60)


def test_the_lab_patroni_config_is_read_as_patroni_runs_it(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    view = _status(patroni_lab, capsys)["patroni"]
    assert (view["ttl"], view["loop_wait"], view["failsafe"]) == (20, 2, False)
    assert view["reader"] in patroni_lab.db_names and view["dcs_last_seen"] > time.time() - 30
    assert [(m["name"], m["healthy"]) for m in view["dcs"]] == [
        (db, True) for db in patroni_lab.db_names
    ]
