"""Keeping a runbook's record on its box, and the operators' requests to it.

Only the holder of the cluster's action lock writes the record: the new text
goes up by SFTP beside it, then, under the lock's guard and only while the
lock still names this run, it replaces the record, the lock is rewritten
with the step reached, and a pending request (pause, abort) is read and
taken. Any console may leave a request; the runner takes it up at its next
step boundary.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from console.actions import lock
from console.actions.context import Context
from console.errors import ActionError
from console.probes import lock as lock_probe
from console.probes import runbook as found
from console.ssh import BoxError
from console.state.runbook import Runbook, to_record
from console.text import one_line

if TYPE_CHECKING:
    from console.state.lock import ActionLock

REQUEST_TIMEOUT = 12.0


def place(ctx: Context) -> found.Place:
    """Where the runbook is kept. Raises lock.LockRefused when there is no such box."""
    where = found.where(ctx.inv)
    if where is None:
        raise lock.LockRefused("cluster.yaml declares no box to keep a runbook on")
    return where


async def load(ctx: Context) -> tuple[ActionLock | None, Runbook | None]:
    """The lock and the runbook as they are now, judged (with any request pending).

    Raises:
        ActionError: a record is there but is not a runbook (someone edited it?).
    """
    where = place(ctx)
    result = await ctx.run(where.box, found.read_command(where), REQUEST_TIMEOUT)
    read = found.parse(result.stdout)
    if read.broken:
        raise ActionError(
            f"the runbook record {where.record} on {where.box} cannot be read: {read.broken}. "
            "Look at it, then move it aside to start afresh (hotspare keeps no other copy; "
            "`hotspare audit` has every step)"
        )
    held = lock_probe.parse(read.lock_text)
    runbook = found.with_request(read.runbook, read.request)
    return held, runbook.judged(held) if runbook is not None else None


async def sync(
    ctx: Context,
    holding: lock.Holding,
    runbook: Runbook,
    step: int,
    title: str,
    nexts: list[dict[str, str]],
) -> tuple[Runbook, str]:
    """Write RUNBOOK, and step STEP (TITLE) into the lock; the request taken up, or "".

    Raises:
        LockRefused: the lock no longer names this run.
        BoxError: the box does not answer (the run goes on; the record is behind).
    """
    where = place(ctx)
    runbook = replace(runbook, updated=round(time.time(), 3), request="")
    text = json.dumps(to_record(runbook), ensure_ascii=True, separators=(",", ":")) + "\n"
    fresh = f"{where.record}.{holding.run}.new"
    await ctx.write_file(where.box, fresh, text)
    request = shlex.quote(where.request)
    then = (
        f"mv -f {shlex.quote(fresh)} {shlex.quote(where.record)} && "
        f"if [ -e {request} ]; then printf 'request %s\\n' \"$(head -c 40 {request} | head -n1)\"; "
        f"rm -f {request}; fi"
    )
    said = await holding.at_step(ctx, step, title, nexts, then)
    taken = ""
    for line in said.splitlines():
        if line.startswith("request "):
            word = line[8:].strip()
            taken = word if word in found.REQUESTS else ""
    return runbook, taken


async def ask(ctx: Context, what: str) -> str:
    """Leave request WHAT (pause, abort) for the runner; what the box said if it failed, or ""."""
    assert what in found.REQUESTS
    where = place(ctx)
    quoted = shlex.quote(where.request)
    body = f"printf '%s\\n' {shlex.quote(what)} > {quoted}.new && mv -f {quoted}.new {quoted}"
    command = lock.guarded(where.lock, body)
    try:
        result = await ctx.run(where.box, command, REQUEST_TIMEOUT)
    except BoxError as exc:
        return exc.reason
    if result.exit_status != 0:
        return one_line(result.stdout or result.stderr, 200) or f"exit {result.exit_status}"
    return ""
