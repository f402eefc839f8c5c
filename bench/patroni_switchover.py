"""Switchover three ways under one writer's load, side by side in one run; then Patroni's failover.

Two labs of its own, up at the same time (purged first, purged at the end
unless --keep): the default lab on 127.0.83 (hotspare runs PostgreSQL's
promotion itself) and the Patroni lab on 127.0.84 (Patroni over etcd runs
db1, db2, db3). Each round runs the three contenders once, the order rotated
from round to round so that each sees the same machine:

- direct: `hotspare promote NEW --rejoin --yes --confirm NEW --json` on the
  default lab (as bench/promote.py), db1 and db2 in turn;
- hotspare through Patroni: `hotspare promote NEW --confirm NEW --json` on
  the Patroni lab (a POST /switchover, then /cluster watched until NEW leads
  and the old leader is a replica again);
- patronictl: `patronictl -c NEW's patroni.yml switchover --force --leader
  OLD --candidate NEW` from the lab's venv, on the Patroni lab.

On the Patroni lab the leadership moves on db1 -> db2 -> db3 -> db1. Each
switch has a fresh writer and watch (tests/support/dbwatch.py, through the
site's multi-host connection string) and 2 s of commits before it, as in
bench/promote.py. Measured per switch: write unavailability (the writer's
longest gap between acknowledged commits after the command's spawn), the
command's wall time (spawn to exit), the time from the spawn until the old
primary streams again (the start of its walsender in the new primary's
pg_stat_replication, once that shows it streaming), acknowledged commits
missing on the new primary, and watch rounds with two writable members.
Before each hotspare switch, outside the writer's window, the same command
with --dry-run is timed: what hotspare spends before it acts (start, the
first look at every box, the plan).

Then bench/patroni_failover.py kills the Patroni lab's leader (its Patroni and
postmaster, SIGKILL) at Patroni's default timing and at the lab's short one,
alternated, and times the election and the writes coming back.

Run: .venv/bin/python -m bench.patroni_switchover [--rounds 6] [--failovers 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench import patroni_failover as failover
from bench import patroni_report as report
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
from bench.promote import (
    Switch,
    bring_up,
    commits_after,
    hotspare,
    loaded,
    ready,
    settle,
    streams,
    wait_for,
)
from console.lab import control, patroni, pg, procs
from console.lab.layout import LabLayout, find_pg_bin
from tests.support.labclient import db

DIRECT_BLOCK = "127.0.83"
PATRONI_BLOCK = "127.0.84"
STREAM_TIMEOUT = 90.0  # for the old primary to stream again after the command
Command = Callable[[], tuple[float, list[dict[str, Any]]]]


def streams_now(lab: LabLayout, primary: str, standby: str) -> bool:
    """Whether PRIMARY is out of recovery with STANDBY streaming from it (False if it is down)."""
    try:
        return streams(lab, primary, standby)
    except psycopg.Error:
        return False


def walsender_start(lab: LabLayout, primary: str, standby: str) -> float:
    """When STANDBY's streaming connection to PRIMARY began, as a Unix time."""
    with db(lab, primary) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM backend_start)::float8 FROM pg_stat_replication "
            "WHERE application_name = %s AND state = 'streaming'",
            (standby,),
        ).fetchone()
    if row is None:
        raise BenchError(f"{standby} no longer streams from {primary}")
    return float(row[0])


def timed_switch(lab: LabLayout, how: str, old: str, new: str, command: Command) -> Switch:
    """Run COMMAND (OLD to NEW) under a fresh writer and watch; what they saw."""
    switch = Switch(how, old, new)
    writer, watch = loaded(lab)
    started, clock = time.monotonic(), time.time()
    try:
        switch.wall, switch.steps = command()
        commits_after(writer, time.monotonic())
        wait_for(lambda: streams_now(lab, new, old), f"{old} streams from {new}", STREAM_TIMEOUT)
        switch.parts["streams again"] = walsender_start(lab, new, old) - clock
    finally:
        writer.stop()
        watch.stop()
    return settle(switch, writer, watch, started)


def by_hotspare(lab: LabLayout, env: dict[str, str], *args: str) -> Command:
    """`hotspare ARGS --json` as a command: its wall time and its steps."""

    def run() -> tuple[float, list[dict[str, Any]]]:
        seconds, answer = hotspare(lab, env, *args)
        return seconds, list(answer.get("steps", []))

    return run


