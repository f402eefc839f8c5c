"""The logs screen under a log load: key press to screen, memory and CPU.

The console runs on the lab under a pty (bench/console_pty.py, 160x45 by
default), reaches its first complete picture, and `l` opens the logs screen:
a column per web node, following their access logs live over SSH (tail -F).
Once its status line shows, a child process (bench/console_logload.py)
appends RATE Apache "combined" lines/s in total, spread evenly over the three
web nodes' current access logs (files under the lab's root: same machine),
bounded in time and stopped by pid when the rounds end. The bench waits for
the writer's lines on the screen, then SETTLE seconds (the views fill their
bounded buffers in ~7 s at 5,000 lines/s).

Then for SECONDS, rounds of five keys, each timed from just before the key is
written to the pty to the read that makes the screen show the change, with a
seeded random pause of 0.1-0.4 s between keys: `m` (the status line turns to
"merged · access" and the merged view's title shows), `m` (back to "side by
side · access", the columns' titles show), then `a` three times, cycling what
the views show: error (the columns' titles name the error logs), access +
error, access again. Under the load a change counts as shown only once the
views are at their newest lines too (the newest access line on the screen at
most FRESH s old): a view can be drawn once away from its end before it
scrolls there, and such presses are counted. Every read of the pty is also
checked for "lines dropped" (the notice a view shows when a ring overflowed).

Measured too: the console's resident memory (VmRSS) every SAMPLE seconds,
and at each sample how far behind the screen is (now against the newest
access line's stamp shown, in whole seconds); its CPU (utime+stime) and the
whole machine's over the rounds, the bytes it wrote to the terminal per
second, and the lines the writer wrote. Unless --no-baseline, a fresh
console first runs the same rounds for BASELINE seconds with no log load,
for comparison within the same run.

Run: .venv/bin/python -m bench.logs_keys [--seconds 300] [--rate 5000]
    [--baseline 30] [--no-baseline] [--block 127.0.82] [--size 160x45]
    [--cprofile FILE] (the console under cProfile, its stats to FILE)
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    CLOCK_TICKS,
    HOTSPARE,
    BenchError,
    Series,
    conditions,
    lab_running,
    machine_busy,
)
from bench.console_keys import by_quarter, line, resident_kib, start_load, stop_load
from bench.console_pty import (
    Console,
    Grid,
    Predicate,
    complete_picture,
    console_argv,
    console_env,
    first_frame,
    lab_rows,
)
from bench.console_start import size_of
from bench.steady_state import process_ticks
from console.lab.layout import LabLayout

WAIT = 10.0
START_TIMEOUT = 30.0
DROPPED = "lines dropped"
WRITER_LINE = "?n="  # in every line the writer appends (the request's query)
# A brief access line: its time stamp as written (the writer stamps in UTC), then the status.
SHOWN_STAMP = re.compile(r"(?<![\d:])(\d\d):(\d\d):(\d\d) \d{3} ")
DAY = 86400
FRESH = 3  # s: under load, a view at its end shows lines this new (stamps are whole seconds)
SIDE, MERGED = "side by side", "merged"
# (key, the status line's start once the change is shown, a word in the title row, name)
ROUND = (
    ("m", f"{MERGED} · access · ", "merged", "m: side by side to merged"),
    ("m", f"{SIDE} · access · ", "access.hot.web1.log", "m: merged to side by side"),
    ("a", f"{SIDE} · error · ", "error.web1.log", "a: access to error"),
    ("a", f"{SIDE} · access + error · ", "web1 · hot", "a: to access + error"),
    ("a", f"{SIDE} · access · ", "access.hot.web1.log", "a: back to access"),
)


@dataclass
class Change:
    """What the screen shows once a key's change is drawn.

    The status line (top row) starts with STATUS and the views' title row has TITLE;
    with FRESH, the newest access line shown (if any) is also at most FRESH s old: a
    view can be drawn once away from its end (at its oldest lines) before it scrolls
    there, and such a picture sets `stale`.
    """

    status: str
    title: str
    fresh: int | None = None
    stale: bool = False

    def shown(self, grid: Grid) -> bool:
        if not "".join(grid.rows[0]).strip().startswith(self.status):
            return False
        if self.title not in "".join(grid.rows[1]):
            return False
        lag = newest_lag(grid) if self.fresh is not None else None
        if lag is None or self.fresh is None or lag <= self.fresh:
            return True
        self.stale = True
        return False


@dataclass
class Phase:
    """What one condition measured."""

    name: str
    rate: float  # lines/s in total, 0 for none
    keys: dict[str, Series] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)  # presses first drawn with stale lines
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the rounds, KiB)
    rss_opened: int = 0  # KiB, logs screen just shown, before the load
    lag: list[int] = field(default_factory=list)  # s from the newest stamp shown to now, per sample
    console_cpu: float = 0.0  # % of one core over the rounds
    machine_cores: float = 0.0
    terminal_rate: float = 0.0  # bytes/s the console wrote over the rounds
    bench_cpu: float = 0.0  # % of one core this process used reading and modelling the screen
    span: float = 0.0
    dropped_reads: int = 0  # reads after which the screen showed DROPPED
    load: dict[str, object] | None = None

    def __post_init__(self) -> None:
        self.keys = {name: Series(name) for *_, name in ROUND}


class Watch:
    """Reads the console, and after every read samples what the rounds report."""

    def __init__(self, console: Console, phase: Phase, sample: float) -> None:
        self.console = console
        self.phase = phase
        self.sample = sample
        self.t0 = time.perf_counter()
        self.next_sample = float("inf")

    def start_sampling(self) -> None:
        self.t0 = time.perf_counter()
        self.next_sample = self.t0
        self.observe(self.console.grid)

    def observe(self, grid: Grid) -> None:
        if DROPPED in grid.text():
            self.phase.dropped_reads += 1
        now = time.perf_counter()
        if now >= self.next_sample:
            self.phase.rss.append((now - self.t0, resident_kib(self.console.pid)))
            self.next_sample += self.sample
            lag = newest_lag(grid) if self.phase.rate else None
            if lag is not None:
                self.phase.lag.append(lag)

    def wait_for(self, predicate: Predicate, timeout: float, what: str) -> float:
        def done(grid: Grid) -> bool:
            self.observe(grid)
            return predicate(grid)

        return self.console.wait_for(done, timeout, what)

    def drain(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            if not self.console.pump(left):
                raise BenchError(f"the console ended:\n{self.console}")
            self.observe(self.console.grid)


def newest_lag(grid: Grid) -> int | None:
    """Whole seconds from the newest access line's stamp on the screen to now (UTC), if any."""
    stamps = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in SHOWN_STAMP.findall(grid.text())]
    if not stamps:
        return None
    now = int(time.time()) % DAY
    return min((now - stamp) % DAY for stamp in stamps)


