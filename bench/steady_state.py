"""Steady state: one refresh of every box on open connections, and the CPU of --watch.

1. In this process: a Monitor after its first refresh_all, then CYCLES timed
   refresh_all calls back to back (every box checked fresh after each), with
   the process CPU they used.
2. `hotspare status --watch --interval 1`, stdout to /dev/null, for WATCH
   seconds: the CPU of that process (utime+stime from /proc/PID/stat) as a
   percentage of one core, per window of WINDOW seconds, first window
   (start-up) apart. Also the whole machine's busy time (/proc/stat) over the
   same span against an equal span without hotspare, since the probes also
   cost CPU on the boxes (here: the same machine).

Run: .venv/bin/python -m bench.steady_state [--cycles 50] [--watch 30] [--block 127.0.81]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    CLOCK_TICKS,
    BenchError,
    Series,
    check_status,
    conditions,
    hotspare_env,
    lab_running,
    machine_busy,
    machine_cores_used,
    status_argv,
    timed,
)
from console import inventory
from console.lab.layout import LabLayout
from console.monitor import Monitor

STOP_TIMEOUT = 10.0


def _check_fresh(monitor: Monitor) -> None:
    stale = [b.box for b in monitor.snapshot().boxes if b.stale]
    if stale:
        raise BenchError(f"not fresh after a refresh: {', '.join(stale)}")


async def refresh_cycles(lab: LabLayout, cycles: int) -> tuple[Series, float]:
    """Times of CYCLES refresh_all calls on open connections, and CPU s per cycle."""
    monitor = Monitor(inventory.load(lab.cluster_file))
    try:
        await monitor.refresh_all()
        _check_fresh(monitor)
        series = Series("refresh_all, connections open")
        cpu_start = time.process_time()
        for _ in range(cycles):
            started = time.perf_counter()
            await monitor.refresh_all()
            series.times.append(time.perf_counter() - started)
            _check_fresh(monitor)
        cpu = (time.process_time() - cpu_start) / cycles
    finally:
        await monitor.close()
    return series, cpu


def process_ticks(pid: int) -> int:
    """utime + stime of PID, in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


@dataclass(frozen=True)
class WatchCpu:
    """What `status --watch` cost: % of one core per window, and overall."""

    windows: Series  # the steady windows, after the first
    first: float  # the first window: start-up and first connections
    steady: float  # over all the steady windows together
    machine_cores: float  # the whole machine's busy cores over the steady windows


def watch_cpu(lab: LabLayout, seconds: float, window: float, pycache: Path) -> WatchCpu:
    """CPU % of one core used by `status --watch` per WINDOW, the first window apart."""
    argv = status_argv(lab.cluster_file, "--watch", "--interval", "1")
    log = lab.root / "bench-watch.err"
    with log.open("w") as err:
        env = hotspare_env(pycache)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        samples = [(time.monotonic(), 0)]
        busy0 = None
        while samples[-1][0] - samples[0][0] < seconds + window - 0.01:
            time.sleep(window)
            if proc.poll() is not None:
                raise BenchError(f"hotspare status --watch exited {proc.returncode}")
            samples.append((time.monotonic(), process_ticks(proc.pid)))
            if busy0 is None:
                busy0 = machine_busy()[0]
        busy1 = machine_busy()[0]
    finally:
        _stop(proc)
    pcts = [
        100 * (t1 - t0) / CLOCK_TICKS / (w1 - w0)
        for (w0, t0), (w1, t1) in itertools.pairwise(samples)
    ]
    span = samples[-1][0] - samples[1][0]
    steady = 100 * (samples[-1][1] - samples[1][1]) / CLOCK_TICKS / span
    machine = (busy1 - (busy0 or busy1)) / CLOCK_TICKS / span
    windows = Series(f"--watch CPU, {window:g} s windows", pcts[1:])
    return WatchCpu(windows, pcts[0], steady, machine)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """^C the watch (as an operator would), then TERM and KILL it if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_TIMEOUT)
        return
    except subprocess.TimeoutExpired:
        proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--watch", type=float, default=30.0, help="seconds of --watch to measure")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--block", default="127.0.81")
    parser.add_argument("--web-nodes", type=int, default=3)
    args = parser.parse_args()
    with lab_running(args.block, args.web_nodes) as lab:
        print(f"before: {conditions(lab)}")
        cycles, cpu = asyncio.run(refresh_cycles(lab, args.cycles))
        idle = machine_cores_used(args.watch)
        with tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp:
            pycache = Path(tmp) / "pycache"
            # One plain status first fills the bytecode cache, as an installed program has it.
            check_status(timed(status_argv(lab.cluster_file), hotspare_env(pycache)), lab.boxes)
            watch = watch_cpu(lab, args.watch, args.window, pycache)
        print(f"after:  {conditions(lab)}")
    print(cycles.line("ms", 1000, 1))
    print(f"  CPU of this process per cycle: {cpu * 1000:.1f} ms")
    print(watch.windows.line("%", 1, 2))
    print(f"  steady, all windows together: {watch.steady:.2f} % of one core")
    print(f"  first {args.window:g} s window (start-up, first connections): {watch.first:.2f} %")
    print(
        f"  whole machine, cores busy: {idle:.3f} without hotspare ({args.watch:g} s), "
        f"{watch.machine_cores:.3f} during the steady windows of --watch"
    )


if __name__ == "__main__":
    main()
