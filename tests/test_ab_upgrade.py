"""The A/B rollover against the four-node lab: under load, its finish, its rollback, and a
console SIGKILLed at every step of each.

A is the side in the live backend, B the warm side in the other. Every
hotspare here is its own process. The site is asked through the balancer
all along (GETs and POSTs); a watcher asks both databases every 0.2 s
whether they take writes. Each test leaves the lab with one side live,
no runbook open and no action lock (the sides swap from test to test).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from console.lab.layout import LabLayout
from tests.support.labclient import db, eventually, http, streams
from tests.support.loadgen import Answer, Load
from tests.support.operators import Operator, run, status

LONG = 300.0  # a whole rollover, under load, on a shared machine
READ_ONLY_PAGE = "read-only"


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def sides(lab: LabLayout, audit: Path) -> tuple[list[str], list[str]]:
    """(A: the nodes in the live backend, B: the others), as `status` reads the balancer."""
    seen = status(lab, audit)["balancer"]
    live = seen["live"]
    a = [s["name"] for s in seen["servers"] if s["backend"] == live]
    b = [s["name"] for s in seen["servers"] if s["backend"] != live]
    return sorted(a), sorted(b)


def databases(lab: LabLayout) -> tuple[str, str]:
    """(A's database: the primary; B's: the other)."""
    a_db = primary_of(lab)
    return a_db, next(m for m in lab.db_names if m != a_db)


def primary_of(lab: LabLayout) -> str:
    for member in lab.db_names:
        with db(lab, member) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and not row[0]:
            return member
    raise AssertionError("no primary")


def runbook(lab: LabLayout, audit: Path) -> dict[str, Any] | None:
    done = run(lab, audit, "upgrade", "status", "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] | None = json.loads(done.stdout)["runbook"]
    return found


def long_run(lab: LabLayout, audit: Path, *words: str) -> tuple[int, str, str]:
    return Operator.start(lab, audit, *words).finish(LONG)


def ab_words(release: str, b: list[str]) -> tuple[str, ...]:
    return (
        "upgrade",
        "ab",
        "--release",
        release,
        "--b",
        ",".join(b),
        "--yes",
        "--confirm",
        release,
    )


def rollover(lab: LabLayout, audit: Path, release: str, b: list[str]) -> tuple[int, str, str]:
    """`hotspare upgrade ab` to RELEASE with B as B, to its end (it stops at its gate)."""
    return long_run(lab, audit, *ab_words(release, b))


@dataclass
class Writables:
    """Asks every member, every 0.2 s, whether it is a primary taking writes by default."""

    lab: LabLayout
    both: list[float] = field(default_factory=list)
    probes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writables:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _writable(self, member: str) -> bool:
        try:
            with psycopg.connect(
                **_conninfo(self.lab, member), connect_timeout=2, autocommit=True
            ) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')"
                ).fetchone()
        except psycopg.Error:
            return False
        return row is not None and not row[0] and row[1] == "off"

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            writable = [m for m in self.lab.db_names if self._writable(m)]
            self.probes += 1
            if len(writable) > 1:
                self.both.append(time.time())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _conninfo(lab: LabLayout, member: str) -> dict[str, Any]:
    return {
        "host": lab.address(member),
        "port": 5432,
        "dbname": "site",
        "user": "hotspare",
        "passfile": str(lab.pgpass),
    }


def notes_on(lab: LabLayout, member: str, tag: str) -> set[str]:
    with db(lab, member) as conn:
        rows = conn.execute("SELECT body FROM notes WHERE body LIKE %s", (f"{tag} %",)).fetchall()
    return {str(r[0]) for r in rows}


def acknowledged(answers: list[Answer]) -> set[str]:
    return {a.sent for a in answers if a.method == "POST" and a.status == 303}


def polite(answer: Answer) -> bool:
    return answer.status == 503 and READ_ONLY_PAGE in answer.body


@pytest.fixture
def settled(ab_lab: LabLayout, audit: Path) -> Iterator[LabLayout]:
    """The A/B lab with no upgrade open and every database streaming, before and after."""
    _settle(ab_lab, audit)
    yield ab_lab
    _settle(ab_lab, audit)


def _settle(lab: LabLayout, audit: Path) -> None:
    """Roll back (or carry on a rollback) until no runbook is open: twice once B took writes."""
    for _ in range(3):
        book = runbook(lab, audit)
        if book is None or book["state"] == "done":
            break
        verb = "rollback" if book["kind"] == "ab" else "resume"
        plan = run(lab, audit, "upgrade", verb, "--dry-run", "--json")
        confirm = json.loads(plan.stdout)["plan"].get("confirm")
        typed = ("--confirm", confirm) if confirm else ()
        code, out, err = long_run(lab, audit, "upgrade", verb, "--yes", *typed)
        assert code == 0, out[-3000:] + err[-3000:]
    assert status(lab, audit)["action"] is None


def test_an_ab_rollover_under_load_loses_nothing_and_finish_makes_it_redundant(
    settled: LabLayout, audit: Path
) -> None:
    lab = settled
    a, b = sides(lab, audit)
    a_db, b_db = databases(lab)
    tag = f"ab-{time.time():.0f}"
    watcher = Writables(lab).start()
    load = Load(lab.site_url, rate=30, seconds=LONG, workers=3, post_every=4, post_tag=tag)
    load.start()
    try:
        time.sleep(2)  # writes on A before it goes read-only
        code, out, err = rollover(lab, audit, "v2", b)
        assert code == 0, out[-3000:] + err[-3000:]
        assert "rollback is open" in out, out[-2000:]
        time.sleep(2)  # writes on B, live
    finally:
        answers = load.stop()
        watcher.stop()
    # Through the whole rollover: no GET failed, every POST was taken or got the polite page.
    gets = [x for x in answers if x.method == "GET"]
    assert [x for x in gets if x.status != 200] == [], [x for x in gets if x.status != 200][:5]
    posts = [x for x in answers if x.method == "POST"]
    odd = [x for x in posts if x.status != 303 and not polite(x)]
    assert odd == [], odd[:5]
    assert any(polite(x) for x in posts), "no POST met the read-only window"
    # Every write acknowledged (before read-only, and on B after the switch) is on B.
    acked = acknowledged(answers)
    on_b = notes_on(lab, b_db, tag)
    assert len(acked) > 10 and acked <= on_b, sorted(acked - on_b)[:5]
    assert watcher.probes > 20 and watcher.both == [], watcher.both[:5]
    # B is live on v2, A warm; the runbook waits at its gate, keeping the lock.
    assert sides(lab, audit) == (b, a)
    seen = status(lab, audit)
    assert seen["runbook"]["state"] == "paused"
    banner = run(lab, audit, "upgrade", "status").stdout
    assert "A/B: B live, rollback open" in banner, banner
    for node in b:
        assert json.loads(http(f"{lab.node_url(node)}version")[1])["release"] == "v2"
    roles = {n["name"]: n for n in seen["nodes"]}
    assert [n for n in a if roles[n]["role"] == "warm"] == a
    assert [n for n in roles if roles[n]["scheduler"]] == [b[0]]
    assert "ab-second-primary" in {x["code"] for x in seen["alarms"]}
    assert "stale-primary" not in {x["code"] for x in seen["alarms"]}
    other = run(lab, audit, "drain", b[1], "--yes")
    assert other.returncode == 3, other.stdout + other.stderr
    # finish: A's old primary follows B's, the pins go, A's nodes move to v2 too.
    code, out, err = long_run(lab, audit, "upgrade", "finish", "--yes")
    assert code == 0, out[-3000:] + err[-3000:]
    eventually(lambda: primary_of(lab) == b_db, timeout=5)
    assert streams(lab, b_db, a_db)
    for node in a + b:
        assert json.loads(http(f"{lab.node_url(node)}version")[1])["release"] == "v2"
        role = json.loads(http(f"{lab.node_url(node)}role")[1])
        assert role["database"] == "" and role["read_only"] is False, role
    book = runbook(lab, audit)
    assert book is not None and book["state"] == "done"
    assert status(lab, audit)["action"] is None
    assert notes_on(lab, a_db, tag) >= acked  # A's old database has them all, as a standby


def test_a_rollback_counts_the_writes_only_b_has_and_a_serves_again_with_its_data(
    settled: LabLayout, audit: Path
) -> None:
    lab = settled
    a, b = sides(lab, audit)
    a_db, b_db = databases(lab)
    tag = f"abback-{time.time():.0f}"
    before = http(lab.site_url)
    assert before[0] == 200
    code, out, err = rollover(lab, audit, "v1", b)
    assert code == 0, out[-3000:] + err[-3000:]
    # Writes through the balancer: B takes them; A does not have them.
    load = Load(lab.site_url, rate=7, seconds=1.2, workers=1, post_every=1, post_tag=tag)
    answers = _posts(load)
    written = acknowledged(answers)
    assert len(written) >= 5, [x.status for x in answers]
    # B takes writes (its scheduler's too): the rollback makes it read-only first and stops.
    code, out, err = long_run(lab, audit, "upgrade", "rollback", "--yes")
    assert code == 0 and "its count stands still" in out, out[-3000:] + err[-3000:]
    assert polite(_posts(Load(lab.site_url, rate=2, seconds=0.6, workers=1, post_every=1))[0])
    # Then the count stands still: the rows by table (the notes are ours), to be typed.
    plan = run(lab, audit, "upgrade", "rollback", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    shown = json.loads(plan.stdout)["plan"]
    assert f"{len(written)} in public.notes" in shown["summary"], shown["summary"]
    wrong = run(lab, audit, "upgrade", "rollback", "--yes", "--confirm", str(len(written) - 1))
    assert wrong.returncode == 3, wrong.stdout + wrong.stderr
    code, out, err = long_run(
        lab, audit, "upgrade", "rollback", "--yes", "--confirm", shown["confirm"]
    )
    assert code == 0, out[-3000:] + err[-3000:]
    # A serves again, takes writes, on its own database; B's writes are not there.
    assert sides(lab, audit) == (a, b)
    assert primary_of(lab) == a_db
    assert notes_on(lab, a_db, tag) == set()
    after = Load(lab.site_url, rate=2, seconds=1.0, workers=1, post_every=1, post_tag=tag + "a")
    assert acknowledged(_posts(after)), "A does not take writes after the rollback"
    # B's database follows A's again; nothing is pinned.
    eventually(lambda: streams(lab, a_db, b_db), timeout=30)
    for node in a + b:
        role = json.loads(http(f"{lab.node_url(node)}role")[1])
        assert role["database"] == "", role
    book = runbook(lab, audit)
    assert book is not None and book["kind"] == "ab-rollback" and book["state"] == "done"
    assert status(lab, audit)["action"] is None


def _posts(load: Load) -> list[Answer]:
    load.start()
    time.sleep(load.seconds)
    return load.stop()


# A step beginning: "  STAGE: 3/10 TITLE" (not "taking over from ... (STAGE: 3/10 ...)").
STEP = re.compile(r"^  (?!taking over ).+?: \d+/\d+ ")
STATUS_EVERY = 8  # kills between two `upgrade status` checks (each is a process)


def _killed_at_every_step(
    lab: LabLayout, audit: Path, first: tuple[str, ...], confirm: str = ""
) -> int:
    """Run FIRST, SIGKILL it as a step begins, resume, kill again: until the runbook stops.

    Each process is killed as the second step it begins starts (the very
    first one at its first): every step of the runbook is begun by a console
    that is then killed, and each resume gets one step further. After each
    kill the site answers through the balancer, and `upgrade status` names
    the interrupted runbook and the way on. Returns how many kills it took.
    """
    kills = 0
    words = first
    while True:
        operator = Operator.start(lab, audit, *words)
        wanted = 1 if kills == 0 else 2
        begun = 0
        while begun < wanted:
            line = _next_line(operator, begun)
            if line is None:
                break
            begun += 1
        if begun < wanted:  # it ended by itself: the runbook stopped (gate, or done)
            code, out, err = operator.finish(LONG)
            assert code == 0, out[-3000:] + err[-3000:]
            return kills
        operator.kill()
        kills += 1
        print(f"{time.strftime('%H:%M:%S')} kill {kills} at {line}", flush=True)
        assert http(lab.site_url)[0] == 200, "the site does not serve after a kill"
        if kills % STATUS_EVERY == 1:
            said = run(lab, audit, "upgrade", "status")
            assert "interrupted" in said.stdout and "hotspare upgrade resume" in said.stdout, (
                said.stdout[-2000:]
            )
        words = ("upgrade", "resume", "--yes", *(("--confirm", confirm) if confirm else ()))


def _next_line(operator: Operator, seen: int) -> str | None:
    """The step line after the SEEN-th one this process printed; None once it ended."""
    try:
        return operator.wait_for_nth(STEP, seen + 1, timeout=LONG)
    except AssertionError:
        return None


def _confirm(lab: LabLayout, audit: Path) -> str | None:
    plan = run(lab, audit, "upgrade", "resume", "--dry-run", "--json")
    found: str | None = json.loads(plan.stdout)["plan"].get("confirm") if plan.stdout else None
    return found


def test_a_console_killed_at_every_step_of_a_rollover_and_its_rollback_leaves_the_site_serving(
    settled: LabLayout, audit: Path
) -> None:
    """One rollover killed at every step and resumed to B live, then its rollback the same
    way back to A (one test: the rollback needs a rollover, and the kills are the cost)."""
    lab = settled
    a, b = sides(lab, audit)
    a_db = primary_of(lab)
    watcher = Writables(lab).start()
    try:
        kills = _killed_at_every_step(lab, audit, ab_words("v2", b))
        assert sides(lab, audit) == (b, a)
        assert "A/B: B live, rollback open" in run(lab, audit, "upgrade", "status").stdout
        assert kills > 20, kills
        backs = _killed_at_every_step(lab, audit, ("upgrade", "rollback", "--yes"))
        # It stopped with B read-only to count: the count typed, killed on at every step.
        count = _confirm(lab, audit) or ""
        backs += _killed_at_every_step(
            lab, audit, ("upgrade", "rollback", "--yes", "--confirm", count), count
        )
        assert sides(lab, audit) == (a, b)
        assert primary_of(lab) == a_db
        book = runbook(lab, audit)
        assert book is not None and book["kind"] == "ab-rollback" and book["state"] == "done"
        assert backs > 5, backs
    finally:
        watcher.stop()
    assert watcher.both == [], watcher.both[:5]
