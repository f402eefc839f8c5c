"""Write unavailability during a switchover under a writer's load, against the floor by hand.

On a lab of its own (block 127.0.82, brought up if needed, purged at the end
unless --keep), a writer (tests/support/dbwatch.py) commits one row at a time through
the site's multi-host connection string and records every acknowledged
commit; a watch asks both members, round after round, which is out of
recovery. Each switch starts a fresh writer and watch, lets ~2 s of commits
accumulate, then hands the primary over one of two ways:

- hotspare: `hotspare promote NEW --rejoin --yes --confirm NEW --json` as a
  fresh process, timed from spawn to exit (read-only page, checkpoint, fast
  stop, catch-up check, pg_promote, write check, lift, then pg_rewind of the
  old primary);
- floor: by hand, no checks: CHECKPOINT on the primary, `pg_ctl stop -m fast`
  as the lab user, `SELECT pg_promote(true, 30)` on the standby (connection
  opened beforehand), then `hotspare rejoin OLD --yes --confirm OLD` so the
  lab stays usable.

Write unavailability is the writer's longest gap between two acknowledged
commits after the switch began. Each switch waits for the writer to commit
again after the command, then checks that every acknowledged id is on the
new primary and that no watch round saw two writable members.

A round is four switches, db1 -> db2 -> db1 -> db2 -> db1, in the order
hotspare, floor, floor, hotspare (floor first in odd rounds), so both see
the same machine conditions and both directions.

Run: .venv/bin/python -m bench.promote [--rounds 5] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    HOTSPARE,
    BenchError,
    audited,
    conditions,
    hard_stop,
    machine_before,
    quiet,
    rounds,
)
from bench.common import timed as timed_run
from console.lab import control, pg, procs
from console.lab.layout import LabLayout, find_pg_bin
from tests.support.dbwatch import Watch, Writer
from tests.support.labclient import db

SETTLE = 2.0  # commits accumulated before a switch
LOAD_SECONDS = 150.0  # the writer and the watch stop by themselves after this
BACK_TIMEOUT = 30.0  # for the writer to commit again, a standby to stream
PG_CTL_TIMEOUT = 90


@dataclass
class Switch:
    """One handover of the primary from OLD to NEW, and what the writer saw."""

    how: str
    old: str
    new: str
    unavailable: float = 0.0
    wall: float = 0.0
    writes_back: float = 0.0  # from the switch's start to the first commit after the gap
    acked: int = 0
    errors: int = 0
    lost: list[int] = field(default_factory=list)
    two_writable: int = 0
    primaries: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)

    def role_of(self, member: re.Match[str]) -> str:
        """OLD or NEW for a member named in a step's title."""
        return "OLD" if member.group(0) == self.old else "NEW"

    def line(self, n: int) -> str:
        loud = f"  LOST {len(self.lost)} COMMITS" if self.lost else ""
        loud += f"  {self.two_writable} ROUNDS WITH TWO WRITABLE" if self.two_writable else ""
        return (
            f"round {n} {self.how:8} {self.old}->{self.new}  unavailable "
            f"{self.unavailable:6.3f} s  wall {self.wall:5.2f} s  acked {self.acked:5}  "
            f"lost {len(self.lost)}  two writable {self.two_writable}  "
            f"seen {'>'.join(self.primaries)}{loud}"
        )


def hotspare(lab: LabLayout, env: dict[str, str], *args: str) -> tuple[float, dict[str, Any]]:
    """Run `hotspare ARGS --json` on LAB; its wall time and answer, or raise unless done."""
    run = timed_run([str(HOTSPARE), "--cluster", str(lab.cluster_file), *args, "--json"], env)
    try:
        answer = json.loads(run.stdout)
    except json.JSONDecodeError:
        answer = {}
    if run.returncode != 0 or answer.get("outcome") != "done":
        raise BenchError(f"{' '.join(args)} exited {run.returncode}:\n{run.stdout}{run.stderr}")
    return run.seconds, answer


def streams(lab: LabLayout, primary: str, standby: str) -> bool:
    with db(lab, primary) as conn:
        recovering = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        row = conn.execute(
            "SELECT state FROM pg_stat_replication WHERE application_name = %s", (standby,)
        ).fetchone()
    return recovering == (False,) and row is not None and row[0] == "streaming"


def wait_for(check: Any, what: str, timeout: float = BACK_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"still not the case after {timeout:g} s: {what}")
        time.sleep(0.05)


def ready(lab: LabLayout, old: str, new: str) -> None:
    wait_for(lambda: streams(lab, old, new), f"{old} primary with {new} streaming from it")


def gap_after(writer: Writer, after: float) -> tuple[float, float]:
    """The (start, end) monotonic times of the writer's longest gap after AFTER."""
    times = [t for _, t in list(writer.acked) if t >= after]
    pairs = list(itertools.pairwise(times))
    if not pairs:
        raise BenchError("the writer committed nothing around the switch")
    return max(pairs, key=lambda p: p[1] - p[0])


