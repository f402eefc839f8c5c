"""The replay's cost on a day of history: opening, the first picture, a step, a jump, the events.

A day at one moment every EVERY s (43,200 moments at 2 s) of a quiet
lab-sized site (tests/support/history_parts.py), web2 unhealthy for a
minute every 100 minutes (an alarm raised and cleared), is recorded once
into DIR (kept for the next run). Then, as the replay console does them:
Recording.open, the first picture (the moment, the trends' moments
before it, the cursor's chunk of events), steps back (the trends fed
again each time), jumps to the next alarm change, every chunk of events
read as the console reads them while idle, and for comparison at() on
every moment (sampled).

Run: .venv/bin/python -m bench.replay_day [--dir /tmp/replay-day] [--every 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

from console.history import History, Recording
from console.history.replay import Replay
from console.trends import POINTS
from tests.support.history_parts import steady
from tests.support.verdict_parts import cluster_state, nodes_with

START = 1_796_666_400.0
DAY = 24 * 3600


def _record(directory: Path, every: float) -> None:
    count = int(DAY / every)
    sick = nodes_with("web2", health_status=503, health_problem="HTTP 503")
    alarms = cluster_state(nodes=sick).alarms
    with History.open(directory, clock=lambda: START + DAY + 60) as history:
        for n, state in enumerate(steady(cluster_state(START), count, every)):
            if n % int(6000 / every) in range(50, 80):
                state = replace(state, nodes=sick, alarms=alarms)
            history.record(state)


def _ms(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms"


def main() -> None:
    """Record the day if need be, then time what the replay console does."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/replay-day"))
    parser.add_argument("--every", type=float, default=2.0)
    args = parser.parse_args()
    if not args.dir.exists():
        started = time.perf_counter()
        _record(args.dir, args.every)
        print(f"recorded a day in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    recording = Recording.open(args.dir)
    print(f"Recording.open     {time.perf_counter() - started:.2f} s, {len(recording)} moments")
    replay = Replay(recording)
    started = time.perf_counter()
    replay.state()
    replay.recent(POINTS + 1)
    replay.timeline(budget=0)
    print(f"first picture      {time.perf_counter() - started:.3f} s")
    steps = []
    for _ in range(50):
        started = time.perf_counter()
        replay.step(-1)
        replay.state()
        replay.recent(POINTS + 1)  # the trends, fed again: a step back cannot be added
        replay.timeline(budget=0)
        steps.append(time.perf_counter() - started)
    print(f"step back (50)     {_ms(steps)}")
    replay.go(START + DAY / 2)
    jumps = []
    for _ in range(10):
        started = time.perf_counter()
        replay.next_alarm()
        replay.state()
        replay.recent(POINTS + 1)
        replay.timeline(budget=0)
        jumps.append(time.perf_counter() - started)
    print(f"next alarm (10)    {_ms(jumps)}")
    chunks = []
    started = time.perf_counter()
    while True:
        one = time.perf_counter()
        if not replay.read_ahead():
            break
        chunks.append(time.perf_counter() - one)
    spent = time.perf_counter() - started
    print(f"every chunk        {spent:.1f} s, {len(chunks)} chunks, {_ms(chunks)}")
    started = time.perf_counter()
    found = replay.timeline()
    spent = time.perf_counter() - started
    print(f"timeline, all read {spent * 1000:.1f} ms, {len(found.events)} events")
    times = recording.times()
    sample = range(0, len(times), max(1, len(times) // 500))
    started = time.perf_counter()
    for number in sample:
        recording.at(times[number])
    each = (time.perf_counter() - started) / len(sample)
    print(
        f"at() instead       {each * 1000:.1f} ms each: {each * len(times):.0f} s for every moment"
    )


if __name__ == "__main__":
    main()
