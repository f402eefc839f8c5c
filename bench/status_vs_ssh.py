"""Time to a complete status: `hotspare status` against a parallel ssh loop and Ansible.

All contenders run in the same lab, interleaved round by round (the order
turns each round), each as a fresh process (tree) doing the same reads; see
bench/contenders.py. One warm-up run of each is not counted. Then, in the same lab, where the time
of a `hotspare status` goes: interpreter start, imports, the first refresh of
every box on new connections, and closing them.

Run: .venv/bin/python -m bench.status_vs_ssh [--runs 10] [--block 127.0.80] [--web-nodes 3]
Prints medians, min, max and ratios; the figures and method go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import contenders
from bench.common import (
    BenchError,
    Run,
    Series,
    check_status,
    conditions,
    hotspare_env,
    lab_running,
    ratio,
    status_argv,
)
from bench.common import timed as timed_run
from console import inventory
from console.lab.layout import LabLayout
from console.monitor import Monitor

HOTSPARE = "hotspare status"
HOTSPARE_NO_PYC = "hotspare status, no bytecode"
SSH_LOOP = "parallel ssh loop"
ANSIBLE = "ansible ad-hoc"
ANSIBLE_PIPELINING = "ansible ad-hoc, pipelining"


def build(
    lab: LabLayout, workdir: Path, ansible: bool, no_pyc: bool = False
) -> dict[str, Callable[[], Run]]:
    """Each contender's name and a function that runs it once, checked.

    With NO_PYC, hotspare is also run as this machine's environment has it,
    compiling console/ at every start (see common.hotspare_env).
    """
    inv = inventory.load(lab.cluster_file)

    def hotspare(env: dict[str, str]) -> Callable[[], Run]:
        def run_once() -> Run:
            run = timed_run(status_argv(lab.cluster_file), env)
            check_status(run, lab.boxes)
            return run

        return run_once

    loop = contenders.write_ssh_loop(lab, inv, workdir / "ssh")
    runners: dict[str, Callable[[], Run]] = {
        HOTSPARE: hotspare(hotspare_env(workdir / "pycache")),
        SSH_LOOP: lambda: contenders.run_ssh_loop(loop, inv),
    }
    if no_pyc and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        runners[HOTSPARE_NO_PYC] = hotspare(hotspare_env(None))
    if ansible:
        (workdir / "ansible").mkdir()
        (workdir / "ansible-pipelining").mkdir()
        plain = contenders.Ansible(lab, inv, workdir / "ansible", pipelining=False)
        piped = contenders.Ansible(lab, inv, workdir / "ansible-pipelining", pipelining=True)
        runners[ANSIBLE] = plain.run
        runners[ANSIBLE_PIPELINING] = piped.run
    return runners


def measure(runners: dict[str, Callable[[], Run]], runs: int) -> dict[str, Series]:
    """RUNS rounds of every contender, after one uncounted warm-up each."""
    for run in runners.values():
        run()
    series = {name: Series(name) for name in runners}
    names = list(runners)
    for round_no in range(runs):
        turn = round_no % len(names)
        for name in names[turn:] + names[:turn]:
            series[name].times.append(runners[name]().seconds)
    return series


def breakdown(lab: LabLayout, pycache: Path, runs: int) -> list[Series]:
    """Where a `hotspare status` run's time goes: interpreter, imports, SSH work, close."""
    env = hotspare_env(pycache)
    py = sys.executable
    parts = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import console.cli'": [py, "-c", "import console.cli"],
        "python -c 'import asyncssh, psycopg'": [py, "-c", "import asyncssh, psycopg"],
    }
    found = [Series(name) for name in parts]
    for _ in range(runs):
        for one, argv in zip(found, parts.values(), strict=True):
            one.times.append(timed_run(argv, env).seconds)
    refresh, close = Series("in process: first refresh_all"), Series("in process: close")
    for _ in range(runs):
        first, closing = asyncio.run(_first_refresh(lab))
        refresh.times.append(first)
        close.times.append(closing)
    return [*found, refresh, close]


async def _first_refresh(lab: LabLayout) -> tuple[float, float]:
    """Seconds of a new Monitor's first refresh_all (every box fresh), and of its close."""
    monitor = Monitor(inventory.load(lab.cluster_file))
    started = time.perf_counter()
    try:
        await monitor.refresh_all()
        refreshed = time.perf_counter()
        stale = [b.box for b in monitor.snapshot().boxes if b.stale]
        if stale:
            raise BenchError(f"not fresh after the first refresh: {stale}")
    finally:
        await monitor.close()
    return refreshed - started, time.perf_counter() - refreshed


def report(series: dict[str, Series]) -> None:
    for one in series.values():
        print(one.line())
    ours = series[HOTSPARE]
    for name in (HOTSPARE_NO_PYC, SSH_LOOP, ANSIBLE, ANSIBLE_PIPELINING):
        if name in series:
            print(ratio(series[name], ours))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--block", default="127.0.80")
    parser.add_argument("--web-nodes", type=int, default=3)
    parser.add_argument("--no-ansible", action="store_true", help="skip the Ansible contenders")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the time breakdown")
    args = parser.parse_args()
    if not args.no_ansible:
        contenders.ensure_ansible()
    with (
        lab_running(args.block, args.web_nodes) as lab,
        tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp,
    ):
        print(f"before: {conditions(lab)}")
        runners = build(lab, Path(tmp), ansible=not args.no_ansible, no_pyc=True)
        series = measure(runners, args.runs)
        parts = [] if args.no_breakdown else breakdown(lab, Path(tmp) / "pycache", args.runs)
        print(f"after:  {conditions(lab)}")
    report(series)
    if parts:
        print("where hotspare status spends its time (same lab, after the rounds):")
        for one in parts:
            print("  " + one.line("ms", 1000, 0))


if __name__ == "__main__":
    main()
