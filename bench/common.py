"""What the status benchmarks share: a lab of their own, timed runs, summaries.

Every bench starts its lab on its own block, purges it first (a leftover of a
killed run) and purges it again in a `finally`, so nothing it started outlives
it. Times are wall-clock, from just before a process is spawned to its exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from console.lab import control
from console.lab.layout import LabLayout

ROOT = Path(__file__).resolve().parent.parent
HOTSPARE = Path(sys.executable).with_name("hotspare")
RUN_TIMEOUT = 120.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SAMPLE = 3.0
HARD_STOP_GRACE = 300.0  # past a bench's budget, for a step under way to end by itself


class BenchError(RuntimeError):
    """A timed run did not do what it was timed for (wrong exit, missing output)."""


def quiet(_: str) -> None:
    """A `say` for lab commands that prints nothing."""


@contextlib.contextmanager
def lab_running(block: str, web_nodes: int = 3) -> Iterator[LabLayout]:
    """A fresh lab of WEB_NODES web nodes on BLOCK, purged on the way out."""
    lab = LabLayout.for_block(block, web_nodes=web_nodes)
    control.down(lab, quiet, purge=True)
    busy = machine_cores_used(IDLE_SAMPLE)
    print(f"before the lab: the machine keeps {busy:.2f} cores busy ({conditions()})")
    try:
        started = time.perf_counter()
        control.up(lab, quiet)
        boxes = len(lab.boxes)
        print(f"lab up on {block}: {boxes} boxes in {time.perf_counter() - started:.1f} s")
        yield lab
    finally:
        control.down(lab, quiet, purge=True)


@dataclass
class Series:
    """The times of one contender, in seconds."""

    name: str
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def line(self, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
        """One line: median, min, max and n."""

        def f(value: float) -> str:
            return f"{value * scale:.{digits}f} {unit}"

        return (
            f"{self.name:36} median {f(self.median):>10}  min {f(min(self.times)):>10}  "
            f"max {f(max(self.times)):>10}  n={len(self.times)}"
        )


@dataclass(frozen=True)
class Run:
    """One finished process: its wall time, exit status and output."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Run ARGV as a fresh process and time it from spawn to exit."""
    started = time.perf_counter()
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - started
    return Run(seconds, done.returncode, done.stdout, done.stderr)


@contextlib.contextmanager
def audited(prefix: str) -> Iterator[dict[str, str]]:
    """The environment for hotspare commands that act: their audit log in a directory of
    their own (named PREFIX...), removed on the way out."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield {**os.environ, "HOTSPARE_AUDIT": str(Path(tmp) / "audit.jsonl")}


def hotspare_env(pycache: Path | None) -> dict[str, str]:
    """The environment for a hotspare process: with a bytecode cache in PYCACHE.

    This machine sets PYTHONDONTWRITEBYTECODE=1, so an editable install
    compiles console/ from source at every start. An installed program has
    its bytecode: the cache goes to PYCACHE (PYTHONPYCACHEPREFIX), never into
    the work tree, and the uncounted warm-up run fills it. With PYCACHE None,
    the environment is left as it is.
    """
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def status_argv(cluster: Path, *extra: str) -> list[str]:
    """`hotspare --cluster CLUSTER status`, as an operator types it."""
    return [str(HOTSPARE), "--cluster", str(cluster), "status", *extra]


def check_status(run: Run, boxes: Sequence[str]) -> None:
    """Raise BenchError unless RUN exited 0 with every box of BOXES fresh."""
    if run.returncode != 0:
        raise BenchError(f"hotspare status exited {run.returncode}:\n{run.stdout}{run.stderr}")
    lines = run.stdout.splitlines()
    try:
        listed = lines[lines.index("BOXES") + 1 :]
    except ValueError:
        raise BenchError(f"hotspare status printed no BOXES section:\n{run.stdout}") from None
    fresh = {line.split()[0] for line in listed if line.split()[1:2] == ["fresh"]}
    missing = sorted(set(boxes) - fresh)
    if missing:
        raise BenchError(f"not fresh in hotspare status: {', '.join(missing)}\n{run.stdout}")


def conditions(own: LabLayout | None = None) -> str:
    """The machine's state now: cores, load average, and other labs running."""
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    others = sorted(
        path.name.removeprefix("hotspare-lab-")
        for path in Path("/tmp").glob("hotspare-lab-*")
        if path.is_dir() and (own is None or path != own.root)
    )
    labs = ", ".join(others) or "none"
    return f"cores {os.cpu_count()}, load average {load}, other lab blocks present: {labs}"


def ratio(other: Series, ours: Series) -> str:
    """OTHER's median over OURS's, as text: above 1 means OURS is faster."""
    times = other.median / ours.median
    verdict = "faster" if times > 1 else "slower"
    return f"{other.name} / {ours.name} = {times:.2f} ({ours.name} {verdict})"


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def machine_cores_used(seconds: float) -> float:
    """How many cores' worth the whole machine was busy over the next SECONDS."""
    busy0, _ = machine_busy()
    time.sleep(seconds)
    busy1, _ = machine_busy()
    return (busy1 - busy0) / CLOCK_TICKS / seconds


def machine_before(own: LabLayout | None = None) -> dict[str, Any]:
    """How busy the machine is before a bench (sampled, printed): its facts for the results."""
    busy = machine_cores_used(IDLE_SAMPLE)
    facts: dict[str, Any] = {"cores_busy_before": round(busy, 2), "before": conditions(own)}
    print(f"before: the machine keeps {busy:.2f} cores busy ({facts['before']})", flush=True)
    return facts


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise BenchError("the bench ran past its time budget")


def hard_stop(budget: float) -> float:
    """Arm SIGALRM to raise BenchError a grace after BUDGET seconds, should a step hang.

    Returns:
        The monotonic deadline by which the bench should start no new round.
        `signal.alarm(0)` disarms the stop before the labs are brought down.
    """
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(int(budget + HARD_STOP_GRACE))
    return time.monotonic() + budget


def rounds(count: int, deadline: float) -> Iterator[int]:
    """0 to COUNT - 1, ending early (and saying so) once the monotonic DEADLINE has passed."""
    for n in range(count):
        if time.monotonic() > deadline:
            print(f"time budget spent: stopping after {n} rounds", flush=True)
            return
        yield n