def rounds(watch: Watch, seconds: float, rng: random.Random) -> None:
    """Rounds of the five keys until SECONDS have gone (the last round is finished)."""
    console, phase = watch.console, watch.phase
    fresh = FRESH if phase.rate else None  # with no load, the newest line may be old
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for key, status, title, name in ROUND:
            change = Change(status, title, fresh)
            pressed = console.press(key)
            shown = watch.wait_for(change.shown, WAIT, f"{name} ({status!r}, {title!r})")
            phase.keys[name].times.append(shown - pressed)
            phase.stale[name] = phase.stale.get(name, 0) + change.stale
            watch.drain(rng.uniform(0.1, 0.4))


def console_command(lab: LabLayout, profile: Path | None) -> list[str]:
    argv = console_argv(lab.cluster_file)
    if profile is None:
        return argv
    return [sys.executable, "-m", "cProfile", "-o", str(profile), str(HOTSPARE), *argv[1:]]


def open_logs(console: Console, lab: LabLayout) -> None:
    console.wait_for(complete_picture(lab_rows(lab)), START_TIMEOUT, "the first picture")
    console.press("l")
    opened = Change(f"{SIDE} · access · brief · FOLLOWING", "web1")
    console.wait_for(opened.shown, WAIT, "the logs screen")


def measure(
    lab: LabLayout, env: dict[str, str], phase: Phase, seconds: float, args: argparse.Namespace
) -> None:
    """A fresh console on the logs screen, the load (if any), settle, the rounds, quit."""
    console = Console(console_command(lab, args.cprofile), env, size_of(args.size))
    writer: subprocess.Popen[str] | None = None
    watch = Watch(console, phase, args.sample)
    try:
        open_logs(console, lab)
        phase.rss_opened = resident_kib(console.pid)
        if phase.rate:
            per_file = phase.rate / len(lab.web_names)
            # Bounded: it stops by itself even if this process dies without stopping it.
            writer = start_load(lab, per_file, args.settle + seconds + 60)
            watch.wait_for(lambda grid: grid.has(WRITER_LINE), WAIT, "the writer's lines")
        watch.drain(args.settle)
        watch.start_sampling()
        ticks0, busy0, bytes0 = process_ticks(console.pid), machine_busy()[0], console.bytes_read
        own0 = time.process_time()
        rounds(watch, seconds, random.Random(args.seed))
        phase.span = time.perf_counter() - watch.t0
        phase.rss.append((phase.span, resident_kib(console.pid)))
        phase.console_cpu = 100 * (process_ticks(console.pid) - ticks0) / CLOCK_TICKS / phase.span
        phase.machine_cores = (machine_busy()[0] - busy0) / CLOCK_TICKS / phase.span
        phase.terminal_rate = (console.bytes_read - bytes0) / phase.span
        phase.bench_cpu = 100 * (time.process_time() - own0) / phase.span
        if writer is not None:
            phase.load = stop_load(writer)
            writer = None
        console.press("q")  # closes the logs screen; the next q quits
        console.wait_for(first_frame, WAIT, "the main screen")
        console.quit()
    finally:
        if writer is not None:
            stop_load(writer)
        console.close()


