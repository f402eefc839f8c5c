"""The cluster's action lock as the snapshot holds it: who acts, at which step, and whether
they are still there. Pure, no I/O.

The lock file (written by console/actions/lock.py, read by console/probes/lock.py)
names its holder and the step it has reached. A holder whose process has
ended, or whose heartbeat stopped, is gone: its action was interrupted, and
the snapshot says so with the commands that finish or undo it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def this_console() -> tuple[str, int]:
    """This console's host and pid, as a lock names them."""
    return socket.gethostname(), os.getpid()


@dataclass(frozen=True)
class Next:
    """A command that is accepted while the lock is left by an interrupted action.

    Attributes:
        command: as the operator types it.
        does: what it does, in words ("finishes it", "undoes it").
        key: the command's action and target without options, which a new
            run must match to take the lock over.
    """

    command: str
    does: str
    key: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"command": self.command, "does": self.does, "key": self.key or self.command}


@dataclass(frozen=True)
class ActionLock:
    """The lock as found on its box.

    Attributes:
        id: this run's id (the audit records carry it too).
        who: user@host, and the SSH client they came from if any.
        host: the machine the console runs on.
        pid: its process id there.
        action, target: what runs ("promote", "db2").
        command: the command that runs it again (it finishes an interrupted run).
        step, steps, title: the step reached (0 before the first).
        since: epoch seconds the action began.
        age: seconds since the holder last wrote the lock (by the lock box's clock).
        gone: why the holder is taken to be gone, or None while it runs.
        next: what may be run to finish or undo it, in the order to try.
        memo: what the plan needs to resume (the old primary, the mode it set).
        stopped: "paused" or "halted" when a runbook stopped on purpose and kept
            the lock (it counts as gone: only its ways out may take it over).
    """

    id: str
    who: str
    host: str
    pid: int
    action: str
    target: str
    command: str
    step: int
    steps: int
    title: str
    since: float
    age: float
    gone: str | None = None
    next: tuple[Next, ...] = ()
    memo: Mapping[str, Any] | None = None
    stopped: str = ""

    def mine(self) -> bool:
        """Whether this very process holds it (a snapshot may show a run that has ended since)."""
        return (self.host, self.pid) == this_console()

    @property
    def what(self) -> str:
        return f"{self.action} {self.target}".strip()

    def at(self) -> str:
        """'step 6/11 (Stop db1)', or 'before its first step'."""
        if self.step <= 0:
            return "before its first step"
        return f"step {self.step}/{self.steps} ({self.title})"

    def describe(self) -> str:
        """One line: what, where it is, who, since when, and whether it still runs."""
        since = time.strftime("%H:%M:%S", time.localtime(self.since))
        how = "running:" if not self.gone else "interrupted at"
        how = f"{self.stopped} at" if self.stopped else how
        said = f"{self.what} {how} {self.at()}"
        said += f" by {self.who} pid {self.pid} since {since}"
        if self.gone and not self.stopped:
            said += f" ({self.gone})"
        return said

    def advice(self) -> str:
        """What to run next, in words."""
        if not self.next:
            return "check the site, then `hotspare unlock`"
        first = f"run `{self.next[0].command}` ({self.next[0].does})"
        rest = [f"`{n.command}` ({n.does})" for n in self.next[1:]]
        return first + (f"; or {', or '.join(rest)}" if rest else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "who": self.who,
            "host": self.host,
            "pid": self.pid,
            "action": self.action,
            "target": self.target,
            "command": self.command,
            "step": self.step,
            "steps": self.steps,
            "title": self.title,
            "since": self.since,
            "age": round(self.age, 1),
            "running": self.gone is None,
            "gone": self.gone,
            "stopped": self.stopped,
            "next": [n.as_dict() for n in self.next],
        }
