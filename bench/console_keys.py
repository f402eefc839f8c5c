"""Key press to screen update: `?` opens the help, escape or `?` closes it.

The console runs on the lab under a pty (bench/console_pty.py), its monitor
refreshing at the normal 1 s feed, on its main screen with the first picture
drawn and SETTLE seconds gone. Then ROUNDS rounds of: `?`, timed until the
screen shows "Actions on the site"; escape, timed until that text is gone
(the main screen drawn over the help); `?` again; `?` to close, timed the
same way. Each time runs from just before the key is written to the pty to
the read that makes the screen show the change. Between keys, a random pause
of 0.1-0.4 s (seeded), so the keys fall at every phase of the 1 s refresh.

A lone ESC is ambiguous to a terminal program (the start of an escape
sequence, or the key): Textual waits ESCDELAY (100 ms by default) for more
bytes, and checks on its input thread's 0.1 s select timeout, so escape is
reported apart; `?` closes the same screen with no such wait.

Then the same with a log load: a child process (bench/console_logload.py)
appends RATE lines/s to each web node's current access log on the lab boxes
(files under the lab's root: same machine), bounded in time and stopped by
pid when the rounds end. The console does not read logs yet (issue 5), so
this measures only what that load costs it (CPU and disk shared with it).

Run: .venv/bin/python -m bench.console_keys [--rounds 100] [--rate 2000] [--block 127.0.81]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    CLOCK_TICKS,
    ROOT,
    BenchError,
    Series,
    conditions,
    lab_running,
    machine_busy,
)
from bench.console_pty import (
    Console,
    Grid,
    Predicate,
    complete_picture,
    console_argv,
    console_env,
    lab_rows,
)
from bench.steady_state import process_ticks
from console.lab.layout import LabLayout

HELP = "Actions on the site"
WAIT = 10.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ESC = "\x1b"


def help_shown(grid: Grid) -> bool:
    return grid.has(HELP)


def help_gone(grid: Grid) -> bool:
    return not grid.has(HELP)


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (inclusive method: never beyond the largest value)."""
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def line(series: Series) -> str:
    """Median, p99, min, max and n, in milliseconds."""
    t = [v * 1000 for v in series.times]
    return (
        f"{series.name:34} p50 {statistics.median(t):6.1f} ms  p99 {p99(t):6.1f} ms  "
        f"min {min(t):6.1f} ms  max {max(t):6.1f} ms  n={len(t)}"
    )


@dataclass
class Phase:
    """What one condition measured."""

    name: str
    opened: Series = field(default_factory=lambda: Series("? opens the help"))
    closed_esc: Series = field(default_factory=lambda: Series("escape closes it"))
    closed_key: Series = field(default_factory=lambda: Series("? closes it"))
    console_cpu: float = 0.0  # % of one core over the rounds
    rss_kib: tuple[int, int] = (0, 0)  # the console's resident memory before and after
    machine_cores: float = 0.0  # the whole machine's busy cores over the rounds
    load: dict[str, object] | None = None
    written: dict[str, list[int]] = field(default_factory=dict)  # bytes from a key to the next


def rounds(console: Console, phase: Phase, count: int, rng: random.Random) -> None:
    def timed(key: str, done: Predicate, what: str, into: Series) -> None:
        written = console.bytes_read
        pressed = console.press(key)
        shown = console.wait_for(done, WAIT, what)
        into.times.append(shown - pressed)
        console.drain(rng.uniform(0.1, 0.4))
        phase.written.setdefault(into.name, []).append(console.bytes_read - written)

    for _ in range(count):
        timed("?", help_shown, "the help", phase.opened)
        timed(ESC, help_gone, "the main screen after escape", phase.closed_esc)
        timed("?", help_shown, "the help", phase.opened)
        timed("?", help_gone, "the main screen after ?", phase.closed_key)


