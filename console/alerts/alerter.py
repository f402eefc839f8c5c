"""The monitor's side of alerting: each snapshot in, hook calls started, results reported.

``update`` never waits for a hook: it notes the snapshot's alarm transitions,
asks the Throttle what to tell now, and starts each call as a task of the
running loop. Each call ends within its hook's timeout (the hook is killed
then), and its HookResult goes to ``report`` and to ``recent``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from console.events import alarm_changes
from console.inventory import Alerts
from console.state.model import ClusterState

from .document import document
from .hooks import HookResult, run_hook
from .throttle import Call, Throttle

Runner = Callable[[Sequence[str], bytes, float], Awaitable[HookResult]]
Report = Callable[[HookResult], None]
RECENT = 50
"""Results kept for a status page or `hotspare monitor`'s log."""


class Alerter:
    """Tells the hooks of cluster.yaml's ``alerts`` section of alarm transitions."""

    def __init__(
        self,
        alerts: Alerts,
        report: Report | None = None,
        clock: Callable[[], float] = time.monotonic,
        runner: Runner = run_hook,
    ) -> None:
        """Alert through the hooks of ALERTS.

        Args:
            alerts: the inventory's alerts section.
            report: called with each call's result as it ends (from the loop;
                it must not raise).
            clock: monotonic seconds, for the rate limits (tests pass their own).
            runner: runs one hook; tests may pass another.
        """
        self._throttle = Throttle(alerts, clock)
        self._report = report
        self._runner = runner
        self._before: ClusterState | None = None
        self._tasks: set[asyncio.Task[HookResult]] = set()
        self.recent: deque[HookResult] = deque(maxlen=RECENT)
        self.calls = 0
        self.failures = 0

    def update(self, state: ClusterState) -> tuple[Call, ...]:
        """Note STATE, the monitor's newest snapshot, and start the hook calls due now.

        Call it from the monitor's event loop for every snapshot (with no new
        alarm too: calls held by the rate limits go then). It returns at once.
        The first snapshot's alarms are told as raised (``standing``): a monitor
        just started cannot know what the hooks heard before.
        """
        changes = alarm_changes(self._before, state)
        standing = self._before is None
        self._before = state
        calls = self._throttle.step(changes, state.taken_at, standing)
        for call in calls:
            task = asyncio.get_running_loop().create_task(self._call(call, state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return calls

    @property
    def running(self) -> int:
        """Hook calls under way."""
        return len(self._tasks)

    @property
    def pending(self) -> int:
        """Hook calls owed and held by the rate limits."""
        return self._throttle.pending()

    async def close(self) -> None:
        """Wait for the calls under way (each ends by its hook's timeout)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _call(self, call: Call, state: ClusterState) -> HookResult:
        doc = document(
            call.change,
            state.cluster,
            state.environment,
            call.at,
            call.suppressed,
            call.queued,
            call.standing,
        )
        payload = (json.dumps(doc) + "\n").encode()
        try:
            result = await self._runner(call.hook.command, payload, call.hook.timeout)
        except Exception as exc:  # a runner must not raise; if it does, it is a result too
            result = HookResult(call.hook.command, False, None, f"could not run: {exc!r}", 0.0)
        result = replace(result, code=call.change.alarm.code, transition=call.change.transition)
        self.calls += 1
        self.failures += not result.ok
        self.recent.append(result)
        if self._report is not None:
            self._report(result)
        return result
