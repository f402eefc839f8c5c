"""One action at a time per cluster: the action lock, as its holder takes, updates and releases it.

The lock is a file on a box every operator reaches (console/probes/lock.py
says where and how it reads). Every change to it runs under flock(1) on a
guard file beside it, so taking, taking over, rewriting and removing are
each atomic even between consoles on different jump hosts. A holder
rewrites it at each step and every few seconds between (its heartbeat);
another console judges it gone when its process has ended or it has been
silent too long, and then only a command that finishes or undoes the
interrupted action (or `hotspare unlock`) may take it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from console.actions.audit import operator
from console.actions.context import Context
from console.probes import lock as found
from console.ssh import BoxError
from console.state.lock import ActionLock, this_console
from console.text import one_line, printable

HELD = 75  # the lock names another run
BUSY = 76  # the guard stayed taken (another console is changing the lock right now)
LOST = 77  # the lock no longer names this run
GUARD_WAIT = 5  # seconds flock waits for the guard
CALL_TIMEOUT = 12.0


class LockRefused(Exception):
    """The lock cannot be taken; says by whom or why, in an operator's words."""

    def __init__(self, reason: str, holder: ActionLock | None = None) -> None:
        super().__init__(reason)
        self.holder = holder


def guarded(path: str, body: str) -> str:
    guard = shlex.quote(path + ".guard")
    return (
        f"exec 9>>{guard} && flock -w {GUARD_WAIT} 9 || "
        f"{{ echo 'the guard {path}.guard stayed busy'; exit {BUSY}; }}\n{body}"
    )


def _first_line(run: str) -> str:
    return shlex.quote(f"{found.MAGIC} {run}")


def _write(path: str, run: str, record: dict[str, Any]) -> str:
    quoted = shlex.quote(path)
    line = json.dumps(record, ensure_ascii=True, separators=(",", ":"))
    return (
        f"printf '%s\\n%s\\n' {_first_line(run)} {shlex.quote(line)} > {quoted}.new"
        f" && mv -f {quoted}.new {quoted}"
    )


def take_command(path: str, run: str, record: dict[str, Any], replacing: str | None) -> str:
    """Create the lock, or replace the one of run REPLACING; else print it and exit HELD."""
    quoted = shlex.quote(path)
    expected = _first_line(replacing) if replacing else "''"
    body = (
        f'if [ -e {quoted} ] && [ "$(head -n1 {quoted})" != {expected} ]; then '
        f"{found.read_command(path)}; exit {HELD}; fi\n{_write(path, run, record)}"
    )
    return guarded(path, body)


def if_mine(path: str, run: str, then: str) -> str:
    quoted = shlex.quote(path)
    return guarded(
        path,
        f'if [ "$(head -n1 {quoted} 2>/dev/null)" != {_first_line(run)} ]; then '
        f"{found.read_command(path)}; exit {LOST}; fi\n{then}",
    )


def who() -> str:
    """user@host, and where they came from over SSH."""
    said = operator()
    text = f"{said.get('user') or 'unknown'}@{socket.gethostname()}"
    if said.get("ssh_client"):
        text += f" (from {said['ssh_client']})"
    if said.get("as"):
        text += f" as {said['as']}"
    return printable(text)


