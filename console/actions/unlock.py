"""`hotspare unlock`: remove the action lock an interrupted action left.

Only a lock whose holder is gone (its process has ended, or it has been
silent longer than the heartbeat limit), unless forced; the operator types
what it was doing ("promote db2"), and the step removes the lock only if it
still names that very run. The site is left as the interrupted run left it:
status said what that is, and the audit log has the run's steps.
"""

from __future__ import annotations

import shlex

from console.actions import lock
from console.actions.context import Context
from console.actions.plan import Check, Plan, Step
from console.inventory import Inventory
from console.probes import lock as found
from console.ssh import BoxError
from console.state.lock import ActionLock
from console.state.model import ClusterState
from console.text import one_line


def plan_unlock(inv: Inventory, state: ClusterState, force: bool = False) -> Plan:
    """The plan to remove the lock STATE shows, if its holder is gone (or FORCE)."""
    held = state.action
    place = found.where(inv)
    if place is None:
        return Plan("unlock", "the site", "cluster.yaml declares no box to hold a lock", ())
    box, path = place
    if held is None:
        if not state.answers(box):
            why = f"{box} does not answer: the action lock cannot be read"
            return Plan("unlock", "the site", "nothing is done", (), (why,))
        return Plan("unlock", "the site", f"no action holds the lock ({path} on {box})", ())
    refusals: tuple[str, ...] = ()
    if held.gone is None and not force:
        refusals = (
            f"{held.describe()}: it is still running. Wait for it, or stop that console; "
            "--force only once you know it is gone",
        )
    summary = (
        f"remove the action lock left by {held.describe()}. The site stays as that run "
        f"left it; then: {held.advice()}"
    )
    return Plan(
        "unlock",
        "the site",
        summary,
        (_remove(box, path, held),),
        refusals,
        held.what,
        "",
    )


def _remove(box: str, path: str, held: ActionLock) -> Step:
    command = lock.if_mine(path, held.id, f"rm -f {shlex.quote(path)}")

    async def act(ctx: Context) -> str:
        result = await ctx.run(box, command, lock.CALL_TIMEOUT)
        if result.exit_status == lock.LOST:
            now = found.parse(result.stdout)
            said = now.describe() if now is not None else "it is gone already"
            return f"the lock no longer names that run: {said}"
        if result.exit_status != 0:
            raise BoxError(box, f"cannot remove {path}: {one_line(result.stdout, 200)}")
        return f"removed {path}"

    async def verify(ctx: Context) -> Check:
        result = await ctx.run(box, found.read_command(path), lock.CALL_TIMEOUT)
        now = found.parse(result.stdout)
        if now is not None and now.id == held.id:
            return Check(False, f"{path} still names {held.what}")
        return Check(True, f"{path} no longer names {held.what} (run {held.id})")

    return Step(
        title=f"Remove the action lock of {held.what} (run {held.id})",
        where=f"ssh {box}",
        command=f"rm {path} (under flock, only if it still names run {held.id})",
        expects=f"the lock still names run {held.id}",
        proves="the lock no longer names that run",
        act=act,
        verify=verify,
    )
