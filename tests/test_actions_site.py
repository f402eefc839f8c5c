"""Read-only and maintenance: the pure parts, the plans, and the real lab under load."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from console import cli, node_role
from console.actions import site
from console.actions.audit import AuditLog
from console.actions.context import ActionError
from console.actions.rolefile import fill_hook
from console.actions.site_input import check_message, parse_until
from console.actions.site_steps import edit_map_file, map_command, parse_map_file
from console.lab.layout import LabLayout
from tests import verdict_parts as parts
from tests.labclient import db, haproxy, http
from tests.loadgen import Answer, Load

NOW = datetime(2026, 11, 26, 2, 10, 20, tzinfo=UTC)
MESSAGE = "Upgrading the database, back soon"
INV = replace(parts.INV, balancer=replace(parts.INV.balancer, site_url="http://lb1:8080/"))  # type: ignore[type-var]


# --- what the operator types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("03:30", "03:30 UTC"),
        ("02:05", "2026-11-27 02:05 UTC"),  # passed today: the next one
        ("2026-11-26 03:30", "03:30 UTC"),
        ("2026-11-28T23:00", "2026-11-28 23:00 UTC"),
        ("30m", "02:41 UTC"),  # rounded up to the minute
        ("1h30m", "03:41 UTC"),
        ("2h", "04:11 UTC"),
        ("04:00 utc", "04:00 UTC"),
    ],
)
def test_until_reads_clock_times_dates_and_delays(given: str, shown: str) -> None:
    until = parse_until(given, NOW)
    assert until.text == shown
    assert until.at > NOW


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("2026-11-26 01:00", "already passed"),
        ("0m", "is now"),
        ("tomorrow", "not a time"),
        ("25:00", "no such time"),
        ("2026-02-30 03:00", "no such time"),
    ],
)
def test_until_refuses_what_is_not_a_time_ahead(given: str, why: str) -> None:
    with pytest.raises(ActionError, match=why):
        parse_until(given, NOW)


def test_a_message_is_limited_to_characters_the_page_and_runtime_api_take() -> None:
    assert check_message("  Nous revenons à 3h, désolé (v5.10)!  ") == (
        "Nous revenons à 3h, désolé (v5.10)!"
    )
    for bad in ("<script>", "a & b", "semi; colon", 'say "hi"', "back\\slash", "100%"):
        with pytest.raises(ActionError, match="cannot contain"):
            check_message(bad)
    with pytest.raises(ActionError, match="at most"):
        check_message("x" * 201)


def test_map_commands_escape_spaces_and_the_file_keeps_other_lines() -> None:
    assert map_command("set", "/m", "message", "Back soon, sorry") == (
        "set map /m message Back\\ soon,\\ sorry"
    )
    text = "# flags\nmode normal\nother 1\nmessage -\nmode read-only\n"
    edited = edit_map_file(text, {"mode": "maintenance", "message": "Back soon", "until": "-"})
    assert edited == "# flags\nmode maintenance\nother 1\nmessage Back soon\nuntil -\n"
    assert parse_map_file(edited) == {
        "mode": "maintenance",
        "other": "1",
        "message": "Back soon",
        "until": "-",
    }


def test_the_role_change_hook_gets_the_node_its_role_and_address() -> None:
    hook = "sudo systemctl reload site-{node} # {role} at {address}, ${HOME}"
    assert fill_hook(hook, INV.web_node("web3"), "warm", "10.0.0.4") == (
        "sudo systemctl reload site-web3 # warm at 10.0.0.4, ${HOME}"
    )


# --- plans ---------------------------------------------------------------------------------


def _titles(plan: Any) -> list[str]:
    return [step.title for step in plan.steps]


def test_read_only_on_plans_balancer_nodes_every_member_then_checks() -> None:
    plan = site.plan_read_only_on(INV, parts.cluster_state(), parse_until("03:30", NOW), MESSAGE)
    assert plan.refusals == ()
    assert _titles(plan) == [
        "Switch the site flags on the balancer",
        "Save the site flags for a reload",
        "Tell web1: read-only on",
        "Tell web2: read-only on",
        "Tell web3: read-only on",
        "Make db1 read-only by default (primary)",
        "Make db2 read-only by default (standby)",
        "Check the site through the balancer",
        "Probe a write on db1",
    ]
    assert "advisory" in plan.summary and plan.way_back == "hotspare read-only off"
    assert "message Upgrading\\ the\\ database" in plan.steps[0].command


def test_read_only_is_refused_without_a_primary_to_verify_on() -> None:
    down = parts.db("db1", role=None, problem="PostgreSQL does not answer")
    state = parts.cluster_state(databases=(down, parts.db("db2", role="standby")))
    plan = site.plan_read_only_on(INV, state, None, None)
    assert any("no database primary answers" in r for r in plan.refusals)
    assert any(
        "no database primary answers" in r for r in site.plan_read_only_off(INV, state).refusals
    )
    # Maintenance needs no database.
    assert site.plan_maintenance_on(INV, state, parse_until("03:30", NOW), None).refusals == ()


def test_an_unreachable_standby_is_named_not_silently_skipped() -> None:
    boxes = tuple(parts.box(b.name, stale=b.name == "db2") for b in INV.boxes)
    plan = site.plan_read_only_on(INV, parts.cluster_state(boxes=boxes), None, None)
    assert plan.refusals == ()
    assert "Make db2 read-only by default (standby)" not in _titles(plan)
    assert "not reached: db2" in plan.summary and "before promoting it" in plan.summary


def test_read_only_off_refuses_to_take_the_maintenance_page_down() -> None:
    flags = parts.SiteFlags("maintenance", "Moving", "04:00 UTC")
    plan = site.plan_read_only_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    assert any("maintenance off` first" in r for r in plan.refusals)


def test_maintenance_off_goes_back_to_read_only_when_it_was_underneath() -> None:
    flags = parts.SiteFlags("maintenance", "Moving", "04:00 UTC")
    read_only = parts.nodes_with("web2", read_only=True)
    state = parts.cluster_state(balancer=parts.balancer(flags=flags), nodes=read_only)
    plan = site.plan_maintenance_off(INV, state)
    assert "stays read-only" in plan.summary
    assert plan.steps[1].proves.endswith("mode read-only")
    assert plan.way_back == "hotspare maintenance on --until '04:00 UTC'"
    plain = site.plan_maintenance_off(
        INV, parts.cluster_state(balancer=parts.balancer(flags=flags))
    )
    assert "serves normally" in plain.summary


def test_read_only_off_states_the_way_back_with_the_old_message_and_time() -> None:
    flags = parts.SiteFlags("read-only", "Back soon", "03:30 UTC")
    plan = site.plan_read_only_off(INV, parts.cluster_state(balancer=parts.balancer(flags=flags)))
    assert plan.refusals == ()
    assert plan.way_back == "hotspare read-only on --message 'Back soon' --until '03:30 UTC'"
    assert _titles(plan)[:3] == [
        "Stop making db1 read-only by default (primary)",
        "Stop making db2 read-only by default (standby)",
        "Probe a write on db1",
    ]
    assert _titles(plan)[-1] == "Check the site through the balancer"


def test_maintenance_names_the_nodes_it_cannot_check_directly() -> None:
    state = parts.cluster_state(nodes=parts.nodes_with("web2", health_status=503))
    plan = site.plan_maintenance_on(INV, state, parse_until("03:30", NOW), None)
    assert plan.refusals == () and "not checked directly: web2" in plan.summary
    assert "web2" not in plan.steps[-1].command and "web1" in plan.steps[-1].command


def test_a_site_without_site_url_cannot_be_checked() -> None:
    plan = site.plan_maintenance_on(
        parts.INV, parts.cluster_state(), parse_until("3:30", NOW), None
    )
    assert any("site_url" in r for r in plan.refusals)


# --- the lab ----------------------------------------------------------------------------------


def hotspare(lab: LabLayout, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run the hotspare command on the lab; its exit status and its JSON answer."""
    capsys.readouterr()
    code = cli.main(["--cluster", str(lab.cluster_file), *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


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


@pytest.mark.lab
def test_read_only_under_load_answers_every_post_politely(
    site_lab: LabLayout, capsys: pytest.CaptureFixture[str], audit: AuditLog
) -> None:
    lab = site_lab
    load = Load(lab.site_url, rate=30, seconds=30, post_every=3).start()
    try:
        time.sleep(1.0)
        code, outcome = hotspare(
            lab, capsys, "read-only", "on", "--yes", "--until", "30m", "--message", MESSAGE
        )
        on_done = time.time()
        assert code == 0, outcome
        until = _flags(lab)["until"]
        assert [r["ok"] for r in outcome["steps"]] == [True] * 9
        time.sleep(2.0)
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
        time.sleep(1.5)
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
    records = list(audit.records())
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
    assert [r["outcome"] for r in audit.records()] == ["done", "done"]


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
    assert [(r["action"], r["outcome"]) for r in audit.records()] == [
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
    assert [r["outcome"] for r in audit.records()] == ["failed"]
