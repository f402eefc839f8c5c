"""A shared monitor (`hotspare monitor`) of a lab, run as a process for a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from console.daemon import place, single

MONITOR_ENV = "HOTSPARE_MONITOR"


def env() -> dict[str, str]:
    """The environment of a command that may use the shared monitor."""
    return {k: v for k, v in os.environ.items() if k != MONITOR_ENV}


def command(cluster_file: Path, *argv: str) -> list[str]:
    """`hotspare ARGV` on CLUSTER_FILE as an operator types it: the installed console script."""
    script = Path(sys.executable).with_name("hotspare")
    return [str(script), "--cluster", str(cluster_file), *argv]


def run(cluster_file: Path, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(cluster_file, *argv), env=env(), capture_output=True, text=True, timeout=timeout
    )


class SharedMonitor:
    """`hotspare monitor` of CLUSTER_FILE, started and waited for; `stop()` ends it."""

    def __init__(
        self, cluster_file: Path, *extra: str, log: Path, socket: Path | None = None
    ) -> None:
        self.cluster_file = cluster_file
        self.socket = socket or place.socket_for(cluster_file)
        self.log = log
        where = ("--socket", str(self.socket))
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command(cluster_file, "monitor", *where, *extra),
                env=env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while run(cluster_file, "monitor", "status", *where).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the monitor did not start:\n{log.read_text()}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a test may have stopped it
            self.process.terminate()
            self.process.wait(timeout=30)  # it leaves by itself after 15 s at most
        assert not single.is_held(self.socket), "the lock outlived the monitor"
