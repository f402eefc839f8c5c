"""Faults the tests and benchmarks inject into a lab, by pid, never by name.

A Patroni member's box "dying": its Patroni and its postmaster killed with
SIGKILL, so neither renews, stops cleanly nor demotes anything. The pids
are the lab's own records (the pid file the lab wrote for Patroni, and
PostgreSQL's postmaster.pid checked against the process's command line).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from console.lab import procs
from console.lab.layout import LabLayout
from console.lab.procs import LabProcessError


def postmaster_pid(lab: LabLayout, member: str) -> int:
    """MEMBER's postmaster, from postmaster.pid, checked to be the one running its data dir."""
    data = lab.data_dir(member)
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        raise LabProcessError(f"{member}: no running postmaster in {data}/postmaster.pid") from None
    if str(data).encode() not in argv:
        raise LabProcessError(f"{member}: pid {pid} of postmaster.pid is not its postmaster")
    return pid


def kill_member(lab: LabLayout, member: str) -> tuple[int, int]:
    """SIGKILL MEMBER's Patroni, then its postmaster, as if its box died; their pids."""
    proc = procs.recorded(lab.pid_dir).get(f"patroni-{member}")
    if proc is None or not procs.is_alive(proc):
        raise LabProcessError(f"{member}: its Patroni is not running (patroni-{member}.pid)")
    pid = postmaster_pid(lab, member)
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    return proc.pid, pid
