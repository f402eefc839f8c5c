"""Switching the console to another cluster from the palette, as k9s switches context.

The app does not swap its inventory live: it stops its feed (and so the
monitor and its SSH links), then exits with the inventory to open next;
screens/main.py starts a fresh console on it. Nothing of the old cluster can
then leak into the new one's panels, history or actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.worker import WorkerCancelled, WorkerFailed

from console.inventory import Inventory
from console.monitor import Monitor
from console.text import one_line

FEED_GROUP = "feed"
STOP_TIMEOUT = 5.0


def title(inv: Inventory) -> str:
    """The palette entry that opens INV."""
    return f"Switch to cluster {one_line(inv.name, 40)} ({one_line(inv.environment.label, 20)})"


def commands(
    others: Sequence[Inventory], switch: Callable[[Inventory], Awaitable[None]]
) -> Iterator[SystemCommand]:
    """One palette entry per inventory in OTHERS; choosing one calls SWITCH with it."""
    for inv in others:
        yield SystemCommand(title(inv), f"open {one_line(str(inv.path), 80)}", partial(switch, inv))


async def stop_feed(app: App[Any], monitor: Monitor | None) -> None:
    """Cancel APP's feed worker, wait for it, and close MONITOR; each step bounded.

    The feed closes the monitor itself once it is running, but not when it is
    cancelled during its first refresh: closing again here costs nothing.
    """
    for worker in app.workers.cancel_group(app, FEED_GROUP):
        try:
            await asyncio.wait_for(worker.wait(), STOP_TIMEOUT)
        except (WorkerCancelled, WorkerFailed, TimeoutError):
            # Cancelled is the expected end; a failure or a stuck close must
            # not keep the operator from the other cluster.
            continue
    if monitor is not None:
        try:
            await asyncio.wait_for(monitor.close(), STOP_TIMEOUT)
        except (OSError, TimeoutError):
            return  # the connections die with their event loop anyway
