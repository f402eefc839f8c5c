"""The A/B rollover's read-only window: `hotspare upgrade ab` against the same procedure by hand.

ROUNDS times, the two contenders taking turns (the order alternates each
round), each on a fresh A/B lab (`lab up --ab`: web1, web2 live in backend
site on v1, web3, web4 warm in site_b, db1 primary, db2 its streaming
standby), so every rollover starts from the same place and migrates for real:

- hotspare: `hotspare upgrade ab --release v2 --b web3,web4 --yes --confirm
  v2`, one process; then, outside the timing, its way back (`upgrade
  rollback --yes`, then `--confirm COUNT` with the count of its dry run),
  checked and timed for the record.
- by hand: bench/ab_hand.py, each command a separate process, no think time.

The read-only window runs from the flags switch to read-only (the `A
read-only` stage's first mark; by hand, that step's record in the audit log
of `hotspare read-only on`) to the flags switch back to normal (the `switch`
stage's "Switch the site flags" mark; by hand, the `set map ... mode normal`
command's exit). Its components follow the runbook's stages (each from the
previous stage's last mark, so they add up to the window). The load sees a
window too: from the first POST answered with the read-only page to the
first POST answered 303 after it.

Throughout each rollover, a load through the balancer (tests/support/
loadgen.py: RATE requests/s, every POST_EVERY-th a POST /notes with a unique
note); after it, every POST answered 303 must have its note in B's database
(db2, the primary now): an acknowledged write A took must have been replayed
before the detach.

Run: .venv/bin/python -m bench.ab [--rounds 3] [--rate 40] [--post-every 4] [--block 127.0.91]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.ab_hand import AbByHand
from bench.common import HOTSPARE, BenchError, conditions, machine_cores_used, quiet
from bench.upgrade import check_releases
from console.inventory import load
from console.lab import control
from console.lab.layout import PG_PORT, LabLayout
from tests.support.loadgen import Answer, Load

CONTENDERS = ("hotspare", "by hand")
RELEASE = "v2"
B_NODES = ["web3", "web4"]
ROWS = (
    "read-only on",
    "detach",
    "  catch-up wait",
    "  promotion",
    "migration",
    "B nodes",
    "tests",
    "switch",
    "  B hot, UP",
    "window (marks)",
    "window (load)",
)
READ_ONLY_PAGE = "saving changes is paused"


@dataclass
class Rollover:
    """One contender's rollover: the window's components and the load's answers."""

    contender: str
    parts: dict[str, float]
    answers: list[Answer] = field(default_factory=list)
    lost: int = 0
    way_back: float | None = None


# Marks ------------------------------------------------------------------------------


def components(start: float, ends: list[tuple[str, float]]) -> dict[str, float]:
    """Each component from the previous one's end; the window is their sum."""
    parts: dict[str, float] = {}
    before = start
    for name, at in ends:
        parts[name] = at - before
        before = at
    parts["window (marks)"] = before - start
    return parts


def runbook_parts(record: dict[str, Any]) -> dict[str, float]:
    """The window's components from the runbook's marks (`upgrade status --json`)."""
    stages = {s["kind"]: s for s in record["stages"] if s["kind"] != "node"}
    nodes = [s for s in record["stages"] if s["kind"] == "node" and s["marks"]]
    ro, detach, switch = stages["read-only"], stages["detach"], stages["switch"]
    start = ro["marks"][0]["at"]
    at = {m["title"]: m["at"] for m in detach["marks"]}
    waited = next(t for t in at if t.startswith("Wait until"))
    promoted = next(t for t in at if t.startswith("Detach"))
    before_wait = max(v for v in at.values() if v < at[waited])
    flags = next(m["at"] for m in switch["marks"] if m["title"].startswith("Switch the site flags"))
    parts = components(
        start,
        [
            ("read-only on", ro["marks"][-1]["at"]),
            ("detach", detach["marks"][-1]["at"]),
            ("migration", stages["migrate"]["marks"][-1]["at"]),
            ("B nodes", max(s["marks"][-1]["at"] for s in nodes)),
            ("tests", stages["test"]["marks"][-1]["at"]),
            ("switch", flags),
        ],
    )
    parts["  catch-up wait"] = at[waited] - before_wait
    parts["  promotion"] = at[promoted] - at[waited]
    up = [m["at"] for m in switch["marks"] if m["title"].endswith("health check to be UP")]
    parts["  B hot, UP"] = max(up) - stages["test"]["marks"][-1]["at"]
    return parts