def memory(phase: Phase) -> list[str]:
    """Resident memory: at the logs screen, after the settle, at the end, max, growth, slope."""
    mib = [(t, kib / 1024) for t, kib in phase.rss]
    settled, end = mib[0][1], mib[-1][1]
    peak = max(v for _, v in mib)
    slope = statistics.linear_regression([t for t, _ in mib], [v for _, v in mib]).slope
    return [
        f"console resident memory: {phase.rss_opened / 1024:.1f} MiB on opening the logs, "
        f"{settled:.1f} after the settle, {end:.1f} at the end, max {peak:.1f}",
        f"growth over the rounds: {end - settled:+.1f} MiB (max - settled {peak - settled:+.1f}); "
        f"trend {slope * 60:+.2f} MiB/min over {len(mib)} samples",
        "samples (s: MiB): " + ", ".join(f"{t:.0f}: {v:.1f}" for t, v in mib),
    ]


def report(phase: Phase) -> None:
    print(f"{phase.name} ({phase.span:.1f} s of rounds):")
    for series in phase.keys.values():
        print("  " + line(series))
        stale = phase.stale.get(series.name, 0)
        print(f"    {by_quarter(series)}; first drawn with stale lines: {stale}")
    everything = Series("all keys", [t for s in phase.keys.values() for t in s.times])
    print("  " + line(everything))
    for text in memory(phase):
        print("  " + text)
    print(
        f"  console CPU over the rounds: {phase.console_cpu:.1f} % of one core; "
        f"whole machine: {phase.machine_cores:.2f} cores busy; "
        f"to the terminal: {phase.terminal_rate / 1024:.0f} KiB/s; "
        f"the bench reading it: {phase.bench_cpu:.1f} % of a core"
    )
    print(f"  '{DROPPED}' on the screen: after {phase.dropped_reads} reads of the pty")
    if phase.lag:
        print(
            f"  newest line shown vs now (1 s stamps, at each sample): median "
            f"{statistics.median(phase.lag):g} s, max {max(phase.lag)} s, n={len(phase.lag)}; "
            + ", ".join(f"{s} s: {n}" for s, n in sorted(Counter(phase.lag).items()))
        )
    if phase.load is not None:
        lines = phase.load.get("lines", [])
        ran = phase.load.get("seconds", 0)
        total = sum(lines) if isinstance(lines, list) else 0
        print(f"  writer: {total:,} lines in {ran} s ({lines} per file); {phase.load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="rounds under the load")
    parser.add_argument("--rate", type=float, default=5000.0, help="log lines/s in total")
    parser.add_argument("--baseline", type=float, default=30.0, help="rounds with no load")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--block", default="127.0.82")
    parser.add_argument("--size", default="160x45", help="COLUMNSxLINES of the pty")
    parser.add_argument("--cprofile", type=Path, help="run the console under cProfile to FILE")
    args = parser.parse_args()
    phases: list[tuple[Phase, float]] = []
    if not args.no_baseline:
        phases.append((Phase("no log load", 0.0), args.baseline))
    phases.append((Phase(f"logs +{args.rate:g} lines/s in total", args.rate), args.seconds))
    with (
        lab_running(args.block) as lab,
        tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp,
    ):
        env = console_env(Path(tmp) / "pycache")
        print(f"before: {conditions(lab)}")
        for phase, seconds in phases:
            measure(lab, env, phase, seconds, args)
            print(f"done: {phase.name} ({conditions(lab)})", flush=True)
    print(f"console on a {args.size} pty, logs screen; keys timed from write to screen:")
    for phase, _ in phases:
        report(phase)


if __name__ == "__main__":
    main()
