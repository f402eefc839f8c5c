"""Start a shared monitor in the background, as the first console does.

It is a new session (no terminal: closing the console's window does not
stop it), reads nothing, and writes what it says to a log beside its
socket. It stops by itself after LINGER seconds without a client, so a
console started once at 3 a.m. does not leave a process behind for good.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console.daemon import single

LINGER = 600.0  # seconds alone before a monitor a console started stops


def log_of(socket: Path) -> Path:
    return socket.with_name(socket.stem + ".log")


def start(cluster_file: Path, socket: Path, linger: float = LINGER) -> int:
    """Start `hotspare monitor` for CLUSTER_FILE on SOCKET; its pid. Does not wait."""
    single.prepare_dir(socket.parent)
    log = log_of(socket)
    if log.exists() and log.stat().st_size > 1024 * 1024:
        log.unlink()  # a log of what monitors said, kept small
    argv = [
        sys.executable,
        "-m",
        "console.cli",
        "--cluster",
        str(cluster_file),
        "monitor",
        "--socket",
        str(socket),
        "--linger",
        f"{linger:g}",
    ]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    return child.pid
