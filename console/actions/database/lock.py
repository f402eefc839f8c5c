"""One promotion at a time, whichever console starts it: a lock file on the balancer's box.

Two operators on two jump hosts both see the balancer, so its box holds
the lock; it is taken atomically (the shell's noclobber) and released only
by the run that took it. A console that died mid-promotion leaves the lock,
which names who took it and when: the message says how to remove it.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import socket
import time

from console.actions.audit import operator
from console.actions.context import Context
from console.actions.plan import Check, Step
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.text import one_line, printable

LOCK_NAME = "hotspare-promotion.lock"
HELD = 75  # the exit status the take command gives when the lock is held


def where(inv: Inventory, candidate: Database) -> tuple[str, str]:
    """(box, path) of the lock: beside the flags map on the balancer.

    Without a balancer, beside the candidate's data directory on its box:
    then two operators promoting two different standbys are not kept apart.
    """
    if inv.balancer is not None:
        return inv.balancer.box, posixpath.join(
            posixpath.dirname(inv.balancer.flags_map), LOCK_NAME
        )
    return candidate.box, posixpath.join(
        posixpath.dirname(candidate.data_dir.rstrip("/")), LOCK_NAME
    )


def token(action: str, target: str) -> str:
    """What the lock file says: who, from where, what, since when (one line, no quotes)."""
    who = operator()
    user = str(who.get("user") or "unknown")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    line = f"{user}@{socket.gethostname()} pid {os.getpid()}: {action} {target} since {stamp}"
    return printable(line, also="'\"\\")  # shown in the plan inside '...'


async def _holder(ctx: Context, box: str, path: str) -> str:
    """What the lock file says ('' when there is none)."""
    return (await ctx.run(box, f"cat {shlex.quote(path)} 2>/dev/null")).stdout.strip()


def take(box: str, path: str, mine: str) -> Step:
    """Take the lock, or fail naming who holds it."""
    quoted = shlex.quote(path)
    command = (
        f"(set -C; printf '%s\\n' {shlex.quote(mine)} > {quoted}) 2>/dev/null"
        f" || {{ cat {quoted}; exit {HELD}; }}"
    )

    async def act(ctx: Context) -> str:
        result = await ctx.run(box, command)
        if result.exit_status == HELD:
            holder = one_line(result.stdout, 200) or "(empty lock file)"
            raise ActionError(
                f"another promotion is in progress: {holder}. If that console is gone, "
                f"check the databases, then remove {path} on {box}"
            )
        if result.exit_status != 0:
            said = one_line(result.stderr or result.stdout, 200)
            raise ActionError(f"{box}: cannot create {path}: {said}")
        return f"taken: {path}"

    async def verify(ctx: Context) -> Check:
        held = await _holder(ctx, box, path)
        return Check(
            held == mine, f"{path} names this run" if held == mine else f"it says {held!r}"
        )

    return Step(
        title="Take the promotion lock",
        where=f"ssh {box}",
        command=f"set -C; echo '{mine}' > {path}",
        expects="no other promotion is in progress (no lock file)",
        proves="the lock file names this run",
        act=act,
        verify=verify,
    )


def release(box: str, path: str, mine: str) -> Step:
    """Remove the lock if this run holds it."""
    quoted = shlex.quote(path)
    command = f'[ "$(cat {quoted} 2>/dev/null)" = {shlex.quote(mine)} ] && rm -f {quoted}; true'

    async def act(ctx: Context) -> str:
        await ctx.run(box, command)
        return "released"

    async def verify(ctx: Context) -> Check:
        held = await _holder(ctx, box, path)
        if held == mine:
            return Check(False, f"{path} still names this run")
        return Check(True, f"{path} no longer names this run")

    return Step(
        title="Release the promotion lock",
        where=f"ssh {box}",
        command=f"rm {path} (if it names this run)",
        expects="this run took the lock",
        proves="the lock file is gone (or names another run)",
        act=act,
        verify=verify,
    )
