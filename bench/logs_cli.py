"""`hotspare logs --follow --merge` against plain `ssh box tail -F`: lines per second.

On a lab of its own (three web nodes, each its own sshd on loopback), each
round runs the two contenders one after the other, in alternating order:

- ssh: one OpenSSH client per web node, `ssh box tail -F -n 0 FILE`, the
  node's current access log, as an operator would (pinned key and
  known_hosts, no config file);
- hotspare: `hotspare --cluster FILE logs --follow --merge -n 0`, which
  follows every node's hot and warm access log, tags each line with its node
  and file, and merges the three streams in timestamp order.

A contender is started, and a ready line is appended to each file (again
every READY_EVERY seconds) until every file's ready line has come out of the
contender: it is following all three (the time from the spawn to then is its
start-up). Only then is a burst of LINES combined-format lines per node
(bench/console_logload.py's templates, each carrying the round's tag)
appended to the three files, one write per file, prepared beforehand so the
write itself takes only a few ms. The time runs from just before the first
write until the harness has read every tagged line from the contender's
output (ssh's stdout, as /dev/null would take it: read and counted, never
parsed; hotspare's the same way). The contender is then stopped by pid.
A fixed wait for the contender to be following is not enough: on a busy
machine `hotspare logs -f -n 0` once needed more than the 2 s this bench
used to give it, started its tails after the burst (or in its middle), and
the bench waited 120 s for lines never asked for (issue 13).
Lines per second = 3 x LINES / time.

Run: .venv/bin/python -m bench.logs_cli [--rounds 5] [--lines 200000] [--block 127.0.83]
"""

from __future__ import annotations

import argparse
import os
import selectors
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import CLOCK_TICKS, HOTSPARE, BenchError, Series, conditions, lab_running
from bench.console_logload import templates
from bench.steady_state import process_ticks
from console.lab.layout import SSH_PORT, LabLayout

WAIT = 120.0
READY_WAIT = 60.0
READY_EVERY = 0.1
READ = 1 << 20


def access_logs(lab: LabLayout) -> list[Path]:
    """Each web node's current access log (hot or warm, as its role has it)."""
    found = []
    for node in lab.web_names:
        role = "warm" if node in lab.warm_names else "hot"
        found.append(Path(lab.access_log_pattern(node).format(role=role, node=node)))
    return found


def burst(tag: str, count: int) -> bytes:
    """COUNT combined lines stamped now, each with TAG in its request path."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    rows = templates()
    return "".join(
        before + stamp + after.replace(" HTTP/1.1", f"&{tag} HTTP/1.1", 1)
        for before, after in (rows[i % len(rows)] for i in range(count))
    ).encode()


def ssh_argv(lab: LabLayout, node: str, path: Path) -> list[str]:
    return [
        "ssh", "-F", "/dev/null", "-i", str(lab.client_key),
        "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "BatchMode=yes",
        "-p", str(SSH_PORT), f"{lab.user}@{lab.address(node)}",
        "tail", "-F", "-n", "0", str(path),
    ]  # fmt: skip


def hotspare_argv(lab: LabLayout) -> list[str]:
    return [str(HOTSPARE), "--cluster", str(lab.cluster_file), "logs", "-f", "--merge", "-n", "0"]


class Output:
    """The contenders' stdout, read as it comes without blocking."""

    def __init__(self, procs: Sequence[subprocess.Popen[bytes]]) -> None:
        self.selector = selectors.DefaultSelector()
        for proc in procs:
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            self.selector.register(proc.stdout, selectors.EVENT_READ, proc)

    def read(self, timeout: float) -> list[tuple[int, bytes]]:
        """(pid, bytes) of what came within TIMEOUT.

        Raises:
            BenchError: a contender ended.
        """
        found = []
        for key, _ in self.selector.select(timeout=timeout):
            data = os.read(key.fd, READ)
            if not data:
                raise BenchError(f"pid {key.data.pid} ended early")
            found.append((key.data.pid, data))
        return found

    def close(self) -> None:
        self.selector.close()