def commits_after(writer: Writer, after: float) -> None:
    wait_for(lambda: bool(writer.acked) and writer.acked[-1][1] > after, "the writer commits")


def loaded(lab: LabLayout) -> tuple[Writer, Watch]:
    writer = Writer(lab, seconds=LOAD_SECONDS).start()
    watch = Watch(lab, seconds=LOAD_SECONDS).start()
    time.sleep(SETTLE)
    if len(writer.acked) < 20:
        raise BenchError(f"the writer committed only {len(writer.acked)} rows in {SETTLE:g} s")
    return writer, watch


def settle(switch: Switch, writer: Writer, watch: Watch, started: float) -> Switch:
    """Fill SWITCH from the stopped WRITER and WATCH; the switch began at STARTED."""
    begin, end = gap_after(writer, started)
    switch.unavailable, switch.writes_back = end - begin, end - started
    switch.acked, switch.errors = len(writer.acked), writer.errors
    switch.lost = writer.missing_on(switch.new)
    switch.two_writable = len(watch.both_writable())
    switch.primaries = watch.primaries_seen()
    return switch


def by_hotspare(lab: LabLayout, env: dict[str, str], old: str, new: str) -> Switch:
    """`hotspare promote NEW --rejoin` under the writer's load."""
    ready(lab, old, new)
    switch = Switch("hotspare", old, new)
    writer, watch = loaded(lab)
    started = time.monotonic()
    try:
        switch.wall, answer = hotspare(
            lab, env, "promote", new, "--rejoin", "--yes", "--confirm", new
        )
        commits_after(writer, time.monotonic())
    finally:
        writer.stop()
        watch.stop()
    switch.steps = answer["steps"]
    return settle(switch, writer, watch, started)


def pg_ctl_stop(lab: LabLayout, member: str) -> None:
    """`pg_ctl stop -m fast` on MEMBER as the lab's PostgreSQL user (as console/lab/pg.py)."""
    argv = [f"{find_pg_bin()}/pg_ctl", "-D", str(lab.data_dir(member)), "stop", "-m", "fast"]
    done = subprocess.run(
        [*argv, "-w", "-t", "60"],
        user=procs.run_as(lab),
        capture_output=True,
        text=True,
        timeout=PG_CTL_TIMEOUT,
        check=False,
        cwd=lab.root,
    )
    if done.returncode != 0:
        raise BenchError(f"pg_ctl stop {member} exited {done.returncode}: {done.stderr}")


def by_hand(lab: LabLayout, env: dict[str, str], old: str, new: str) -> Switch:
    """The floor: CHECKPOINT, fast stop, pg_promote; then `hotspare rejoin OLD`."""
    ready(lab, old, new)
    switch = Switch("floor", old, new)
    writer, watch = loaded(lab)
    started = time.monotonic()
    try:
        with pg.superuser(lab, new) as standby:
            with pg.superuser(lab, old) as primary:
                primary.execute("CHECKPOINT")
            stop_began = time.monotonic()
            pg_ctl_stop(lab, old)
            stopped = time.monotonic()
            row = standby.execute("SELECT pg_promote(true, 30)").fetchone()
            promoted = time.monotonic()
        if row != (True,):
            raise BenchError(f"{new}: pg_promote answered {row}")
        commits_after(writer, promoted)
        switch.wall = promoted - stop_began
        switch.parts = {
            "checkpoint": stop_began - started,
            "pg_ctl stop": stopped - stop_began,
            "pg_promote": promoted - stopped,
        }
        switch.parts["rejoin (not timed in the window)"], _ = hotspare(
            lab, env, "rejoin", old, "--yes", "--confirm", old
        )
        commits_after(writer, time.monotonic())
    finally:
        writer.stop()
        watch.stop()
    settle(switch, writer, watch, started)
    switch.parts["stop to next commit"] = switch.writes_back - switch.parts["checkpoint"]
    return switch


def one_round(lab: LabLayout, env: dict[str, str], n: int, done: list[tuple[int, Switch]]) -> None:
    """Four switches db1 -> db2 -> db1 -> db2 -> db1: H F F H, or F H H F in odd rounds."""
    first, second = (by_hotspare, by_hand) if n % 2 == 0 else (by_hand, by_hotspare)
    for how, old, new in (
        (first, "db1", "db2"),
        (second, "db2", "db1"),
        (second, "db1", "db2"),
        (first, "db2", "db1"),
    ):
        switch = how(lab, env, old, new)
        done.append((n + 1, switch))
        print(switch.line(n + 1), flush=True)


