"""Start to first complete frame: the console under a pty, Python start-up included.

Each run spawns `hotspare --cluster LAB/cluster.yaml` on a new pseudo-terminal
of COLUMNSxLINES (bench/console_pty.py) and reads what it draws until the
screen shows the first snapshot: "primary", "streaming" and "live" on every
row of the lab (2 per web node, 1 per database). The time is taken from just
before the spawn. Also noted per run: the first byte written, the first frame
(the panels drawn, still empty), and how long `q` takes to exit. Runs with a
bytecode cache (as an installed program has it, see common.hotspare_env) and,
when this machine sets PYTHONDONTWRITEBYTECODE, without one, interleaved
round by round after one uncounted warm-up each. Then the import of the
console's modules alone, for comparison.

Run: .venv/bin/python -m bench.console_start [--runs 10] [--block 127.0.81] [--size 100x32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import Series, conditions, lab_running, timed
from bench.console_pty import (
    Console,
    complete_picture,
    console_argv,
    console_env,
    first_frame,
    lab_rows,
)
from console.lab.layout import LabLayout

START_TIMEOUT = 30.0
WITH_PYC = "bytecode cache"
NO_PYC = "no bytecode"


@dataclass(frozen=True)
class Start:
    """Seconds from spawn to each milestone of one start, and q to exit."""

    first_byte: float
    first_frame: float
    complete: float
    quit: float


def start_once(lab: LabLayout, env: dict[str, str], size: tuple[int, int]) -> Start:
    """Spawn the console, wait for its complete picture, press q and reap it."""
    console = Console(console_argv(lab.cluster_file), env, size)
    try:
        framed = console.wait_for(first_frame, START_TIMEOUT, "its panels")
        done = console.wait_for(complete_picture(lab_rows(lab)), START_TIMEOUT, "the first picture")
        first_byte = console.reads[0][0]
        quit_seconds = console.quit()
    finally:
        console.close()
    t0 = console.started
    return Start(first_byte - t0, framed - t0, done - t0, quit_seconds)


def size_of(text: str) -> tuple[int, int]:
    columns, lines = (int(part) for part in text.lower().split("x"))
    return columns, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--block", default="127.0.81")
    parser.add_argument("--size", default="100x32", help="COLUMNSxLINES of the pty")
    args = parser.parse_args()
    size = size_of(args.size)
    with (
        lab_running(args.block) as lab,
        tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp,
    ):
        envs = {WITH_PYC: console_env(Path(tmp) / "pycache")}
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            envs[NO_PYC] = console_env(None)
        print(f"before: {conditions(lab)}")
        for env in envs.values():
            start_once(lab, env, size)  # warm-up: fills the cache, warms the lab's sshd
        starts: dict[str, list[Start]] = {name: [] for name in envs}
        names = list(envs)
        for round_no in range(args.runs):
            turn = round_no % len(names)
            for name in names[turn:] + names[:turn]:
                starts[name].append(start_once(lab, envs[name], size))
        imports = Series("python -c 'import screens.app'")
        bare = Series("python -c pass")
        for _ in range(args.runs):
            bare.times.append(timed([sys.executable, "-c", "pass"], envs[WITH_PYC]).seconds)
            argv = [sys.executable, "-c", "import screens.main, screens.app"]
            imports.times.append(timed(argv, envs[WITH_PYC]).seconds)
        print(f"after:  {conditions(lab)}")
    print(f"console start on a {args.size} pty, the lab's {lab_rows(lab)} rows live:")
    for name, runs in starts.items():
        print(f"{name}:")
        for label, values in (
            ("spawn to first complete frame", [s.complete for s in runs]),
            ("spawn to first frame (empty panels)", [s.first_frame for s in runs]),
            ("spawn to first byte", [s.first_byte for s in runs]),
            ("q to exit", [s.quit for s in runs]),
        ):
            print("  " + Series(label, values).line())
    print("for comparison (same lab, after the rounds):")
    for one in (bare, imports):
        print("  " + one.line("ms", 1000, 0))


if __name__ == "__main__":
    main()
