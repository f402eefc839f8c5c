"""Scale: time to a complete status with 3, 10, 20 and 30 web nodes.

For each size, a lab of that many web nodes (plus lb1, db1 and db2) is started
on BLOCK (one block reused in turn, purged between sizes), then RUNS rounds of
fresh `hotspare status` processes, interleaved with the same parallel ssh
loop as bench.status_vs_ssh (and Ansible with --ansible), after one
uncounted warm-up each. Also one steady refresh_all on open connections,
since on this machine every box shares the same two cores, and how busy the
lab alone keeps the machine (its sites, health checks and sweeps).

Run: .venv/bin/python -m bench.scale [--sizes 3,10,20,30] [--runs 5] [--block 127.0.82]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench import steady_state
from bench.common import Series, conditions, lab_running, machine_cores_used
from bench.status_vs_ssh import ANSIBLE, HOTSPARE, SSH_LOOP, build, measure

STEADY_CYCLES = 10
BACKGROUND_SECONDS = 5.0


def one_size(block: str, nodes: int, runs: int, ansible: bool) -> dict[str, Series]:
    """The series of every contender on a lab of NODES web nodes."""
    with (
        lab_running(block, nodes) as lab,
        tempfile.TemporaryDirectory(prefix="hotspare-bench-") as tmp,
    ):
        background = machine_cores_used(BACKGROUND_SECONDS)
        print(f"  lab alone keeps {background:.2f} cores busy (over {BACKGROUND_SECONDS:g} s)")
        runners = build(lab, Path(tmp), ansible=ansible)
        runners.pop("ansible ad-hoc, pipelining", None)
        series = measure(runners, runs)
        steady, _ = asyncio.run(steady_state.refresh_cycles(lab, STEADY_CYCLES))
        series[steady.name] = steady
        print(f"  {len(lab.boxes)} boxes; {conditions(lab)}")
        for one in series.values():
            print("  " + one.line())
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="3,10,20,30", help="web node counts, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--block", default="127.0.82")
    parser.add_argument("--ansible", action="store_true", help="also time Ansible (slow)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for nodes in sizes:
        print(f"{nodes} web nodes:")
        results[nodes] = one_size(args.block, nodes, args.runs, args.ansible)
    names = [HOTSPARE, SSH_LOOP, *([ANSIBLE] if args.ansible else [])]
    print("\nweb nodes  boxes  " + "  ".join(f"{n:>26}" for n in names) + "  refresh_all (open)")
    for nodes, series in results.items():
        cells = [
            f"{series[n].median:.2f} s ({min(series[n].times):.2f}-{max(series[n].times):.2f})"
            for n in names
        ]
        steady = next(s for s in series.values() if s.name.startswith("refresh_all"))
        print(
            f"{nodes:9}  {nodes + 3:5}  "
            + "  ".join(f"{c:>26}" for c in cells)
            + f"  {steady.median * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