def until_following(output: Output, files: list[Path], tag: str) -> None:
    """Until a ready line of each of FILES has come out: the contender follows them all.

    A ready line is appended again every READY_EVERY seconds, since one
    written before the contender's tail started is (rightly) not shown.
    """
    waiting = {f"{tag}r{i}".encode(): path for i, path in enumerate(files)}
    seen = {pid: b"" for pid in output.selector.get_map()}
    deadline = time.monotonic() + READY_WAIT
    while waiting:
        if time.monotonic() > deadline:
            raise BenchError(f"not following {len(waiting)} files after {READY_WAIT:g} s")
        for ready, path in waiting.items():
            with path.open("ab") as log:
                log.write(burst(ready.decode(), 1))
        for pid, data in output.read(READY_EVERY):
            seen[pid] = seen.get(pid, b"") + data
        waiting = {r: p for r, p in waiting.items() if not any(r in d for d in seen.values())}


def count_until(output: Output, tag: bytes, total: int) -> float:
    """Read every contender's stdout until TOTAL lines carrying TAG have come; the time it ended."""
    tails: dict[int, bytes] = {}
    seen, deadline = 0, time.monotonic() + WAIT
    while seen < total:
        if time.monotonic() > deadline:
            raise BenchError(f"only {seen} of {total} tagged lines came within {WAIT:g} s")
        for pid, data in output.read(1.0):
            # A tag cut between two reads is counted once, when whole.
            joined = tails.get(pid, b"") + data
            seen += joined.count(tag)
            tails[pid] = joined[-(len(tag) - 1) :] if len(tag) > 1 else b""
    return time.perf_counter()


def one_round(
    argvs: list[list[str]], files: list[Path], tag: str, lines: int
) -> tuple[float, float, float]:
    """Start the contender, wait until it follows, burst, time until all is read.

    Returns (seconds, CPU seconds, seconds from spawn to following).
    """
    data = burst(tag, lines)
    env = {**os.environ, "NO_COLOR": "1"}
    spawned = time.perf_counter()
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        for argv in argvs
    ]
    output = Output(procs)
    try:
        until_following(output, files, f"ready{time.monotonic_ns()}")
        following = time.perf_counter() - spawned
        ticks = sum(process_ticks(proc.pid) for proc in procs)
        started = time.perf_counter()
        for path in files:
            with path.open("ab") as log:
                log.write(data)
        ended = count_until(output, tag.encode(), lines * len(files))
        cpu = (sum(process_ticks(proc.pid) for proc in procs) - ticks) / CLOCK_TICKS
        return ended - started, cpu, following
    finally:
        output.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=200_000, help="lines per node per burst")
    parser.add_argument("--block", default="127.0.83")
    args = parser.parse_args()
    series = {
        "ssh tail -F": Series("ssh tail -F (3 clients)"),
        "hotspare": Series("hotspare logs -f --merge"),
    }
    cpu: dict[str, list[float]] = {name: [] for name in series}
    start: dict[str, list[float]] = {name: [] for name in series}
    with lab_running(args.block) as lab:
        files = access_logs(lab)
        contenders = {
            "ssh tail -F": [ssh_argv(lab, n, f) for n, f in zip(lab.web_names, files, strict=True)],
            "hotspare": [hotspare_argv(lab)],
        }
        print(f"before: {conditions(lab)}")
        for round_ in range(args.rounds):
            order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
            for name in order:
                tag = f"bench{round_}{name[:3]}{time.monotonic_ns()}"
                seconds, used, following = one_round(contenders[name], files, tag, args.lines)
                series[name].times.append(seconds)
                cpu[name].append(used)
                start[name].append(following)
                print(
                    f"round {round_ + 1} {name:12} {seconds:6.2f} s  cpu {used:5.2f} s  "
                    f"following after {following:5.2f} s"
                )
        print(f"after: {conditions(lab)}")
    total = args.lines * 3
    for name, s in series.items():
        rate = total / s.median
        print(
            f"{s.line()}  -> {rate:,.0f} lines/s; CPU median {statistics.median(cpu[name]):.2f} s; "
            f"following after {statistics.median(start[name]):.2f} s median "
            f"(max {max(start[name]):.2f} s)"
        )
    ours, theirs = series["hotspare"], series["ssh tail -F"]
    print(f"hotspare throughput / ssh tail -F throughput = {theirs.median / ours.median:.2f}")


if __name__ == "__main__":
    main()
