"""A bounded log load: RATE lines per second appended to each of FILES, then stop.

Lines are Apache "combined" (console.lab.site.accesslog.format_combined, as
the demo site writes them), with varying clients, paths, statuses and sizes.
Every TICK seconds each file gets the lines due by then (an absolute schedule,
so a late tick catches up and the average rate holds), written with one
O_APPEND write per file per tick. The writer stops by itself after SECONDS, or
on SIGTERM, and prints one JSON line: lines written per file, the seconds it
ran, and its own CPU seconds.

Run (the key bench starts it): .venv/bin/python -m bench.console_logload
    --rate 2000 --seconds 300 FILE...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from console.lab.site.accesslog import AccessEntry, format_combined

TICK = 0.01
PATHS = ("/", "/healthz", "/articles/17", "/articles/42", "/search?q=spare", "/form", "/a.css")
STATUSES = (200, 200, 200, 200, 304, 200, 404, 503)
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64)", "curl/7.88.1", "HAProxy health check")


def templates(count: int = 997) -> list[tuple[str, str]]:
    """COUNT lines cut around their time stamp: (before, after) the bracketed stamp."""
    when = datetime(2026, 11, 26, 0, 0, 0, tzinfo=UTC)
    found = []
    for i in range(count):
        line = format_combined(
            AccessEntry(
                client=f"10.0.{i % 7}.{i % 251}",
                when=when,
                request_line=f"GET {PATHS[i % len(PATHS)]}?n={i} HTTP/1.1",
                status=STATUSES[i % len(STATUSES)],
                size=512 + 37 * i,
                referer=None if i % 3 else "http://127.0.0.1:8080/",
                user_agent=AGENTS[i % len(AGENTS)],
            )
        )
        before, _, rest = line.partition("[")
        _, _, after = rest.partition("]")
        found.append((before + "[", "]" + after + "\n"))
    return found


class Stop(Exception):
    """SIGTERM: stop writing, report."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def run(files: list[Path], rate: float, seconds: float) -> dict[str, object]:
    """Append RATE lines/s to every one of FILES for SECONDS; what was written."""
    lines = templates()
    fds = [os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) for path in files]
    written = [0] * len(files)
    started = time.monotonic()
    try:
        tick = 0
        while (now := time.monotonic()) - started < seconds:
            due = int(rate * (now - started)) - written[0]
            if due > 0:
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
                for i, fd in enumerate(fds):
                    first = written[i]
                    batch = (lines[(first + k) % len(lines)] for k in range(due))
                    os.write(fd, "".join(f"{a}{stamp}{b}" for a, b in batch).encode())
                    written[i] += due
            tick += 1
            time.sleep(max(0.0, started + tick * TICK - time.monotonic()))
    except Stop:
        pass
    finally:
        for fd in fds:
            os.close(fd)
    ran = time.monotonic() - started
    return {
        "files": [str(p) for p in files],
        "lines": written,
        "seconds": round(ran, 3),
        "rate": [round(n / ran, 1) for n in written],
        "cpu_seconds": round(time.process_time(), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=2000.0, help="lines per second per file")
    parser.add_argument("--seconds", type=float, required=True, help="stop after this long")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    print(json.dumps(run(args.files, args.rate, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
