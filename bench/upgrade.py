"""A rolling upgrade v1 -> v2 and back, under load: `hotspare upgrade` against the steps by hand.

On a lab of its own (releases v1 and v2 on every web node; v2 declares an
expand migration), ROUNDS times, the two contenders taking turns (the order
alternates each round):

- hotspare: `hotspare upgrade rolling --release v2 --soak S --yes --confirm
  v2`, then `hotspare upgrade rollback --yes`, each one process.
- by hand: the runbook's steps in the runbook's order, each a separate
  process as an operator types them: `hotspare status` (the look before);
  the migration (`ssh web1 cat .../v2/migrate.sql`, then `psql -1 -f` on the
  primary); per node `hotspare drain NODE --then-maint --yes` (not for the
  spare, out already), the `upgrade` then `restart` hook lines of
  cluster.yaml through plain `ssh`, `curl` of /healthz and /version every
  0.5 s until 200 and the release, the smoke URLs by `ssh lb1 curl`,
  `hotspare ready NODE --yes`, `show stat` through `ssh lb1 python3` every
  0.5 s until UP, then a soak of S seconds spent sleeping (watching
  nothing); last `hotspare drain web3 --then-maint --yes`. The way back is
  the same without the migration, the hot nodes last changed first, as
  `hotspare upgrade rollback` orders them.

Throughout each roll, a load through the balancer (tests/support/loadgen.py:
RATE requests/s, every POST_EVERY-th a POST /notes whose note is unique);
after it, every POST answered 303 must have its note in the `notes` table
of the primary (else it is a lost acknowledged write). Between rounds,
outside the timing, the migration is undone (column and record dropped) so
every upgrade migrates for real.

Run: .venv/bin/python -m bench.upgrade [--rounds 3] [--soak 5] [--rate 40] [--block 127.0.86]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.common import HOTSPARE, BenchError, conditions, lab_running
from bench.console_keys import p99
from bench.upgrade_hand import ByHand
from console.inventory import Inventory, load
from console.lab.layout import PG_PORT, LabLayout
from console.runbook.migrate import CREATE, TABLE
from tests.support.loadgen import Answer, Load, failures

CONTENDERS = ("hotspare", "by hand")
DIRECTIONS = ("upgrade", "rollback")
RELEASES = {"upgrade": "v2", "rollback": "v1"}


@dataclass
class Phase:
    """One roll of one contender: its stages' seconds, the whole, and the load's answers."""

    contender: str
    direction: str
    whole: float
    stages: dict[str, float]
    answers: list[Answer] = field(default_factory=list)
    lost: int = 0


# hotspare's runbook -------------------------------------------------------------


def stage_key(stage: dict[str, Any], spares: set[str]) -> str:
    """A stage's name in this bench: migrate, spare in, spare out, or the hot node's name."""
    node = str((stage.get("args") or {}).get("node", ""))
    if stage["kind"] == "migrate":
        return "migrate"
    if stage["kind"] == "out":
        return "spare out"
    return "spare in" if node in spares else node


def runbook(lab: LabLayout, spares: set[str], direction: str, soak: float) -> Phase:
    """One `hotspare upgrade` process; per stage, from its first step's start to its last mark."""
    argv = [str(HOTSPARE), "--cluster", str(lab.cluster_file), "upgrade"]
    if direction == "upgrade":
        argv += ["rolling", "--release", "v2", "--soak", f"{soak:g}", "--confirm", "v2"]
    else:
        argv += ["rollback"]
    argv.append("--yes")
    started = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
    reader.start()
    out = proc.stdout.read() if proc.stdout else ""
    rc = proc.wait(timeout=600)
    whole = time.time() - started
    reader.join(10)
    if rc != 0:
        said = "".join(line for _, line in lines)
        raise BenchError(f"hotspare upgrade {direction} exited {rc}:\n{out}{said[-3000:]}")
    record = _status(lab)
    stages: dict[str, float] = {}
    for stage in record["stages"]:
        begun = next(t for t, line in lines if line.strip().startswith(f"{stage['title']}: 1/"))
        stages[stage_key(stage, spares)] = stage["marks"][-1]["at"] - begun
    return Phase("hotspare", direction, whole, stages)