def resident_kib(pid: int) -> int:
    """VmRSS of PID, in KiB."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


def by_quarter(series: Series) -> str:
    """p50 and p99 of the first and the last quarter of SERIES, in order of the presses."""
    quarter = max(len(series.times) // 4, 2)
    parts = []
    for label, part in (("first", series.times[:quarter]), ("last", series.times[-quarter:])):
        ms = [v * 1000 for v in part]
        parts.append(f"{label} {quarter}: p50 {statistics.median(ms):.1f} p99 {p99(ms):.1f} ms")
    return "; ".join(parts)


def access_logs(lab: LabLayout) -> list[Path]:
    """Each web node's current access log (hot or warm, as its role has it)."""
    found = []
    for node in lab.web_names:
        role = "warm" if node in lab.warm_names else "hot"
        path = Path(lab.access_log_pattern(node).format(role=role, node=node))
        if not path.is_file():
            raise BenchError(f"no access log where {node} should write it: {path}")
        found.append(path)
    return found


def start_load(lab: LabLayout, rate: float, seconds: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench.console_logload", "--rate", str(rate)]
    argv += ["--seconds", str(seconds), *map(str, access_logs(lab))]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def stop_load(proc: subprocess.Popen[str]) -> dict[str, object]:
    """SIGTERM the writer by pid (it reports and exits), KILL it if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    found: dict[str, object] = json.loads(out) if out.strip() else {}
    return found


def measure(
    lab: LabLayout, env: dict[str, str], phase: Phase, args: argparse.Namespace, load: bool
) -> None:
    """Start a console, settle, run the rounds (under the log load if LOAD), quit."""
    console = Console(console_argv(lab.cluster_file), env)
    writer = None
    try:
        console.wait_for(complete_picture(lab_rows(lab)), START_TIMEOUT, "the first picture")
        if load:
            # Bounded: it stops by itself even if this process dies without stopping it.
            writer = start_load(lab, args.rate, args.rounds * 3.0 + args.settle + 60)
        console.drain(args.settle)
        ticks0, busy0, t0 = process_ticks(console.pid), machine_busy()[0], time.monotonic()
        rss0 = resident_kib(console.pid)
        rounds(console, phase, args.rounds, random.Random(args.seed))
        span = time.monotonic() - t0
        phase.rss_kib = (rss0, resident_kib(console.pid))
        phase.console_cpu = 100 * (process_ticks(console.pid) - ticks0) / CLOCK_TICKS / span
        phase.machine_cores = (machine_busy()[0] - busy0) / CLOCK_TICKS / span
        if writer is not None:
            phase.load = stop_load(writer)
            writer = None
        console.quit()
    finally:
        if writer is not None:
            stop_load(writer)
        console.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2000.0, help="log lines/s per web node")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--block", default="127.0.81")
    parser.add_argument("--no-load", action="store_true", help="skip the run under log load")
    args = parser.parse_args()
    phases = [Phase("lab steady")]
    if not args.no_load:
        phases.append(Phase(f"lab steady, logs +{args.rate:g} lines/s per web node"))
    with (
        lab_running(args.block) as lab,
        tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp,
    ):
        env = console_env(Path(tmp) / "pycache")
        print(f"before: {conditions(lab)}")
        for phase in phases:
            measure(lab, env, phase, args, load=phase is not phases[0])
            print(f"done: {phase.name} ({conditions(lab)})")
    for phase in phases:
        print(f"{phase.name}:")
        for series in (phase.opened, phase.closed_esc, phase.closed_key):
            print("  " + line(series))
            print(f"    {by_quarter(series)}")
            sent = statistics.median(phase.written[series.name]) / 1024
            print(f"    written to the terminal from this key to the next: median {sent:.1f} KiB")
        before, after = (kib / 1024 for kib in phase.rss_kib)
        print(f"  console resident memory: {before:.0f} MiB before the rounds, {after:.0f} after")
        print(
            f"  console CPU over the rounds: {phase.console_cpu:.1f} % of one core; "
            f"whole machine: {phase.machine_cores:.2f} cores busy"
        )
        if phase.load is not None:
            print(f"  log load: {json.dumps(phase.load)}")


if __name__ == "__main__":
    main()