def bring_up(lab: LabLayout, env: dict[str, str]) -> None:
    """LAB running with db1 the primary and db2 streaming (a leftover swapped lab is put back)."""
    started = time.perf_counter()
    control.up(lab, quiet)
    print(f"lab up on {lab.block}: {time.perf_counter() - started:.1f} s", flush=True)
    if pg.primary(lab) != "db1":
        hotspare(lab, env, "promote", "db1", "--rejoin", "--yes", "--confirm", "db1")
    ready(lab, "db1", "db2")


def spread(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


def step_medians(switches: list[Switch]) -> dict[str, float]:
    """Each step's median seconds over SWITCHES, the members named OLD and NEW."""
    seconds: dict[str, list[float]] = {}
    for s in switches:
        for step in s.steps:
            title = re.sub(r"\bdb\d\b", s.role_of, step["title"])
            seconds.setdefault(title, []).append(step["seconds"])
    return {title: round(statistics.median(v), 3) for title, v in seconds.items()}


def summary(done: list[tuple[int, Switch]], facts: dict[str, Any]) -> dict[str, Any]:
    ours = [s for _, s in done if s.how == "hotspare"]
    floor = [s for _, s in done if s.how == "floor"]
    result: dict[str, Any] = {**facts, "switches": len(done)}
    for name, group in (("hotspare", ours), ("floor", floor)):
        result[name] = {
            "unavailable_s": spread([s.unavailable for s in group]),
            "wall_s": spread([s.wall for s in group]),
            "start_to_writes_back_s": spread([s.writes_back for s in group]),
        }
    for part in ("checkpoint", "pg_ctl stop", "pg_promote", "stop to next commit"):
        result["floor"][part + "_s"] = spread([s.parts[part] for s in floor])
    if ours and floor:
        ratio = statistics.median(s.unavailable for s in ours) / statistics.median(
            s.unavailable for s in floor
        )
        result["ratio_unavailable_hotspare_over_floor"] = round(ratio, 2)
    result["hotspare"]["steps_median_s"] = step_medians(ours)
    if ours:
        first = ours[0]
        result["hotspare"]["steps_one_run"] = {
            "switch": f"{first.old}->{first.new}",
            "steps": [{k: st[k] for k in ("title", "seconds", "check")} for st in first.steps],
        }
    result["acked_total"] = sum(s.acked for _, s in done)
    result["writer_errors_total"] = sum(s.errors for _, s in done)
    result["lost_total"] = sum(len(s.lost) for _, s in done)
    result["lost_by_switch"] = {
        f"round {n} {s.how} {s.old}->{s.new}": s.lost[:20] for n, s in done if s.lost
    }
    result["two_writable_rounds_total"] = sum(s.two_writable for _, s in done)
    return result


def table(done: list[tuple[int, Switch]], result: dict[str, Any]) -> None:
    print()
    print(f"{'':30} {'median':>9} {'min':>9} {'max':>9}  n")
    rows = [
        ("hotspare: write unavailability", result["hotspare"]["unavailable_s"]),
        ("floor: write unavailability", result["floor"]["unavailable_s"]),
        ("hotspare: command wall time", result["hotspare"]["wall_s"]),
        ("floor: stop + pg_promote", result["floor"]["wall_s"]),
        ("floor: stop to next commit", result["floor"]["stop to next commit_s"]),
    ]
    for name, s in rows:
        if s["n"]:
            print(f"{name:30} {s['median']:8.3f}s {s['min']:8.3f}s {s['max']:8.3f}s  {s['n']}")
    if "ratio_unavailable_hotspare_over_floor" in result:
        print(
            f"ratio of medians hotspare / floor: {result['ratio_unavailable_hotspare_over_floor']}"
        )
    print(
        f"acknowledged commits {result['acked_total']}, lost {result['lost_total']}, "
        f"rounds with two writable members {result['two_writable_rounds_total']}"
    )
    if result["lost_total"] or result["two_writable_rounds_total"]:
        print(
            "!!! FAILED SWITCHES: "
            + "; ".join(s.line(n) for n, s in done if s.lost or s.two_writable)
        )
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", default="127.0.82")
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds for the whole bench")
    args = parser.parse_args()
    deadline = hard_stop(args.budget)
    lab = LabLayout.for_block(args.block)
    facts: dict[str, Any] = {"block": args.block, **machine_before(lab)}
    done: list[tuple[int, Switch]] = []
    failure: BaseException | None = None
    with audited("bench-promote-") as env:
        try:
            bring_up(lab, env)
            for n in rounds(args.rounds, deadline):
                one_round(lab, env, n, done)
        except (BenchError, subprocess.TimeoutExpired) as exc:
            failure = exc
            print(f"!!! bench stopped: {exc}", flush=True)
        finally:
            signal.alarm(0)
            facts["after"] = conditions(lab)
            print(f"after: {facts['after']}")
            if not args.keep:
                control.down(lab, quiet, purge=True)
    result = summary(done, facts)
    table(done, result)
    if failure is not None or result["lost_total"] or result["two_writable_rounds_total"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
