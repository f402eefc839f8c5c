"""A hotspare command that keeps printing JSON Lines (`status --watch --json`, `events --json`),
run in its own process for a lab test: one monitor, every document it printed, in order."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from typing import Any

from console.lab.layout import LabLayout


class Following:
    """`hotspare --cluster LAB ARGV...` printing one JSON document per line."""

    def __init__(self, lab: LabLayout, *argv: str) -> None:
        command = [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file)]
        self.process = subprocess.Popen(
            [*command, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.documents: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.documents.append(json.loads(line))

    def stop(self) -> None:
        """^C, as an operator stops it; then every line it printed has been read."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)
        self._thread.join(10)


def pictures(lab: LabLayout) -> Following:
    """`hotspare status --watch --json --interval 1`: the site's pictures, one a second."""
    return Following(lab, "status", "--watch", "--json", "--interval", "1")


def timeline(lab: LabLayout) -> Following:
    """`hotspare events --json --interval 1`: the event timeline as it happens."""
    return Following(lab, "events", "--json", "--interval", "1")
