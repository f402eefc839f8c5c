"""Read-only and maintenance against the real lab, under load (plans alone: ..._plans.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from console import node_role
from console.actions.audit import AuditLog
from console.lab.layout import LabLayout
from tests.support.labclient import db, eventually, haproxy, hotspare, http
from tests.support.loadgen import Answer, Load

MESSAGE = "Upgrading the database, back soon"


# --- the lab ----------------------------------------------------------------------------------


def _flags(lab: LabLayout) -> dict[str, str]:
    answer = asyncio.run(haproxy(lab, f"show map {lab.flags_map()}"))
    return {p[1]: p[2] for p in (line.split(" ", 2) for line in answer.splitlines()) if len(p) == 3}


def _read_only_default(lab: LabLayout, member: str) -> str:
    with db(lab, member) as conn:
        row = conn.execute("SHOW default_transaction_read_only").fetchone()
    return str(row[0]) if row else "?"


def _snapshot(lab: LabLayout) -> tuple[object, ...]:
    return (
        _flags(lab),
        lab.flags_map().read_text(),
        [lab.role_file(n).read_text() for n in lab.web_names],
        [_read_only_default(lab, m) for m in lab.db_names],
    )


def _restore(lab: LabLayout) -> None:
    """Normal mode by the lab's own means, whatever a test left behind."""
    for key, value in (("mode", "normal"), ("message", "-"), ("until", "-")):
        asyncio.run(haproxy(lab, f"set map {lab.flags_map()} {key} {value}"))
    lab.flags_map().write_text("mode normal\nmessage -\nuntil -\n")
    for node in lab.web_names:
        role = node_role.read(lab.role_file(node))
        normal = replace(role, read_only=False, read_only_message="", read_only_until="")
        if normal != role:
            node_role.write(lab.role_file(node), normal)
    for member in lab.db_names:
        with db(lab, member) as conn:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")


def _outcomes(audit: AuditLog) -> list[dict[str, Any]]:
    """Each action's outcome in the audit log (not its intent nor its steps' records)."""
    return [r for r in audit.records() if "outcome" in r]


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AuditLog:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return AuditLog(path, "lab")


@pytest.fixture
def site_lab(lab: LabLayout) -> Iterator[LabLayout]:
    """The lab, put back to normal mode after the test whatever happened."""
    try:
        yield lab
    finally:
        _restore(lab)


def _direct_write(lab: LabLayout) -> str | None:
    """An INSERT on the primary in a default transaction: its SQLSTATE, or None if taken."""
    with db(lab, "db1") as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("INSERT INTO notes (body, node) VALUES ('direct', 'test')")
        except psycopg.Error as exc:
            return exc.sqlstate
    return None


def _between(answers: list[Answer], start: float, end: float) -> list[Answer]:
    """Answers to requests sent after START and answered before END."""
    return [a for a in answers if a.at - a.seconds >= start and a.at <= end]


def _posts_answered(load: Load, since: float, count: int) -> None:
    """Wait until COUNT POSTs sent after SINCE (epoch s) have their answer; at most 30 s."""
    eventually(lambda: len(_between(load.posts(), since, time.time())) >= count, timeout=30)


@pytest.mark.lab
def test_read_only_under_load_answers_every_post_politely(
    site_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = site_lab
    load = Load(lab.site_url, rate=30, seconds=30, post_every=3).start()
    try:
        _posts_answered(load, 0.0, 8)  # the site takes writes before
        code, outcome = hotspare(
            lab, capsys, "read-only", "on", "--yes", "--until", "30m", "--message", MESSAGE
        )
        on_done = time.time()
        assert code == 0, outcome
        until = _flags(lab)["until"]
        assert [r["ok"] for r in outcome["steps"]] == [True] * 9
        _posts_answered(load, on_done, 15)  # POSTs sent and answered while read-only
        assert _direct_write(lab) == "25006"
        with db(lab, "db1") as conn, conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ WRITE")  # advisory: a client may override it
            conn.execute("INSERT INTO notes (body, node) VALUES ('overridden', 'test')")
        assert lab.flags_map().read_text().splitlines()[0] == "mode read-only"
        assert [_read_only_default(lab, m) for m in lab.db_names] == ["on", "on"]
        off_start = time.time()
        code, outcome = hotspare(lab, capsys, "read-only", "off", "--yes")
        off_done = time.time()
        assert code == 0, outcome
        assert _direct_write(lab) is None
        _posts_answered(load, off_done, 10)  # and taken again after
    finally:
        answers = load.stop()
    gets = [a for a in answers if a.method == "GET"]
    posts = [a for a in answers if a.method == "POST"]
    assert len(gets) > 60 and len(posts) > 30
    assert [a for a in gets if a.status != 200] == []
    # Throughout: a POST is taken (303) or gets the polite page; never an error.
    assert [
        a for a in posts if a.status != 303 and not (a.status == 503 and MESSAGE in a.body)
    ] == []
    during = _between(posts, on_done, off_start)
    assert len(during) >= 10
    assert all(a.status == 503 and MESSAGE in a.body and until in a.body for a in during)
    after = _between(posts, off_done, time.time())
    assert after and all(a.status == 303 for a in after)
    records = list(_outcomes(audit))
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("read-only on", "done"),
        ("read-only off", "done"),
    ]


