"""The shared monitor against the commands' own connections, in one run on one lab.

Part 1, status: `hotspare status` answered by a warm monitor, `hotspare
status` on its own connections (HOTSPARE_MONITOR=own, as before the
monitor), and the parallel ssh loop (bench/contenders.py), alternated
round by round (the order turns), each a fresh process, every output
checked; once with the machine otherwise idle and once with it busy (one
CPU-bound process per core for the phase, stopped by pid after it).

Part 2, the boxes' load: the CPU time every process of the lab's boxes
uses (each recorded lab process and its descendants, reaped children
included: sshd and every command it runs, PostgreSQL and its backends,
HAProxy, the sites) over a window, with 1 and 5 real consoles (in ptys)
on the shared monitor (started for the scenario; its own load is in the
figure), and 1 and 5 consoles on their own connections.
The scenarios alternate; each starts its consoles, waits for their first
complete picture and a settling time, then measures.

Run: .venv/bin/python -m bench.monitor [--runs 15] [--block 127.0.78] [--window 30]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import contenders
from bench.common import (
    CLOCK_TICKS,
    HOTSPARE,
    BenchError,
    Run,
    Series,
    check_status,
    conditions,
    hard_stop,
    lab_running,
    ratio,
    rounds,
    status_argv,
)
from bench.common import timed as timed_run
from bench.console_pty import Console, complete_picture, console_argv, console_env, lab_rows
from console import inventory
from console.lab import procs
from console.lab.layout import LabLayout

WARM = "status, warm shared monitor"
OWN = "status, own connections"
SSH_LOOP = "parallel ssh loop"
SETTLE = 6.0  # seconds after the consoles' first picture before the window opens


@contextmanager
def shared_monitor(lab: LabLayout, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`hotspare monitor` of LAB for the bench, stopped by pid on the way out."""
    process = subprocess.Popen(
        [str(HOTSPARE), "--cluster", str(lab.cluster_file), "monitor"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        argv = [str(HOTSPARE), "--cluster", str(lab.cluster_file), "monitor", "status"]
        while subprocess.run(argv, env=env, capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the shared monitor did not start")
            time.sleep(0.2)
        time.sleep(3)  # warm: a few refreshes behind it
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def busy_machine() -> Iterator[None]:
    """One CPU-bound process per core while the block runs; stopped by pid after."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(1)
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def status_phase(
    lab: LabLayout, env: dict[str, str], workdir: Path, runs: int, deadline: float
) -> dict[str, Series]:
    inv = inventory.load(lab.cluster_file)
    loop = contenders.write_ssh_loop(lab, inv, workdir / f"ssh-{time.monotonic_ns()}")
    own_env = {**env, "HOTSPARE_MONITOR": "own"}

    def hotspare(use: dict[str, str]) -> Callable[[], Run]:
        def once() -> Run:
            run = timed_run(status_argv(lab.cluster_file), use)
            check_status(run, lab.boxes)
            if run.stderr:
                raise BenchError(f"hotspare status said: {run.stderr}")
            return run

        return once

    runners: dict[str, Callable[[], Run]] = {
        WARM: hotspare(env),
        OWN: hotspare(own_env),
        SSH_LOOP: lambda: contenders.run_ssh_loop(loop, inv),
    }
    for run in runners.values():
        run()  # warm-up, not counted
    series = {name: Series(name) for name in runners}
    names = list(runners)
    for n in rounds(runs, deadline):
        turn = n % len(names)
        for name in names[turn:] + names[:turn]:
            series[name].times.append(runners[name]().seconds)
    return series


def report_status(title: str, series: dict[str, Series]) -> None:
    print(title)
    for one in series.values():
        print("  " + one.line("ms", 1000, 0))
    print("  " + ratio(series[SSH_LOOP], series[WARM]))
    print("  " + ratio(series[SSH_LOOP], series[OWN]))
    print("  " + ratio(series[OWN], series[WARM]))


def _ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of PID, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(v) for v in fields[11:15])


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.setdefault(parent, []).append(int(entry.name))
    return found


def boxes_ticks(lab: LabLayout) -> int:
    """CPU ticks so far of every lab process and its descendants (reaped ones included)."""
    tree = _children()
    total = 0
    todo = [proc.pid for proc in procs.recorded(lab.pid_dir).values()]
    while todo:
        pid = todo.pop()
        total += _ticks(pid)
        todo.extend(tree.get(pid, ()))
    return total


def logins(lab: LabLayout) -> int:
    """SSH logins the lab's sshd processes have accepted so far, all boxes."""
    return sum(
        (lab.box_dir(box) / "log" / "sshd.log").read_text(errors="replace").count("Accepted ")
        for box in lab.boxes
    )


def load_scenario(lab: LabLayout, env: dict[str, str], consoles: int, window: float) -> float:
    """Cores' worth of CPU the boxes use over WINDOW s with CONSOLES consoles open."""
    logged = logins(lab)
    opened = [Console(console_argv(lab.cluster_file), env, size=(100, 32)) for _ in range(consoles)]
    try:
        for console in opened:
            console.wait_for(complete_picture(lab_rows(lab)), 60, "the first snapshot")
        _drain_all(opened, SETTLE)
        before, started = boxes_ticks(lab), time.monotonic()
        _drain_all(opened, window)
        used = (boxes_ticks(lab) - before) / CLOCK_TICKS
        new = logins(lab) - logged
        print(f"    {new} new SSH logins from the consoles' start", flush=True)
        return used / (time.monotonic() - started)
    finally:
        for console in opened:
            console.close()


def _drain_all(consoles: list[Console], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for console in consoles:
            console.pump(min(0.05, left))


def load_phase(
    lab: LabLayout, env: dict[str, str], runs: int, window: float, deadline: float
) -> dict[str, Series]:
    own = {**env, "HOTSPARE_MONITOR": "own"}
    scenarios = {
        "1 console, shared monitor": (env, 1),
        "5 consoles, shared monitor": (env, 5),
        "1 console, own connections": (own, 1),
        "5 consoles, own connections": (own, 5),
    }
    series = {name: Series(name) for name in scenarios}
    names = list(scenarios)
    for n in rounds(runs, deadline):
        turn = n % len(names)
        for name in names[turn:] + names[:turn]:
            use, count = scenarios[name]
            if "HOTSPARE_MONITOR" in use:
                used = load_scenario(lab, use, count, window)
            else:
                with shared_monitor(lab, use):  # its own load is in the figure
                    used = load_scenario(lab, use, count, window)
            series[name].times.append(used)
            print(f"  {name}: {series[name].times[-1]:.4f} cores", flush=True)
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="status rounds per phase")
    parser.add_argument("--load-runs", type=int, default=3, help="rounds of the load scenarios")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--block", default="127.0.78")
    parser.add_argument("--budget", type=float, default=1500.0, help="seconds, at most")
    args = parser.parse_args()
    deadline = hard_stop(args.budget)
    with (
        tempfile.TemporaryDirectory(prefix="hs-bench-", dir="/tmp") as tmp,
        lab_running(args.block) as lab,
    ):
        work = Path(tmp)
        env = {**console_env(work / "pycache"), "XDG_RUNTIME_DIR": str(work)}
        env.pop("HOTSPARE_MONITOR", None)
        print(f"before: {conditions(lab)}", flush=True)
        with shared_monitor(lab, env):
            idle = status_phase(lab, env, work, args.runs, deadline)
            with busy_machine():
                busy = status_phase(lab, env, work, args.runs, deadline)
            print(f"after the status phases: {conditions(lab)}", flush=True)
        load = load_phase(lab, env, args.load_runs, args.window, deadline)
        print(f"after: {conditions(lab)}")
    signal.alarm(0)
    report_status("status, machine otherwise idle:", idle)
    report_status(f"status, machine busy ({os.cpu_count()} CPU-bound processes):", busy)
    print("the boxes' CPU (cores' worth over the window):")
    for one in load.values():
        print("  " + one.line("cores", 1, 4))
    shared1, shared5 = load["1 console, shared monitor"], load["5 consoles, shared monitor"]
    own1, own5 = load["1 console, own connections"], load["5 consoles, own connections"]
    print(f"  5 / 1 on the shared monitor = {shared5.median / shared1.median:.2f}")
    print(f"  5 / 1 on own connections = {own5.median / own1.median:.2f}")


if __name__ == "__main__":
    main()