def by_patronictl(lab: LabLayout, old: str, new: str) -> Command:
    """`patronictl switchover --force --leader OLD --candidate NEW` as a command."""

    def run() -> tuple[float, list[dict[str, Any]]]:
        done = failover.patronictl(
            lab, new, "switchover", "--force", "--leader", old, "--candidate", new
        )
        if done.returncode != 0 or f'Successfully switched over to "{new}"' not in done.stdout:
            raise BenchError(f"patronictl exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.seconds, []

    return run


def patroni_pair(lab: LabLayout) -> tuple[str, str]:
    """The Patroni lab's leader and the next member after it, once every replica streams."""
    old = failover.healthy(lab)
    names = lab.db_names
    new = names[(names.index(old) + 1) % len(names)]
    for member in names:
        if member != old:
            wait_for(lambda m=member: streams_now(lab, old, m), f"{member} streams from {old}")
    return old, new


def plan_only(lab: LabLayout, env: dict[str, str], *args: str) -> float:
    """The wall time of `hotspare ARGS --dry-run --json`: start, first look at the boxes, plan."""
    run = timed_run([str(HOTSPARE), "--cluster", str(lab.cluster_file), *args, "--dry-run"], env)
    if run.returncode != 0:
        raise BenchError(f"{' '.join(args)} --dry-run exited {run.returncode}:\n{run.stdout}")
    return run.seconds


def by_hotspare_planned(
    lab: LabLayout, env: dict[str, str], how: str, old: str, new: str, *args: str
) -> Switch:
    """`hotspare ARGS` timed under load, after the same with --dry-run timed alone."""
    planned = plan_only(lab, env, *args, "--json")
    switch = timed_switch(lab, how, old, new, by_hotspare(lab, env, *args))
    switch.parts["plan only"] = planned
    return switch


def direct(labs: dict[str, LabLayout], env: dict[str, str]) -> Switch:
    lab = labs["direct"]
    old = pg.primary(lab)
    new = next(member for member in lab.db_names if member != old)
    ready(lab, old, new)
    args = ("promote", new, "--rejoin", "--yes", "--confirm", new)
    return by_hotspare_planned(lab, env, "direct", old, new, *args)


def through_patroni(labs: dict[str, LabLayout], env: dict[str, str]) -> Switch:
    lab = labs["patroni"]
    old, new = patroni_pair(lab)
    args = ("promote", new, "--confirm", new)
    return by_hotspare_planned(lab, env, "hs+patroni", old, new, *args)


def with_patronictl(labs: dict[str, LabLayout], env: dict[str, str]) -> Switch:
    lab = labs["patroni"]
    old, new = patroni_pair(lab)
    return timed_switch(lab, "patronictl", old, new, by_patronictl(lab, old, new))


CONTENDERS = (direct, through_patroni, with_patronictl)


def one_round(
    labs: dict[str, LabLayout], env: dict[str, str], n: int, done: list[tuple[int, Switch]]
) -> None:
    """The three contenders once each, the order rotated by N."""
    k = n % len(CONTENDERS)
    for contender in CONTENDERS[k:] + CONTENDERS[:k]:
        switch = contender(labs, env)
        done.append((n + 1, switch))
        print(f"{switch.line(n + 1)}  streams {switch.parts['streams again']:5.2f} s", flush=True)


def failovers(lab: LabLayout, count: int, deadline: float) -> list[failover.Failover]:
    """COUNT kills at each timing, default and short alternated; the lab's timing put back."""
    found: list[failover.Failover] = []
    for n in range(count):
        for timing in ("default", "short") if n % 2 == 0 else ("short", "default"):
            if time.monotonic() > deadline:
                print("time budget spent: no more failovers", flush=True)
                return found
            found.append(failover.measure(lab, timing))
            print(found[-1].line(), flush=True)
    failover.set_timing(lab, "short")
    return found


def versions(lab: LabLayout) -> dict[str, str]:
    """What the Patroni lab runs: Patroni, etcd and PostgreSQL, each as its program says."""
    programs = {
        "patroni": [str(patroni.patroni_bin()), "--version"],
        "etcd": [patroni.etcd_bin(), "--version"],
        "postgresql": [f"{find_pg_bin()}/postgres", "--version"],
    }
    said = {name: timed_run(argv).stdout.splitlines()[:1] for name, argv in programs.items()}
    return {name: (lines[0] if lines else "?") for name, lines in said.items()}


def bring_up_both(labs: dict[str, LabLayout], env: dict[str, str]) -> None:
    """Both labs fresh: purged (a leftover of a killed run), then up, db1 the primary of each."""
    for lab in labs.values():
        control.down(lab, quiet, purge=True)
    bring_up(labs["direct"], env)
    started = time.perf_counter()
    control.up(labs["patroni"], quiet)
    leader = failover.healthy(labs["patroni"])
    print(
        f"Patroni lab up on {PATRONI_BLOCK}: {time.perf_counter() - started:.1f} s, {leader} leads"
    )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="switchovers per contender")
    parser.add_argument("--failovers", type=int, default=3, help="kills per timing")
    parser.add_argument("--keep", action="store_true", help="leave both labs running at the end")
    parser.add_argument("--budget", type=float, default=2400.0, help="seconds for the whole bench")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    deadline = hard_stop(args.budget)
    labs = {
        "direct": LabLayout.for_block(DIRECT_BLOCK),
        "patroni": LabLayout.for_block(PATRONI_BLOCK, engine="patroni"),
    }
    facts = {**machine_before(), "versions": versions(labs["patroni"])}
    done: list[tuple[int, Switch]] = []
    killed: list[failover.Failover] = []
    failure: BaseException | None = None
    with audited("bench-patroni-") as env:
        try:
            bring_up_both(labs, env)
            for n in rounds(args.rounds, deadline):
                one_round(labs, env, n, done)
            killed = failovers(labs["patroni"], args.failovers, deadline)
        except (BenchError, subprocess.TimeoutExpired, procs.LabProcessError) as exc:
            failure = exc
            print(f"!!! bench stopped: {exc}", flush=True)
        finally:
            signal.alarm(0)
            facts["after"] = conditions()
            print(f"after: {facts['after']}", flush=True)
            if not args.keep:
                for lab in labs.values():
                    control.down(lab, quiet, purge=True)
    result = report.summary(done, killed, facts)
    report.table(result)
    print(json.dumps(result, indent=2))
    if failure is not None or any(s.lost or s.two_writable for _, s in done):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