def _read_lines(proc: subprocess.Popen[str], lines: list[tuple[float, str]]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append((time.time(), line))


def _status(lab: LabLayout) -> dict[str, Any]:
    argv = [str(HOTSPARE), "--cluster", str(lab.cluster_file), "upgrade", "status", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    record: dict[str, Any] = json.loads(done.stdout)["runbook"]
    if record["state"] != "done":
        raise BenchError(f"the runbook ended {record['state']}, not done")
    return record


# The database ------------------------------------------------------------------


def primary_dsn(lab: LabLayout) -> str:
    """The hotspare user on whichever member is the primary, password from the lab's pgpass."""
    hosts = ",".join(lab.address(db) for db in lab.db_names)
    ports = ",".join(str(PG_PORT) for _ in lab.db_names)
    return (
        f"host={hosts} port={ports} dbname=site user=hotspare passfile={lab.pgpass} "
        "target_session_attrs=primary connect_timeout=5"
    )


def undo_migration(lab: LabLayout) -> None:
    """Drop v2's column and its record, so the next upgrade migrates again (all run v1 now)."""
    with psycopg.connect(primary_dsn(lab), autocommit=True) as conn:
        conn.execute("ALTER TABLE notes DROP COLUMN IF EXISTS words")
        conn.execute(CREATE)
        conn.execute(f"DELETE FROM {TABLE} WHERE release = 'v2'")


def lost_writes(lab: LabLayout, tag: str, answers: list[Answer]) -> int:
    """How many POSTs answered 303 have no note in the database."""
    acked = {a.sent for a in answers if a.method == "POST" and a.status == 303}
    with psycopg.connect(primary_dsn(lab)) as conn:
        rows = conn.execute("SELECT body FROM notes WHERE body LIKE %s", (tag + " %",)).fetchall()
    return len(acked - {str(r[0]) for r in rows})


# A round -----------------------------------------------------------------------


def check_releases(lab: LabLayout, release: str) -> None:
    """Raise BenchError unless every web node's /version names RELEASE."""
    import urllib.request

    for node in lab.web_names:
        url = lab.node_url(node).rstrip("/") + "/version"
        with urllib.request.urlopen(url, timeout=5) as answer:
            said = json.loads(answer.read())["release"]
        if said != release:
            raise BenchError(f"{node} runs {said} after the roll, not {release}")


@contextmanager
def loaded(lab: LabLayout, args: argparse.Namespace, tag: str) -> Iterator[Load]:
    load = Load(lab.site_url, rate=args.rate, seconds=900, post_every=args.post_every, post_tag=tag)
    load.start()
    try:
        yield load
    finally:
        load.stop()


def one_phase(
    lab: LabLayout, inv: Inventory, args: argparse.Namespace, who: str, direction: str, run: str
) -> Phase:
    if direction == "upgrade":
        undo_migration(lab)
    spares = {n.name for n in inv.web_nodes if n.role == "warm"}
    tag = f"bench-upgrade-{run}-{who.replace(' ', '-')}-{direction}-{time.time():.0f}"
    with loaded(lab, args, tag) as traffic:
        time.sleep(1.0)  # the load runs before the roll starts
        if who == "hotspare":
            phase = runbook(lab, spares, direction, args.soak)
        else:
            whole, stages = ByHand(lab, inv, args.soak).roll(direction, RELEASES[direction])
            phase = Phase("by hand", direction, whole, stages)
        time.sleep(1.0)
    phase.answers = traffic.stop()
    phase.lost = lost_writes(lab, tag, phase.answers)
    check_releases(lab, RELEASES[direction])
    return phase


# Report ------------------------------------------------------------------------


def med(values: list[float]) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{statistics.median(values):6.2f} s ({low:.2f}-{high:.2f}, n={len(values)})"


def load_line(phases: list[Phase]) -> str:
    answers = [a for p in phases for a in p.answers]
    posts = [a for a in answers if a.method == "POST" and a.status == 303]
    ms = [a.seconds * 1000 for a in answers] or [0.0]
    return (
        f"requests {len(answers):6}  failed {len(failures(answers)):3}  "
        f"posts acked {len(posts):5}  "
        f"lost {sum(p.lost for p in phases)}  p50 {statistics.median(ms):5.1f} ms  "
        f"p99 {p99(ms):6.1f} ms  max {max(ms):7.1f} ms"
    )


def report(phases: list[Phase], hot: list[str]) -> None:
    print("\nmedians (min-max, n) over the rounds")
    rows = [
        ("whole upgrade", lambda p: [p.whole] if p.direction == "upgrade" else []),
        ("whole rollback", lambda p: [p.whole] if p.direction == "rollback" else []),
        ("migrate", lambda p: [p.stages["migrate"]] if "migrate" in p.stages else []),
        ("spare in (web3)", lambda p: [p.stages["spare in"]]),
        ("hot node (each)", lambda p: [p.stages[n] for n in hot]),
        ("spare out (web3)", lambda p: [p.stages["spare out"]]),
    ]
    print(f"{'':18} {'hotspare':36} {'by hand':36} hand/hotspare")
    for name, pick in rows:
        cells = [[v for p in phases if p.contender == c for v in pick(p)] for c in CONTENDERS]
        ratio = (
            f"{statistics.median(cells[1]) / statistics.median(cells[0]):.2f}"
            if all(cells)
            else "-"
        )
        print(f"{name:18} {med(cells[0]):36} {med(cells[1]):36} {ratio}")
    print("\nload during the rolls")
    for who in CONTENDERS:
        for direction in DIRECTIONS:
            mine = [p for p in phases if p.contender == who and p.direction == direction]
            print(f"{who:9} {direction:9} {load_line(mine)}")
            for bad in failures([a for p in mine for a in p.answers])[:5]:
                print(f"   failed: {bad.method} {bad.status} {bad.error or bad.body[:80]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--soak", type=float, default=5.0, help="seconds, both contenders")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--post-every", type=int, default=5, help="every Nth request a POST")
    parser.add_argument("--block", default="127.0.86")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    phases: list[Phase] = []
    with lab_running(args.block) as lab:
        inv = load(lab.cluster_file)
        hot = [n.name for n in inv.web_nodes if n.role == "hot"]
        print(f"before: {conditions(lab)}")
        for n in range(args.rounds):
            order = CONTENDERS if n % 2 == 0 else CONTENDERS[::-1]
            for who in order:
                for direction in DIRECTIONS:
                    phase = one_phase(lab, inv, args, who, direction, run)
                    phases.append(phase)
                    stages = "  ".join(f"{k} {v:.2f}" for k, v in phase.stages.items())
                    print(f"round {n + 1} {who:9} {direction:9} {phase.whole:6.2f} s  {stages}")
                    print(f"        {load_line([phase])}")
        print(f"after: {conditions(lab)}")
    report(phases, hot)


if __name__ == "__main__":
    main()
