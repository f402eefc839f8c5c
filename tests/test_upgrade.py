"""The rolling upgrade against the lab: under load, a broken release, a console killed mid-roll,
pause and resume, abort.

Every hotspare here is its own process, as an operator's would be. The site
is asked through the balancer all along; every answer is recorded, and every
POST the site acknowledged must be in the database afterwards. Each test
leaves every node on v1, with no runbook open and no action lock.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.lab import control
from console.lab.layout import LabLayout
from tests.support.labclient import db, eventually, http
from tests.support.loadgen import Answer, Load, failures
from tests.support.operators import Operator, run
from tests.support.releases import back_on

ROLL = ("upgrade", "rolling", "--soak", "1", "--yes")


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def on_v1(lab: LabLayout, audit: Path) -> Iterator[LabLayout]:
    """The lab with every node on v1 and no upgrade open, before and after the test."""
    _back_to_v1(lab, audit)
    yield lab
    _back_to_v1(lab, audit)


def _back_to_v1(lab: LabLayout, audit: Path) -> None:
    """An open runbook rolled back by hotspare; then every node put on v1 directly."""
    book = runbook(lab, audit)
    if book is not None and book["state"] != "done":
        done = run(lab, audit, "upgrade", "rollback", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
    if set(versions(lab).values()) != {"v1"}:
        back_on(lab, "v1")  # the hooks straight, node by node: a reset, not an upgrade
    assert set(versions(lab).values()) == {"v1"}
    assert status(lab, audit)["action"] is None


def versions(lab: LabLayout) -> dict[str, str]:
    """What each node's /version says it runs."""
    found = {}
    for node in lab.web_names:
        code, body = http(f"{lab.node_url(node)}version")
        found[node] = json.loads(body)["release"] if code == 200 else f"HTTP {code}"
    return found