@dataclass
class Holding:
    """The lock this run holds, and the record it keeps rewriting."""

    box: str
    path: str
    run: str
    record: dict[str, Any]
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)
    _beat: asyncio.Task[None] | None = None
    lost: str | None = None

    async def at_step(
        self, ctx: Context, n: int, title: str, nexts: list[dict[str, str]], then: str = ""
    ) -> str:
        """Record that step N (TITLE) begins, with what would finish or undo the run there.

        THEN: shell commands run in the same call, still under the guard and only
        while the lock is this run's; what they print is returned.

        Raises:
            LockRefused: the lock no longer names this run (someone took it over).
        """
        self.record.update(step=n, title=title, next=nexts)
        return await self._rewrite(ctx, then)

    async def leave(self, ctx: Context, stopped: str, nexts: list[dict[str, str]]) -> str | None:
        """Stop here but keep the lock: a paused or halted runbook's, marked STOPPED.

        Other consoles then see it as not running (nothing beats) and accept only
        NEXTS; the problem, or None.
        """
        await self._stop_beating()
        self.record.update(stopped=stopped, next=nexts)
        try:
            await self._rewrite(ctx)
        except (BoxError, LockRefused) as exc:
            return f"the action lock {self.path} on {self.box} was not marked {stopped}: {exc}"
        self.lost = "left"  # release() leaves it as it is
        return None

    async def _rewrite(self, ctx: Context, then: str = "") -> str:
        async with self._writing:
            body = _write(self.path, self.run, self.record) + (f"\n{then}" if then else "")
            command = if_mine(self.path, self.run, body)
            result = await ctx.run(self.box, command, CALL_TIMEOUT)
        if result.exit_status == LOST:
            now = found.parse(result.stdout)
            self.lost = (
                f"the action lock was taken over: {now.describe()}"
                if now is not None
                else "the action lock was removed (hotspare unlock?)"
            )
            raise LockRefused(self.lost, now)
        if result.exit_status != 0:
            said = one_line(result.stdout or result.stderr, 200)
            raise BoxError(self.box, f"cannot rewrite {self.path}: {said}")
        return result.stdout

    def beat(self, ctx: Context) -> None:
        """Rewrite the lock every HEARTBEAT s until released, so others see this run is alive."""

        async def loop() -> None:
            while self.lost is None:
                await asyncio.sleep(found.HEARTBEAT)
                with contextlib.suppress(BoxError, LockRefused):
                    await self._rewrite(ctx)

        self._beat = asyncio.create_task(loop(), name="action-lock-heartbeat")

    async def _stop_beating(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None

    async def release(self, ctx: Context) -> str | None:
        """Remove the lock if it still names this run; the problem, or None."""
        await self._stop_beating()
        if self.lost is not None:
            return None
        quoted = shlex.quote(self.path)
        try:
            result = await ctx.run(
                self.box, if_mine(self.path, self.run, f"rm -f {quoted}"), CALL_TIMEOUT
            )
        except BoxError as exc:
            return f"the action lock {self.path} on {self.box} is left: {exc.reason}"
        if result.exit_status not in (0, LOST):
            said = one_line(result.stdout or result.stderr, 200)
            return f"cannot remove the action lock {self.path} on {self.box}: {said}"
        return None


def record(
    action: str, target: str, command: str, steps: int, nexts: list[dict[str, str]]
) -> dict[str, Any]:
    """What the lock says about a run that begins now (NEXTS: what would finish it)."""
    host, pid = this_console()
    return {
        "who": who(),
        "host": host,
        "pid": pid,
        "pid_start": found.process_start(pid) or "",
        "action": action,
        "target": target,
        "command": command,
        "step": 0,
        "steps": steps,
        "title": "",
        "since": round(time.time(), 3),
        "next": nexts,
        "memo": {},
    }


async def take(ctx: Context, fields: dict[str, Any], key: str) -> tuple[Holding, ActionLock | None]:
    """Take the cluster's action lock for a run described by FIELDS, whose command is KEY.

    A lock left by an interrupted run is taken over when KEY is one of the
    commands it names as finishing or undoing it; the interrupted run is returned.

    Raises:
        LockRefused: another run holds it (still running, or interrupted and
            KEY is not one of its ways out); nothing was changed.
        BoxError: the lock's box does not answer.
    """
    place = found.where(ctx.inv)
    if place is None:
        raise LockRefused("cluster.yaml declares no box to hold the action lock")
    box, path = place
    run = uuid.uuid4().hex[:12]
    replacing: ActionLock | None = None
    for _ in range(3):
        command = take_command(path, run, fields, replacing.id if replacing else None)
        result = await ctx.run(box, command, CALL_TIMEOUT)
        if result.exit_status == 0:
            holding = Holding(box, path, run, fields)
            holding.beat(ctx)
            return holding, replacing
        if result.exit_status != HELD:
            said = one_line(result.stdout or result.stderr, 200) or f"exit {result.exit_status}"
            raise BoxError(box, f"cannot take the action lock {path}: {said}")
        holder = found.parse(result.stdout)
        if holder is None:
            continue  # released between the test and the read: try again
        if holder.gone is None:
            raise LockRefused(f"another action is running: {holder.describe()}", holder)
        if not any(n.key == key for n in holder.next):
            raise LockRefused(
                f"an interrupted action holds the lock: {holder.describe()}. {holder.advice()}",
                holder,
            )
        replacing = holder
    raise LockRefused(f"the action lock {path} on {box} keeps changing; try again")