@pytest.mark.lab
def test_maintenance_shows_the_page_and_time_and_the_nodes_stay_healthy(
    site_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = site_lab
    code, outcome = hotspare(
        lab,
        capsys,
        "maintenance",
        "on",
        "--yes",
        "--until",
        "2h",
        "--message",
        "Moving data centres",
    )
    assert code == 0, outcome
    until = _flags(lab)["until"]
    assert until.endswith(" UTC")
    for url, form in ((lab.site_url, None), (f"{lab.site_url}notes", {"body": "x"})):
        status, page = http(url, form)
        assert status == 503
        assert "Down for maintenance" in page and "Moving data centres" in page
        assert f"Back at {until}" in page
    for node in lab.web_names:
        assert http(f"{lab.node_url(node)}healthz")[0] == 200
    stat = asyncio.run(haproxy(lab, "show servers state site"))
    assert stat.count(" 2 0 ") >= 2  # the hot nodes stay UP and ready behind the page
    assert "mode maintenance" in lab.flags_map().read_text()

    code, outcome = hotspare(lab, capsys, "maintenance", "off", "--yes")
    assert code == 0, outcome
    assert http(lab.site_url)[0] == 200
    assert lab.flags_map().read_text() == "mode normal\nmessage -\nuntil -\n"
    assert [r["outcome"] for r in _outcomes(audit)] == ["done", "done"]


@pytest.mark.lab
def test_dry_run_and_observer_mode_change_nothing(
    site_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = site_lab
    before = _snapshot(lab)
    code, answer = hotspare(lab, capsys, "read-only", "on", "--dry-run", "--message", MESSAGE)
    assert code == 0 and answer["dry_run"] and len(answer["plan"]["steps"]) == 9
    assert hotspare(lab, capsys, "read-only", "on", "--yes", "--message", "<b>hi</b>")[0] == 2
    assert hotspare(lab, capsys, "maintenance", "on", "--yes", "--until", "yesterday")[0] == 2
    code, answer = hotspare(lab, capsys, "--observe", "read-only", "on", "--yes")
    assert code == 3 and answer["outcome"] == "refused" and "observer" in answer["reason"]
    code, answer = hotspare(lab, capsys, "--observe", "maintenance", "on", "--yes", "--until", "1h")
    assert code == 3
    assert _snapshot(lab) == before
    assert [(r["action"], r["outcome"]) for r in _outcomes(audit)] == [
        ("read-only on", "refused"),
        ("maintenance on", "refused"),
    ]


@pytest.mark.lab
def test_a_failed_step_stops_the_plan_and_states_the_way_back(
    site_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = site_lab
    broken = lab.role_file("web2")
    good = broken.read_text()
    broken.write_text(good + "colour=blue\n")
    try:
        code, outcome = hotspare(lab, capsys, "read-only", "on", "--yes")
    finally:
        broken.write_text(good)
    assert code == 1 and outcome["outcome"] == "failed"
    assert [r["ok"] for r in outcome["steps"]] == [True, True, True, False]
    assert "web2" in outcome["reason"] and "way back: hotspare read-only off" in outcome["reason"]
    # Left where it stopped: the balancer guards, web1 was told, nothing past web2 ran.
    assert _flags(lab)["mode"] == "read-only"
    assert node_role.read(lab.role_file("web1")).read_only
    assert [_read_only_default(lab, m) for m in lab.db_names] == ["off", "off"]
    assert [r["outcome"] for r in _outcomes(audit)] == ["failed"]
