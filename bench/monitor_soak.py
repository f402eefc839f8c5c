"""The shared monitor over a long run: its memory, and the history's size per hour.

A lab on its own block, `hotspare monitor` on it with history on (its own
directory) and one `status --watch --json` client reading every snapshot,
for --minutes (default 30). Every --every seconds: the monitor's RSS
(/proc/PID/status VmRSS) and the history directory's bytes on disk. Then:
RSS at warm-up (after --warmup minutes) and at the end, the largest, the
slope after warm-up in MiB per hour (least squares), and the history's
growth per hour over the run.

Run: .venv/bin/python -m bench.monitor_soak [--minutes 30] [--block 127.0.77]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import HOTSPARE, BenchError, conditions, hard_stop, lab_running


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def disk_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes not in the slope")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--block", default="127.0.77")
    args = parser.parse_args()
    hard_stop(args.minutes * 60 + 300)
    with (
        tempfile.TemporaryDirectory(prefix="hs-soak-", dir="/tmp") as tmp,
        lab_running(args.block) as lab,
    ):
        work = Path(tmp)
        history = work / "history"
        env = {**os.environ, "XDG_RUNTIME_DIR": str(work)}
        env.pop("HOTSPARE_MONITOR", None)
        cluster = ["--cluster", str(lab.cluster_file)]
        monitor = subprocess.Popen(
            [str(HOTSPARE), *cluster, "monitor", "--history", str(history)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = None
        try:
            time.sleep(5)
            client = subprocess.Popen(
                [str(HOTSPARE), *cluster, "status", "--watch", "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            print(f"before: {conditions(lab)}", flush=True)
            started = time.monotonic()
            samples: list[tuple[float, int, int]] = []
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if monitor.poll() is not None or client.poll() is not None:
                    raise BenchError("the monitor or its client ended during the soak")
                samples.append((elapsed, rss_kib(monitor.pid), disk_bytes(history)))
                print(
                    f"{elapsed / 60:5.1f} min  RSS {samples[-1][1] / 1024:6.1f} MiB  "
                    f"history {samples[-1][2] / 1024:8.1f} KiB",
                    flush=True,
                )
                time.sleep(args.every)
            print(f"after: {conditions(lab)}")
        finally:
            for process in (client, monitor):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=30)
    signal.alarm(0)
    warm = [(t, r) for t, r, _ in samples if t >= args.warmup * 60]
    if len(warm) < 2:
        raise BenchError("too short a run for a slope after warm-up")
    per_hour = slope([(t / 3600, r / 1024) for t, r in warm])
    grown = (samples[-1][2] - samples[0][2]) / (samples[-1][0] - samples[0][0]) * 3600
    print(f"samples: {len(samples)} over {samples[-1][0] / 60:.1f} min")
    print(
        f"RSS at warm-up {warm[0][1] / 1024:.1f} MiB, at the end {samples[-1][1] / 1024:.1f} MiB,"
    )
    print(f"    largest {max(r for _, r, _ in samples) / 1024:.1f} MiB")
    print(f"RSS slope after warm-up: {per_hour:+.2f} MiB per hour")
    print(f"history: {grown / 1024 / 1024:.2f} MiB per hour on disk (as written, gzip at close)")


if __name__ == "__main__":
    main()
