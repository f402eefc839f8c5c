"""The history's cost: bytes per hour at the monitor's rate, record() and at() times.

1. A lab of its own; a Monitor refreshing every INTERVAL s for LIVE
   seconds, each snapshot recorded (plain JSON Lines, nothing pruned): the
   real bytes of a patch line against the whole document.
2. From the last real snapshot, an hour of synthetic refreshes (one every
   INTERVAL s) that change what the real ones changed: clocks, ages, round
   trips, latencies, load, free memory, log sizes, WAL positions, lag
   (tests/support/history_parts.py). Recorded with the defaults (gzip when a
   segment closes): the bytes on disk for the hour, the median of record(),
   then at() at SAMPLES random moments (a fresh Recording, the median).
   The same hour again with other keyframe intervals (KEYFRAMES): what a
   keyframe every K records costs on disk and saves in at().

Run: .venv/bin/python -m bench.history_size [--live 60] [--interval 2] [--block 127.0.82]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Series, lab_running
from console import inventory
from console.history import History, Recording, segments
from console.history.lines import KEYFRAME_EVERY
from console.monitor import Monitor
from console.state import codec
from console.state.model import ClusterState
from tests.support.history_parts import steady

SAMPLES = 500
KEYFRAMES = (300, 120, 60, 30)


async def live(block: str, seconds: float, interval: float, directory: Path) -> ClusterState:
    """Record the lab's snapshots for SECONDS into DIRECTORY; the last one."""
    with lab_running(block) as lab:
        monitor = Monitor(inventory.load(lab.cluster_file))
        try:
            await monitor.refresh_all()
            with History.open(directory, compress=False) as history:
                ends = time.monotonic() + seconds
                while time.monotonic() < ends:
                    await monitor.refresh_all()
                    state = monitor.snapshot()
                    history.record(state)
                    await asyncio.sleep(interval)
        finally:
            await monitor.close()
    return state


def patch_bytes(directory: Path) -> tuple[int, Series, float]:
    """The whole document's bytes (the first keyframe), each patch line's, and B a record gzipped.

    The last: the live segment closed as the monitor closes one (a copy, gzipped
    one member per keyframe), over the moments it holds.
    """
    (segment,) = directory.glob("*.jsonl")
    lines = segment.read_bytes().splitlines()
    keyframe = json.loads(lines[1])["k"]
    whole = len(json.dumps(keyframe, separators=(",", ":")))
    series = Series("patch line, live lab", [float(len(line)) for line in lines[2:]])
    copy = directory / "copy"
    copy.mkdir()
    (copy / segment.name).write_bytes(segment.read_bytes())
    opened = segments.segment_of(copy / segment.name)
    assert opened is not None
    closed, _ = segments.close(opened, compress=True)
    assert closed is not None
    return whole, series, closed.path.stat().st_size / (len(lines) - 1)


def hour(states: list[ClusterState], directory: Path, keyframe_every: int) -> tuple[int, Series]:
    """An hour of snapshots recorded: the bytes on disk and record()'s times."""
    series = Series(f"record(), K={keyframe_every}")
    with History.open(directory, keyframe_every=keyframe_every) as history:
        for state in states:
            started = time.perf_counter()
            history.record(state)
            series.times.append(time.perf_counter() - started)
    size = sum(p.stat().st_size for p in directory.iterdir() if not p.name.startswith("."))
    return size, series


def reads(directory: Path) -> tuple[float, Series]:
    """Opening (indexing) the recording, and at() at random moments."""
    started = time.perf_counter()
    recording = Recording.open(directory)
    opened = time.perf_counter() - started
    first, last = recording.span or (0.0, 0.0)
    chance = random.Random(3)
    series = Series("at(), random moments")  # the caller names it
    for _ in range(SAMPLES):
        moment = chance.uniform(first, last)
        started = time.perf_counter()
        recording.at(moment)
        series.times.append(time.perf_counter() - started)
    return opened, series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--live", type=float, default=60.0, help="seconds of real snapshots")
    parser.add_argument("--interval", type=float, default=2.0, help="the monitor's interval")
    parser.add_argument("--block", default="127.0.82")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        last = asyncio.run(live(args.block, args.live, args.interval, root / "live"))
        whole, patches, gzipped = patch_bytes(root / "live")
        print(f"whole document: {whole} B; {len(patches.times)} live refreshes")
        print(patches.line("B", digits=0))
        print(f"live segment closed (gzip, K={KEYFRAME_EVERY}): {gzipped:.0f} B a snapshot")
        base = codec.decode(json.loads(json.dumps(codec.encode(last))))
        states = list(steady(base, int(3600 / args.interval), every=args.interval))
        print(f"an hour: {len(states)} synthetic snapshots, one every {args.interval:g} s")
        for keyframe_every in (KEYFRAME_EVERY, *(k for k in KEYFRAMES if k != KEYFRAME_EVERY)):
            where = root / f"hour-{keyframe_every}"
            size, records = hour(states, where, keyframe_every)
            print(
                f"K={keyframe_every}: {size / 1e6:.3f} MB on disk for the hour "
                f"({size / len(states):.0f} B a snapshot, 24 h: {24 * size / 1e6:.0f} MB)"
            )
            print(records.line("ms", 1000, 3))
            opened, at = reads(where)
            at.name = f"at(), K={keyframe_every}"
            print(f"Recording.open of the hour: {opened * 1000:.0f} ms")
            print(at.line("ms", 1000, 3))
            print(f"at() mean {statistics.fmean(at.times) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
