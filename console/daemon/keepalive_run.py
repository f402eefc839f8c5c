"""Keepalive in the shared monitor: console/keepalive.py decides, this carries it out.

A restart is `hotspare restart NODE` run by the monitor itself through the
same runner as an operator's (console/actions/runner.py): the action lock
first (an operator's action in progress holds keepalive off, and keepalive's
holds the operator's off), the plan built again from a fresh read, every step
verified and audited, the audit and the lock saying "as keepalive". Its
outcome is said in the monitor's log; every console's timeline shows the
lock and the node's states as they change.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.actions import audit
from console.keepalive import Decision, Watch

if TYPE_CHECKING:
    from console.inventory import Inventory
    from console.monitor import Monitor
    from console.state.model import ClusterState

ROLE = "keepalive"


class KeepaliveRun:
    """Feeds snapshots to keepalive's Watch and runs the restarts it decides, one at a time."""

    def __init__(self, inv: Inventory, monitor: Monitor, say: Callable[[str], None]) -> None:
        """Keepalive for INV, judged on the snapshots of MONITOR (the feed's), told to SAY."""
        self.inv = inv
        self.say = say
        self.watch = Watch(inv.keepalive)
        monitor.keepalive = True  # every snapshot says so: the consoles' banners show it
        self._task: asyncio.Task[None] | None = None
        audit.acting_as(f"{ROLE} in the monitor (pid {os.getpid()})")

    def update(self, state: ClusterState) -> None:
        """Note STATE (a new snapshot); start the restart due now, if one is."""
        decision, said = self.watch.judge(self.inv, state)
        for line in said:
            self.say(line)
        if decision is not None:
            self.watch.started(decision.node, state.taken_at)
            self.say(f"keepalive restarts {decision.node}: {decision.why}")
            self._task = asyncio.get_running_loop().create_task(self._restart(decision))

    async def close(self) -> None:
        """Let a restart under way finish (its steps are bounded) before the monitor goes."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _restart(self, decision: Decision) -> None:
        from console.actions import catalog
        from console.actions.audit import AuditLog, default_path
        from console.actions.context import Context
        from console.actions.runner import execute
        from console.authority import Authority
        from console.monitor import Monitor

        action = next(a for a in catalog.ACTIONS if a.words == ("restart",))
        # Connections of its own, as an operator's action has: the feed's monitor cuts a
        # probe short at its deadline (a hung site's box is slow), which must not cut a step.
        monitor = Monitor(self.inv)
        ctx = Context(monitor, say=lambda text: self.say(f"  {decision.node}: {text}"))
        log = AuditLog(default_path(self.inv), self.inv.name)
        request = catalog.request(action, self.inv, decision.node, {})
        authority = Authority.decide(False, self.inv.environment.observer_only, "")
        try:
            plan = request.plan(await monitor.once(10.0))
            outcome = await execute(request, plan, ctx, authority, log)
            said = outcome.reason or outcome.status
            self.say(f"keepalive restart of {decision.node}: {outcome.status} ({said})")
        except Exception as exc:  # said in the log, never the monitor's end
            self.say(f"keepalive restart of {decision.node} failed: {type(exc).__name__}: {exc}")
        finally:
            await ctx.close()
            await monitor.close()
            self.watch.ended(decision.node)