def hand_parts(audit: Path, marks: list[tuple[str, float]]) -> dict[str, float]:
    """The window's components by hand: from the audit's flags switch, by the bench's clock."""
    start = next(
        e["epoch"]
        for e in map(json.loads, audit.read_text().splitlines())
        if e.get("event") == "step" and str(e.get("title")).startswith("Switch the site flags")
    )
    at = dict(marks)
    main = ("read-only on", "detach", "migration", "B nodes", "tests", "switch")
    parts = components(start, [(name, at[name]) for name in main])
    parts["  catch-up wait"] = at["catch-up wait"] - at["pin A"]
    parts["  promotion"] = at["promotion"] - at["catch-up wait"]
    parts["  B hot, UP"] = at["B hot, UP"] - at["tests"]
    return parts


# The contenders -----------------------------------------------------------------------


def hotspare(lab: LabLayout, *args: str, env: dict[str, str]) -> str:
    argv = [str(HOTSPARE), "--cluster", str(lab.cluster_file), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        said = (done.stdout + done.stderr)[-3000:]
        raise BenchError(f"hotspare {' '.join(args)} exited {done.returncode}:\n{said}")
    return done.stdout


def by_runbook(lab: LabLayout, env: dict[str, str]) -> dict[str, float]:
    b = ",".join(B_NODES)
    hotspare(
        lab, "upgrade", "ab", "--release", RELEASE, "--b", b, "--yes", "--confirm", RELEASE, env=env
    )
    record = json.loads(hotspare(lab, "upgrade", "status", "--json", env=env))["runbook"]
    if record["state"] != "paused" or not str(record.get("problem", "")).startswith("B is live"):
        raise BenchError(f"the rollover ended {record['state']}: {record.get('problem')}")
    return runbook_parts(record)


def way_back(lab: LabLayout, env: dict[str, str]) -> float:
    """`upgrade rollback` twice (the second with the count typed): its seconds."""
    started = time.time()
    hotspare(lab, "upgrade", "rollback", "--yes", env=env)
    plan = json.loads(hotspare(lab, "upgrade", "rollback", "--dry-run", "--json", env=env))
    count = str(plan["plan"]["confirm"])
    hotspare(lab, "upgrade", "rollback", "--yes", "--confirm", count, env=env)
    seconds = time.time() - started
    check_releases(lab, "v1")
    return seconds


# A rollover --------------------------------------------------------------------------


def fresh_lab(block: str) -> LabLayout:
    lab = LabLayout.for_block(block, ab=True)
    control.down(lab, quiet, purge=True)
    control.up(lab, quiet)
    return lab


def lost_writes(lab: LabLayout, answers: list[Answer]) -> int:
    """POSTs answered 303 whose note is not in B's database (db2)."""
    acked = {a.sent for a in answers if a.method == "POST" and a.status == 303}
    dsn = (
        f"host={lab.address('db2')} port={PG_PORT} dbname=site user=hotspare "
        f"passfile={lab.pgpass} connect_timeout=5"
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT body FROM notes").fetchall()
    return len(acked - {str(r[0]) for r in rows})


def load_window(answers: list[Answer]) -> float | None:
    """From the first POST given the read-only page to the first POST answered 303 after it."""
    posts = sorted((a for a in answers if a.method == "POST"), key=lambda a: a.at)
    shut = next((a.at for a in posts if a.status == 503 and READ_ONLY_PAGE in a.body), None)
    if shut is None:
        return None
    opened = next((a.at for a in posts if a.at > shut and a.status == 303), None)
    return None if opened is None else opened - shut


def one(args: argparse.Namespace, who: str, run: str) -> Rollover:
    lab = fresh_lab(args.block)
    inv = load(lab.cluster_file)
    audit = lab.root / f"bench-audit-{who.replace(' ', '-')}.jsonl"  # purged with the lab
    env = {**os.environ, "HOTSPARE_AUDIT": str(audit)}
    tag = f"bench-ab-{run}-{who.replace(' ', '-')}-{time.time():.0f}"
    traffic = Load(
        lab.site_url, rate=args.rate, seconds=600, post_every=args.post_every, post_tag=tag
    )
    traffic.start()
    try:
        time.sleep(1.0)  # the load runs before the rollover starts
        if who == "hotspare":
            parts = by_runbook(lab, env)
        else:
            parts = hand_parts(audit, AbByHand(lab, inv, RELEASE, B_NODES, audit).rollover())
        time.sleep(1.0)
    finally:
        answers = traffic.stop()
    check_releases_b(lab)
    seen = load_window(answers)
    if seen is not None:
        parts["window (load)"] = seen
    done = Rollover(who, parts, answers, lost_writes(lab, answers))
    if who == "hotspare":
        done.way_back = way_back(lab, env)
    return done


def check_releases_b(lab: LabLayout) -> None:
    """Raise BenchError unless B's nodes answer /version with the release."""
    for node in B_NODES:
        with urllib.request.urlopen(lab.node_url(node).rstrip("/") + "/version", timeout=5) as a:
            if json.loads(a.read())["release"] != RELEASE:
                raise BenchError(f"{node} does not run {RELEASE} after the rollover")


# Report ------------------------------------------------------------------------------


def med(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f}, n={len(values)})"
    )


