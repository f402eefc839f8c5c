"""Idle: what the console costs while the site is steady and nobody types.

The console runs on the lab under a pty (bench/console_pty.py) on its main
screen: first picture drawn, then SETTLE seconds. Over the next SECONDS, in
windows of WINDOW seconds: the console process's CPU (utime+stime from
/proc/PID/stat) as % of one core, and the bytes it wrote to the terminal per
second. Also: its write bursts per second (reads of the pty more than 10 ms
apart: about one per frame), the characters that actually changed on the
screen per second, and per screen row the bytes written and the characters
changed, to show what is redrawn. Once as an operator, once with --observe.

Run: .venv/bin/python -m bench.console_idle [--seconds 30] [--block 127.0.81]
Before and after side by side, alternated on one lab:
     ... --tree before=/tmp/before-tree --tree after=. --repeat 5 --no-observer
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import CLOCK_TICKS, Series, conditions, lab_running
from bench.console_pty import Console, complete_picture, console_argv, console_env, lab_rows
from bench.steady_state import process_ticks
from console.lab.layout import LabLayout

START_TIMEOUT = 30.0
BURST_GAP = 0.010


@dataclass
class Idle:
    """What one idle console cost."""

    name: str
    tree: str = ""  # a source tree put first on the console's PYTHONPATH, or none
    cpu: Series = field(default_factory=lambda: Series("CPU, % of one core"))
    rate: Series = field(default_factory=lambda: Series("bytes written per second"))
    cpu_all: float = 0.0
    rate_all: float = 0.0
    bursts: float = 0.0  # per second
    changed: float = 0.0  # screen characters changed per second
    rows: list[tuple[int, float, float, str]] = field(default_factory=list)
    screen: str = ""


def _cells(console: Console) -> list[list[str]]:
    return [list(row) for row in console.grid.rows]


def watch(console: Console, idle: Idle, seconds: float, window: float) -> None:
    """Read everything the console writes for SECONDS, sampling per WINDOW."""
    grid = console.grid
    grid.count_rows()
    changed = [0] * grid.lines
    before = _cells(console)
    first_read = len(console.reads)
    t0 = time.perf_counter()
    samples = [(t0, process_ticks(console.pid), console.bytes_read)]
    while (now := time.perf_counter()) - t0 < seconds - 1e-3:
        end = t0 + window * len(samples)
        if now >= end:
            samples.append((now, process_ticks(console.pid), console.bytes_read))
            continue
        console.pump(end - now)
        after = _cells(console)
        for y, (old, new) in enumerate(zip(before, after, strict=True)):
            changed[y] += sum(a != b for a, b in zip(old, new, strict=True))
        before = after
    samples.append((time.perf_counter(), process_ticks(console.pid), console.bytes_read))
    span = samples[-1][0] - t0
    for (w0, c0, b0), (w1, c1, b1) in itertools.pairwise(samples):
        idle.cpu.times.append(100 * (c1 - c0) / CLOCK_TICKS / (w1 - w0))
        idle.rate.times.append((b1 - b0) / (w1 - w0))
    idle.cpu_all = 100 * (samples[-1][1] - samples[0][1]) / CLOCK_TICKS / span
    idle.rate_all = (samples[-1][2] - samples[0][2]) / span
    reads = console.reads[first_read:]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(reads)]
    idle.bursts = (1 + sum(g > BURST_GAP for g in gaps)) / span if reads else 0.0
    idle.changed = sum(changed) / span
    text = console.grid.text().splitlines()
    row_bytes = grid.row_bytes or [0] * grid.lines
    idle.rows = [
        (y + 1, row_bytes[y] / span, changed[y] / span, text[y] if y < len(text) else "")
        for y in range(grid.lines)
        if row_bytes[y] or changed[y]
    ]
    idle.screen = console.grid.text()


def measure(lab: LabLayout, env: dict[str, str], idle: Idle, args: argparse.Namespace) -> None:
    extra = ("--observe",) if "observer" in idle.name else ()
    if idle.tree:
        env = {**env, "PYTHONPATH": idle.tree}
    console = Console(console_argv(lab.cluster_file, *extra), env)
    try:
        console.wait_for(complete_picture(lab_rows(lab)), START_TIMEOUT, "the first picture")
        console.drain(args.settle)
        watch(console, idle, args.seconds, args.window)
        console.quit()
    finally:
        console.close()


def report(idle: Idle, verbose: bool) -> None:
    print(f"{idle.name}:")
    print(f"  {idle.cpu.line('%', 1, 2)}")
    print(f"  {idle.rate.line('B/s', 1, 0)}")
    print(f"  over the whole span: CPU {idle.cpu_all:.2f} % of one core, {idle.rate_all:.0f} B/s")
    print(
        f"  write bursts: {idle.bursts:.2f}/s; screen characters that changed: {idle.changed:.1f}/s"
    )
    print("  per row (row, bytes/s written, characters/s changed, what it shows):")
    for row, written, changed, text in idle.rows:
        print(f"    {row:3d} {written:7.0f} {changed:6.1f}  {text[:70]}")
    if verbose:
        print(idle.screen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--block", default="127.0.81")
    parser.add_argument("--no-observer", action="store_true", help="skip the observer run")
    parser.add_argument("--screen", action="store_true", help="print the last screen seen")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also run the console from source tree DIR (first on PYTHONPATH); repeatable",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each console, alternated")
    args = parser.parse_args()
    runs = _runs(args)
    with (
        lab_running(args.block) as lab,
        tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp,
    ):
        env = console_env(Path(tmp) / "pycache")
        print(f"before: {conditions(lab)}")
        for idle in runs:
            measure(lab, env, idle, args)
        print(f"after:  {conditions(lab)}")
    print(f"console idle on the lab's main screen, {args.seconds:g} s after {args.settle:g} s:")
    for idle in runs:
        report(idle, args.screen)
    if len(runs) > len({_label(idle) for idle in runs}):
        summary(runs)


def _runs(args: argparse.Namespace) -> list[Idle]:
    """The consoles to run: operator (and observer), per tree, REPEAT times alternated."""
    trees = [tuple(t.split("=", 1)) for t in args.tree] or [("", "")]
    kinds = ["operator"] if args.no_observer else ["operator", "observer (--observe)"]
    return [
        Idle(f"{kind} {label} #{n + 1}".replace("  ", " "), tree=tree)
        for n in range(args.repeat)
        for label, tree in trees
        for kind in kinds
    ]


def _label(idle: Idle) -> str:
    return idle.name.rsplit(" #", 1)[0]


def summary(runs: list[Idle]) -> None:
    """Per console: the median over its runs of bytes/s, characters changed/s, CPU."""
    print("per console, median over its runs of the whole-span figures (min-max):")
    for label in dict.fromkeys(_label(idle) for idle in runs):
        mine = [idle for idle in runs if _label(idle) == label]
        for what, values, unit in (
            ("bytes/s", [i.rate_all for i in mine], "B/s"),
            ("changed chars/s", [i.changed for i in mine], "/s"),
            ("CPU", [i.cpu_all for i in mine], "%"),
        ):
            print(
                f"  {label:24s} {what:16s} {statistics.median(values):8.1f} {unit}"
                f" ({min(values):.1f}-{max(values):.1f}, n={len(values)})"
            )


if __name__ == "__main__":
    main()
