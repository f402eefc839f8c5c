"""Processes the lab starts: spawn detached, record by pid, stop by pid.

A pid file records the pid and the kernel's start time of the process, so a
pid reused by an unrelated process after a crash is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from console.errors import Exit, HotspareError
from console.lab.layout import LabLayout


class LabProcessError(HotspareError, RuntimeError):
    """A lab process failed to start or to become ready."""

    exit = Exit.FAILED


@dataclass(frozen=True)
class Proc:
    """A process the lab started: its name, pid and kernel start time."""

    name: str
    pid: int
    started: int


def start_time(pid: int) -> int | None:
    """The start time of PID in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def is_alive(proc: Proc) -> bool:
    """Whether PROC is still the very process the lab started."""
    return start_time(proc.pid) == proc.started


def record(pid_dir: Path, name: str, pid: int) -> Proc:
    """Write NAME's pid file and return its record."""
    started = start_time(pid)
    if started is None:
        raise LabProcessError(f"{name} (pid {pid}) exited right after it started")
    pid_dir.mkdir(parents=True, exist_ok=True)
    (pid_dir / f"{name}.pid").write_text(f"{pid} {started}\n")
    return Proc(name, pid, started)


def recorded(pid_dir: Path) -> dict[str, Proc]:
    """Every process the lab has recorded, alive or not, by name."""
    procs: dict[str, Proc] = {}
    for path in sorted(pid_dir.glob("*.pid")):
        try:
            pid, started = (int(x) for x in path.read_text().split())
        except ValueError:
            continue
        procs[path.stem] = Proc(path.stem, pid, started)
    return procs


def forget(pid_dir: Path, name: str) -> None:
    """Remove NAME's pid file."""
    (pid_dir / f"{name}.pid").unlink(missing_ok=True)


def run_as(lab: LabLayout) -> str | None:
    """The user to start lab processes as: None when already that user."""
    return lab.user if lab.as_root else None


def ensure_user(lab: LabLayout) -> None:
    """Create the unprivileged lab user when root manages the lab."""
    if not lab.as_root:
        return
    try:
        pwd.getpwnam(lab.user)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--create-home",
                "--home-dir",
                f"/var/lib/{lab.user}",
                "--shell",
                "/bin/sh",
                lab.user,
            ],
            check=True,
            capture_output=True,
        )


def give(lab: LabLayout, *paths: Path) -> None:
    """Make PATHS the lab user's (only needed when root manages the lab)."""
    if not lab.as_root:
        return
    entry = pwd.getpwnam(lab.user)
    for path in paths:
        # A running lab's PostgreSQL removes its temporary files while this walks,
        # and a link is given itself, never what it points at.
        with contextlib.suppress(FileNotFoundError):
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def give_tree(lab: LabLayout) -> None:
    """Make everything under the lab's root the lab user's."""
    if not lab.as_root:
        return
    for top, dirs, files in os.walk(lab.root):
        give(lab, Path(top), *(Path(top) / name for name in dirs + files))


def spawn(
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ARGV in its own session, detached from the terminal, output to LOG."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            user=user,
        )


def stop(proc: Proc, sig: int = signal.SIGTERM, timeout: float = 10.0) -> bool:
    """Signal PROC and wait for it to exit, killing it after TIMEOUT.

    Returns:
        True if the process was running and is now gone.
    """
    if not is_alive(proc):
        return False
    os.kill(proc.pid, sig)
    if not _gone_within(proc, timeout):
        os.kill(proc.pid, signal.SIGKILL)
        _gone_within(proc, timeout)
    _reap(proc.pid)
    return True


def _gone_within(proc: Proc, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    """Collect PID's exit status if it is our own child (else init does it)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_tcp(host: str, port: int, timeout: float, what: str) -> None:
    """Wait until HOST:PORT accepts a connection, or raise LabProcessError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise LabProcessError(
                    f"{what} is not listening on {host}:{port} after {timeout:.0f} s ({exc})"
                ) from exc
            time.sleep(0.05)


def listeners(block: str) -> list[tuple[str, int]]:
    """TCP sockets listening on any address of BLOCK (from /proc/net/tcp)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state != "0A":  # LISTEN
            continue
        hex_addr, hex_port = local.split(":")
        octets = [str(int(hex_addr[i : i + 2], 16)) for i in (6, 4, 2, 0)]
        address = ".".join(octets)
        if address.rsplit(".", 1)[0] == block:
            found.append((address, int(hex_port, 16)))
    return sorted(found)


def tail(path: Path, lines: int = 6) -> str:
    """The last LINES lines of the log at PATH, for an error message; "" if unreadable."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_once(
    lab: LabLayout, name: str, argv: list[str], log: Path, env: dict[str, str], drop: bool = True
) -> None:
    """Spawn NAME unless it already runs, and record its pid.

    With DROP, a lab managed by root starts it as the lab user. The demo
    sites and the mail sink run this project's Python, which may live where
    only the invoking user can read it, so they are started without DROP.
    """
    proc = recorded(lab.pid_dir).get(name)
    if proc is not None and is_alive(proc):
        return
    child = spawn(argv, log, env, user=run_as(lab) if drop else None)
    time.sleep(0.02)
    if child.poll() is not None:
        raise LabProcessError(f"{name} exited at once:\n{tail(log)}")
    record(lab.pid_dir, name, child.pid)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether URL answers 200 within TIMEOUT."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    """Poll CHECK until it holds; after TIMEOUT raise LabProcessError: WHAT, and LOG's tail."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise LabProcessError(
                f"{what} after {timeout:.0f} s\nlast lines of {log}:\n{tail(log)}"
            )
        time.sleep(0.1)