def load_line(done: list[Rollover]) -> str:
    answers = [a for r in done for a in r.answers]
    posts = [a for a in answers if a.method == "POST"]
    read_only = [a for a in posts if a.status == 503 and READ_ONLY_PAGE in a.body]
    acked = [a for a in posts if a.status == 303]
    other = [a for a in answers if (a.status is None or a.status >= 400) and a not in read_only]
    return (
        f"requests {len(answers):5}  POSTs {len(posts):4}: 303 {len(acked):4}, read-only page "
        f"{len(read_only):3}  other failures {len(other)}  lost {sum(r.lost for r in done)}"
    )


def report(done: list[Rollover]) -> None:
    print("\nmedians (min-max, n) over the rounds")
    print(f"{'':16} {'hotspare':32} {'by hand':32} hand/hotspare")
    for row in ROWS:
        cells = [
            [r.parts[row] for r in done if r.contender == c and row in r.parts] for c in CONTENDERS
        ]
        ratio = "-"
        if all(cells) and statistics.median(cells[0]) > 0:
            ratio = f"{statistics.median(cells[1]) / statistics.median(cells[0]):.2f}"
        print(f"{row:16} {med(cells[0]):32} {med(cells[1]):32} {ratio}")
    for who in CONTENDERS:
        print(f"{who:9} {load_line([r for r in done if r.contender == who])}")
    backs = [r.way_back for r in done if r.way_back is not None]
    print(f"hotspare's way back (upgrade rollback, twice): {med(backs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--post-every", type=int, default=4, help="every Nth request a POST")
    parser.add_argument("--block", default="127.0.91")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    print(f"before: {machine_cores_used(3.0):.2f} cores busy; {conditions()}")
    done: list[Rollover] = []
    try:
        for n in range(args.rounds):
            for who in CONTENDERS if n % 2 == 0 else CONTENDERS[::-1]:
                rollover = one(args, who, run)
                done.append(rollover)
                parts = "  ".join(f"{k.strip()} {v:.2f}" for k, v in rollover.parts.items())
                print(f"round {n + 1} {who:9} {parts}")
                print(f"        {load_line([rollover])}")
        print(f"after: {conditions()}")
    finally:
        control.down(LabLayout.for_block(args.block, ab=True), quiet, purge=True)
    report(done)


if __name__ == "__main__":
    main()
