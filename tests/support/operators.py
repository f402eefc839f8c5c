"""Operators as separate processes: hotspare run as a command, watched line by line, killed.

Two operators are two processes, each with its own SSH links, exactly as
two jump hosts would be; a console killed mid-action is SIGKILL, which
gives it no chance to clean up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.lab.layout import LabLayout

ROOT = Path(__file__).resolve().parent.parent.parent
DEADLINE = 90.0  # no single command of these tests may take longer


def argv(lab: LabLayout, *words: str) -> list[str]:
    return [sys.executable, "-m", "screens.main", "--cluster", str(lab.cluster_file), *words]


def env(audit: Path) -> dict[str, str]:
    return {**os.environ, "HOTSPARE_AUDIT": str(audit), "PYTHONUNBUFFERED": "1"}


def run(lab: LabLayout, audit: Path, *words: str) -> subprocess.CompletedProcess[str]:
    """WORDS as one command, to its end (bounded)."""
    return subprocess.run(
        argv(lab, *words),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(audit),
        timeout=DEADLINE,
        check=False,
    )


def status(lab: LabLayout, audit: Path) -> dict[str, Any]:
    """`hotspare status --json`, parsed."""
    done = run(lab, audit, "status", "--json")
    assert done.stdout, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@dataclass
class Operator:
    """One hotspare command running in the background; its stderr read as it comes."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None
    _out_reader: threading.Thread | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def start(cls, lab: LabLayout, audit: Path, *words: str) -> Operator:
        process = subprocess.Popen(
            argv(lab, *words),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env(audit),
        )
        me = cls(process)
        me._reader = threading.Thread(target=me._read, daemon=True)
        me._reader.start()
        me._out_reader = threading.Thread(target=me._read_out, daemon=True)
        me._out_reader.start()
        return me

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        self.out.append(self.process.stdout.read())

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> str:
        """The first stderr line matching PATTERN; fails when the command ends or time is up."""
        return self.wait_for_nth(pattern, 1, timeout)

    def wait_for_nth(self, pattern: str | re.Pattern[str], nth: int, timeout: float = 30.0) -> str:
        """The NTH stderr line matching PATTERN; fails when the command ends or time is up."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        matched = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if wanted.search(line):
                        matched += 1
                        if matched == nth:
                            return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                ended = self.process.poll() is not None and not self._reading()
                if left <= 0 or ended:
                    tail = "\n".join(self.lines[-15:])
                    raise AssertionError(f"no line matching {pattern!r}; last lines:\n{tail}")
                self._changed.wait(min(left, 0.2))

    def _reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def finish(self, timeout: float = DEADLINE) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) once it ends."""
        self.process.wait(timeout)
        for reader in (self._reader, self._out_reader):
            if reader is not None:
                reader.join(5)
        return self.process.returncode, "".join(self.out), "\n".join(self.lines)
