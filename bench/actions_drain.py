"""Requests through the balancer during a rolling drain and ready, against the same load alone.

On a lab of its own, a load generator (tests/support/loadgen.py: RATE requests/s,
one POST in four, each on a new connection) runs through HAProxy for each
phase, alternating, ROUNDS times:

- quiet: the load alone for SECONDS;
- rolling: the load while `hotspare drain NODE --yes` then `hotspare ready
  NODE --yes` run for each hot node in turn, repeated until SECONDS have
  passed (each command a fresh process, as an operator types it).

Per phase: requests, failed requests (no answer, or a 4xx/5xx; a 303 after
a POST is the site's normal answer), and latency p50/p99/max. The target is
no failure added by the actions.

Run: .venv/bin/python -m bench.actions_drain [--rounds 3] [--seconds 20] [--rate 60]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from bench.common import HOTSPARE, BenchError, conditions, lab_running
from bench.console_keys import p99
from console.lab.layout import LabLayout
from tests.support.loadgen import Answer, Load, failures


def hotspare(lab: LabLayout, *args: str) -> None:
    argv = [str(HOTSPARE), "--cluster", str(lab.cluster_file), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")


def phase(lab: LabLayout, rate: float, seconds: float, rolling: bool) -> tuple[list[Answer], int]:
    """Run the load for SECONDS (rolling drains meanwhile if ROLLING); answers, actions done."""
    load = Load(lab.site_url, rate=rate, seconds=seconds + 30, post_every=4).start()
    actions = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            if not rolling:
                time.sleep(0.2)
                continue
            for node in ("web1", "web2"):
                hotspare(lab, "drain", node, "--yes", "--timeout", "30")
                hotspare(lab, "ready", node, "--yes")
                actions += 2
    finally:
        answers = load.stop()
    return answers, actions


def line(name: str, answers: list[Answer], actions: int) -> str:
    ms = [a.seconds * 1000 for a in answers]
    return (
        f"{name:8} requests {len(answers):5}  failed {len(failures(answers)):3}  "
        f"p50 {statistics.median(ms):6.1f} ms  p99 {p99(ms):6.1f} ms  max {max(ms):7.1f} ms  "
        f"actions {actions}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=60.0, help="requests per second")
    parser.add_argument("--block", default="127.0.84")
    args = parser.parse_args()
    results: dict[str, list[tuple[list[Answer], int]]] = {"quiet": [], "rolling": []}
    with lab_running(args.block) as lab:
        print(f"before: {conditions(lab)}")
        for n in range(args.rounds):
            order = ("quiet", "rolling") if n % 2 == 0 else ("rolling", "quiet")
            for name in order:
                answers, actions = phase(lab, args.rate, args.seconds, name == "rolling")
                results[name].append((answers, actions))
                print(f"round {n + 1} {line(name, answers, actions)}")
        print(f"after: {conditions(lab)}")
    for name, runs in results.items():
        answers = [a for run, _ in runs for a in run]
        print("all     " + line(name, answers, sum(actions for _, actions in runs)))
        for bad in failures(answers)[:5]:
            print(f"   failed: {bad.method} {bad.status} {bad.error or bad.body[:80]!r}")


if __name__ == "__main__":
    main()
