"""One monitor per cluster per user: an exclusive lock beside the socket.

The lock is flock(2) on `<socket>.lock`, held for the monitor's life and
released by the kernel however it ends (kill -9 included), so a crashed
monitor never blocks the next one. The file says the holder's pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from console.errors import HotspareError


class AlreadyRunning(HotspareError):
    """Another monitor holds the lock; the message names its pid and socket."""


class InstanceLock:
    """The held lock; `release()` (or process exit) lets the next monitor start."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def lock_path(socket: Path) -> Path:
    return socket.with_name(socket.name + ".lock")


def prepare_dir(directory: Path) -> None:
    """Make DIRECTORY (0700) if missing; refuse one others can enter or not ours.

    Raises:
        HotspareError: it is not a directory, not the user's, or open to others.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    seen = directory.lstat()
    if not directory.is_dir() or seen.st_uid != os.getuid():
        raise HotspareError(f"{directory} is not a directory of this user's; remove it")
    if seen.st_mode & 0o077:
        directory.chmod(0o700)


def acquire(socket: Path) -> InstanceLock:
    """Hold the single-instance lock of the monitor on SOCKET.

    Raises:
        AlreadyRunning: another process holds it.
    """
    path = lock_path(socket)
    prepare_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = holder_pid(socket)
        os.close(fd)
        said = f"pid {holder}" if holder else "another process"
        raise AlreadyRunning(
            f"a monitor already runs for this cluster ({said}, socket {socket}); "
            "`hotspare monitor status` shows it, `hotspare monitor stop` stops it"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return InstanceLock(path, fd)


def holder_pid(socket: Path) -> int | None:
    """The pid written in SOCKET's lock file, if any (it may be gone)."""
    try:
        text = lock_path(socket).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_held(socket: Path) -> bool:
    """Whether a live monitor holds SOCKET's lock now."""
    try:
        fd = os.open(lock_path(socket), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
