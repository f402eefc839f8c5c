"""Where the cluster's action lock lives, what its file says, and whether its holder is there.

One file on a box every operator reaches: beside the flags map on the
balancer's box (without a balancer, beside the first database's data
directory, else beside the first node's role file). Its first line is
``hotspare-lock/1 RUN-ID``, its second the holder's record as one JSON line.
Reading it also reads the box's clock and the file's mtime, so the age of
the last heartbeat is measured by one clock whatever the consoles' clocks say.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from console.inventory import Inventory
from console.state.lock import ActionLock, Next, this_console
from console.text import printable

LOCK_NAME = "hotspare-action.lock"
MAGIC = "hotspare-lock/1"
HEARTBEAT = 5.0  # seconds between a running action's rewrites of the lock
GONE_AFTER = 30.0  # a holder silent this long is gone, wherever it runs


def where(inv: Inventory) -> tuple[str, str] | None:
    """(box, path) of the cluster's action lock; None for an inventory with no box to hold it."""
    if inv.balancer is not None:
        folder = posixpath.dirname(inv.balancer.flags_map)
        return inv.balancer.box, posixpath.join(folder, LOCK_NAME)
    if inv.databases:
        db = inv.databases[0]
        return db.box, posixpath.join(posixpath.dirname(db.data_dir.rstrip("/")), LOCK_NAME)
    if inv.web_nodes:
        node = inv.web_nodes[0]
        return node.box, posixpath.join(posixpath.dirname(node.role_file), LOCK_NAME)
    return None


def read_command(path: str) -> str:
    """Prints nothing when there is no lock; else the box's clock, the mtime, the file."""
    quoted = shlex.quote(path)
    return f"if [ -e {quoted} ]; then date +%s; stat -c %Y {quoted}; cat {quoted}; fi"


def parse(text: str) -> ActionLock | None:
    """The lock READ_COMMAND printed, with its holder judged; None when there is none.

    A file that is not a hotspare lock is shown as held by an unknown holder,
    never ignored: it still keeps every action out.
    """
    lines = text.strip().splitlines()
    if len(lines) < 2:
        return None
    try:
        now, mtime = int(lines[0]), int(lines[1])
    except ValueError:
        return None
    age = max(0.0, float(now - mtime))
    body = lines[2:]
    record: dict[str, Any] = {}
    run = ""
    if body and body[0].startswith(MAGIC + " "):
        run = body[0].split(" ", 1)[1].strip()
        try:
            loaded = json.loads(body[1]) if len(body) > 1 else {}
            record = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            record = {}
    return _judged(_from_record(run, record, age), str(record.get("pid_start") or ""))


def _from_record(run: str, record: dict[str, Any], age: float) -> ActionLock:
    def text(key: str, default: str = "?") -> str:
        return printable(str(record.get(key) or default))

    def number(key: str) -> float:
        try:
            return float(record.get(key) or 0)
        except (TypeError, ValueError):
            return 0.0

    nexts = tuple(
        Next(
            printable(str(n.get("command", ""))),
            printable(str(n.get("does", ""))),
            printable(str(n.get("key") or n.get("command", ""))),
        )
        for n in record.get("next") or ()
        if isinstance(n, dict) and n.get("command")
    )
    memo = record.get("memo")
    return ActionLock(
        id=printable(run) or "?",
        who=text("who", "someone"),
        host=text("host"),
        pid=int(number("pid")),
        action=text("action", "an unknown action"),
        target=text("target", ""),
        command=text("command", ""),
        step=int(number("step")),
        steps=int(number("steps")),
        title=text("title", ""),
        since=number("since"),
        age=age,
        next=nexts,
        memo=memo if isinstance(memo, dict) else None,
        stopped=text("stopped", "") if record.get("stopped") in ("paused", "halted") else "",
    )


def _judged(lock: ActionLock, pid_start: str) -> ActionLock:
    """Gone: stopped on purpose, its process on this machine has ended (or is another one
    now), or it is silent."""
    if lock.stopped:
        return replace(lock, gone=f"{lock.stopped} on purpose; its runbook waits")
    if lock.host == this_console()[0] and lock.pid > 0:
        started = process_start(lock.pid)
        if started is None or (pid_start and started != pid_start):
            return replace(lock, gone=f"process {lock.pid} on {lock.host} has ended")
    if lock.age > GONE_AFTER:
        return replace(lock, gone=f"no heartbeat for {lock.age:.0f} s")
    return lock


def process_start(pid: int) -> str | None:
    """The start time of process PID on this machine (clock ticks since boot), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        fields = text.rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


async def read(ask: Callable[[str], Awaitable[str]], path: str) -> ActionLock | None:
    """The lock at PATH, asked through ASK (a shell on its box)."""
    return parse(await ask(read_command(path)))
