"""How long `lab up` takes: cold (nothing there), warm restart, and a no-op re-run.

Run: .venv/bin/python -m bench.lab_up [--runs 5] [--block 127.0.96]
Prints medians; the figures and method go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from console.lab import control
from console.lab.layout import LabLayout


def _timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _quiet(_: str) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--block", default="127.0.96")
    args = parser.parse_args()
    lab = LabLayout.for_block(args.block)
    cold, restart, noop = [], [], []
    control.down(lab, _quiet, purge=True)
    try:
        for _ in range(args.runs):
            cold.append(_timed(lambda: control.up(lab, _quiet)))
            noop.append(_timed(lambda: control.up(lab, _quiet)))
            control.down(lab, _quiet)  # keep data, keys and configs
            restart.append(_timed(lambda: control.up(lab, _quiet)))
            control.down(lab, _quiet, purge=True)
    finally:
        control.down(lab, _quiet, purge=True)
    for name, times in (("cold up", cold), ("restart up", restart), ("no-op up", noop)):
        spread = f"min {min(times):.2f} s, max {max(times):.2f} s"
        print(f"{name:11} median {statistics.median(times):.2f} s ({spread}, n={len(times)})")


if __name__ == "__main__":
    main()