def status(lab: LabLayout, audit: Path) -> dict[str, Any]:
    done = run(lab, audit, "status", "--json")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def runbook(lab: LabLayout, audit: Path) -> dict[str, Any] | None:
    done = run(lab, audit, "upgrade", "status", "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] | None = json.loads(done.stdout)["runbook"]
    return found


def servers(lab: LabLayout, audit: Path) -> dict[str, str]:
    """Each server's HAProxy status word (UP, MAINT, DRAIN...) as `status` reads it."""
    return {
        s["name"]: s["operational"].split()[0] for s in status(lab, audit)["balancer"]["servers"]
    }


def notes_tagged(lab: LabLayout, tag: str) -> tuple[set[str], int]:
    """(the notes the load wrote with TAG, how many of them carry v2's word count)."""
    with db(lab, "db1") as conn:
        rows = conn.execute(
            "SELECT body, words FROM notes WHERE body LIKE %s", (f"{tag} %",)
        ).fetchall()
    return {str(r[0]) for r in rows}, sum(1 for r in rows if r[1] is not None)


def acknowledged(answers: list[Answer]) -> set[str]:
    """The notes of every POST the site answered 303 (committed, it says)."""
    return {a.sent for a in answers if a.method == "POST" and a.status == 303}


def test_a_rolling_upgrade_and_its_rollback_under_load_lose_nothing(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    tag = f"roll-{time.time():.0f}"
    load = Load(lab.site_url, rate=40, seconds=150, workers=4, post_every=5, post_tag=tag)
    load.start()
    try:
        up = run(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert versions(lab) == {n: "v2" for n in lab.web_names}
        mid = len(load.answers)
        back = run(lab, audit, "upgrade", "rollback", "--yes")
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    finally:
        answers = load.stop()
    assert failures(answers) == [], failures(answers)[:5]
    assert mid > 200 and len(answers) - mid > 200, (mid, len(answers))
    assert versions(lab) == {n: "v1" for n in lab.web_names}
    written, with_words = notes_tagged(lab, tag)
    acked = acknowledged(answers)
    assert len(acked) > 40 and acked <= written, sorted(acked - written)[:5]
    assert with_words > 0, "no note was written by v2 (its words column)"
    # The roll left the balancer as it found it: web3 the spare, out.
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}
    book = runbook(lab, audit)
    assert book is not None and book["kind"] == "rollback" and book["state"] == "done"
    # Every step was audited as it ended, named with its stage.
    log = run(lab, audit, "audit").stdout
    assert "upgrade rolling v2: BEGUN" in log and "upgrade rolling v2: DONE" in log
    assert "upgrade rolling v2: web1 to v2: step 5/" in log and "ok: Switch web1 to v2" in log


def test_a_broken_release_halts_at_the_first_node_and_rollback_restores_it(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    load = Load(lab.site_url, rate=40, seconds=90, workers=4, post_every=5).start()
    try:
        up = run(lab, audit, *ROLL, "--release", "v3-broken", "--confirm", "v3-broken")
        assert up.returncode == 1, up.stdout + up.stderr
        assert "web3 to v3-broken" in up.stdout and "hotspare upgrade rollback" in up.stdout
        book = runbook(lab, audit)
        assert book is not None and book["state"] == "halted"
        failed = [s for s in book["stages"] if s["status"] == "failed"]
        assert [s["title"] for s in failed] == ["web3 to v3-broken"]
        assert "500" in book["problem"]
        # The site serves on the others; the node that failed stays out.
        assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}
        assert versions(lab)["web1"] == "v1" and versions(lab)["web2"] == "v1"
        # The halted upgrade keeps the lock: another action is refused, naming it.
        other = run(lab, audit, "drain", "web1", "--yes")
        assert other.returncode == 3 and "upgrade v3-broken halted" in other.stdout + other.stderr
        again = run(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
        assert again.returncode == 3 and "an upgrade is open" in again.stdout + again.stderr
        back = run(lab, audit, "upgrade", "rollback", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
    finally:
        answers = load.stop()
    assert failures(answers) == [], failures(answers)[:5]
    assert versions(lab) == {n: "v1" for n in lab.web_names}
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}
    assert status(lab, audit)["action"] is None


def test_a_console_killed_mid_roll_leaves_an_interrupted_runbook_that_resume_finishes(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    roll = Operator.start(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    roll.wait_for(r"web1 to v2: \d+/\d+ Switch web1", timeout=60)
    roll.kill()  # web1 is out of the balancer now, and switched or about to be
    book = runbook(lab, audit)
    assert book is not None and book["state"] == "interrupted"
    running = [s for s in book["stages"] if s["status"] == "running"]
    assert [s["title"] for s in running] == ["web1 to v2"]
    seen = status(lab, audit)
    assert seen["action"]["gone"] and seen["runbook"]["state"] == "interrupted"
    assert "action-interrupted" in {a["code"] for a in seen["alarms"]}
    assert servers(lab, audit)["web1"] == "MAINT"
    resumed = run(lab, audit, "upgrade", "resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "taking over from upgrade v2 interrupted" in resumed.stderr
    assert versions(lab) == {n: "v2" for n in lab.web_names}
    # No node is left drained by mistake: the hot ones serve, the spare is out as before.
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}
    book = runbook(lab, audit)
    assert book is not None and book["state"] == "done"
    assert status(lab, audit)["action"] is None


def test_pause_stops_before_the_next_step_keeps_the_lock_and_resume_carries_on(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    roll = Operator.start(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    roll.wait_for(r"web3 to v2: \d+/\d+ Restart web3", timeout=60)
    second = run(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    assert second.returncode == 3, second.stdout + second.stderr
    assert "an upgrade is open: rolling upgrade to v2: running" in second.stdout + second.stderr
    spectator = run(lab, audit, "upgrade", "pause", "--yes", "--observe")
    assert spectator.returncode == 3 and "observer" in spectator.stdout + spectator.stderr
    asked = run(lab, audit, "upgrade", "pause", "--yes")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    code, out, err = roll.finish()
    assert code == 0 and "PAUSED" in out, out + err
    book = runbook(lab, audit)
    assert book is not None and book["state"] == "paused"
    held = status(lab, audit)["action"]
    assert held["stopped"] == "paused"
    other = run(lab, audit, "maint", "web2", "--yes")
    assert other.returncode == 3 and "upgrade v2 paused" in other.stdout + other.stderr
    resumed = run(lab, audit, "upgrade", "resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert versions(lab) == {n: "v2" for n in lab.web_names}
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}


def test_abort_stops_the_running_upgrade_and_returns_the_nodes_it_moved(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    roll = Operator.start(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    roll.wait_for(r"web1 to v2: \d+/\d+ Restart web1", timeout=60)
    asked = run(lab, audit, "upgrade", "abort", "--yes")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    code, out, err = roll.finish()
    assert code == 1 and "aborted" in out, out + err
    assert "abort asked" in err
    eventually(lambda: versions(lab) == {n: "v1" for n in lab.web_names}, timeout=5)
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}
    book = runbook(lab, audit)
    assert book is not None and book["kind"] == "rollback" and book["state"] == "done"
    assert status(lab, audit)["action"] is None


def test_a_node_that_hangs_during_the_roll_halts_it_there_and_the_site_serves_on(
    on_v1: LabLayout, audit: Path
) -> None:
    """web1's site stopped (SIGSTOP) while the spare soaks: the roll halts at web1, bounded."""
    lab = on_v1
    pid = next(s.pid for s in control.status(lab).services if s.name == "site-web1")
    assert pid is not None, "web1's site is not running"
    roll = Operator.start(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    try:
        roll.wait_for(r"web3 to v2: \d+/\d+ Soak web3", timeout=60)
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        code, out, err = roll.finish()
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert code == 1, out + err
    assert took < 60, took  # bounded by the check timeout, never stuck on the hung node
    book = runbook(lab, audit)
    assert book is not None and book["state"] == "halted"
    assert [s["title"] for s in book["stages"] if s["status"] == "failed"] == ["web1 to v2"]
    # The site served on web2 and the spare brought in; web1 is kept out.
    assert servers(lab, audit)["web1"] == "MAINT"
    assert http(lab.site_url)[0] == 200
    # Fixed (the process runs again): resume carries the roll to its end.
    resumed = run(lab, audit, "upgrade", "resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert versions(lab) == {n: "v2" for n in lab.web_names}
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}


def test_a_roll_is_refused_up_front_while_the_balancer_does_not_answer(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    pid = next(s.pid for s in control.status(lab).services if s.name == "haproxy")
    assert pid is not None, "HAProxy is not running"
    os.kill(pid, signal.SIGSTOP)
    try:
        up = run(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert up.returncode == 3, up.stdout + up.stderr
    assert "the balancer's state is not known now" in up.stdout + up.stderr
    assert versions(lab) == {n: "v1" for n in lab.web_names}  # nothing was touched
    eventually(lambda: http(lab.site_url)[0] == 200, timeout=10)


def _unmigrated(lab: LabLayout) -> None:
    """v2's migration undone (v1 never names its column), so the next roll to v2 runs it."""
    with db(lab, "db1") as conn:
        conn.execute("ALTER TABLE notes DROP COLUMN IF EXISTS words")
        found = conn.execute("SELECT to_regclass('hotspare_release_migrations')").fetchone()
        if found is not None and found[0] is not None:
            conn.execute("DELETE FROM hotspare_release_migrations WHERE release = 'v2'")


@pytest.mark.parametrize(
    "killed_at",
    [r"migrate the database for v2: 2/2 Migrate", r"web3 back out, a spare as before: 1/\d+"],
    ids=["during-the-migration", "putting-the-spare-back-out"],
)
def test_a_console_killed_at_another_step_is_finished_by_resume(
    on_v1: LabLayout, audit: Path, killed_at: str
) -> None:
    lab = on_v1
    _unmigrated(lab)
    roll = Operator.start(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
    roll.wait_for(killed_at, timeout=90)
    roll.kill()
    book = runbook(lab, audit)
    assert book is not None and book["state"] == "interrupted"
    resumed = run(lab, audit, "upgrade", "resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert versions(lab) == {n: "v2" for n in lab.web_names}
    assert servers(lab, audit) == {"web1": "UP", "web2": "UP", "web3": "MAINT"}
    with db(lab, "db1") as conn:
        rows = conn.execute(
            "SELECT count(*) FROM hotspare_release_migrations WHERE release = 'v2'"
        ).fetchone()
        column = conn.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'notes' AND column_name = 'words'"
        ).fetchone()
    assert rows == (1,) and column == (1,)  # migrated once, whole


def test_a_runbook_record_that_does_not_parse_is_said_never_taken_for_none(
    on_v1: LabLayout, audit: Path
) -> None:
    lab = on_v1
    record = lab.flags_map().parent / "hotspare-runbook.json"
    kept = record.read_bytes() if record.exists() else None
    record.write_text('{"magic": "hotspare-runbook/1", "stages": [truncated')
    try:
        said = run(lab, audit, "upgrade", "status")
        again = run(lab, audit, *ROLL, "--release", "v2", "--confirm", "v2")
        alarms = {a["code"] for a in status(lab, audit)["alarms"]}
    finally:
        if kept is None:
            record.unlink()
        else:
            record.write_bytes(kept)
    assert said.returncode == 2, said.stdout + said.stderr
    assert "cannot be read: it is not JSON" in said.stderr and "move it aside" in said.stderr
    assert again.returncode == 2 and "cannot be read" in again.stderr  # never overwritten
    assert "runbook-unreadable" in alarms
    assert versions(lab) == {n: "v1" for n in lab.web_names}
