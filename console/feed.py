"""A stream of snapshots for a front end that keeps watching (TUI, status --watch)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Protocol

from console.monitor import Monitor
from console.state.model import ClusterState


class SnapshotSource(Protocol):
    """Anything that yields snapshots: the Feed, or a scripted one in tests."""

    def updates(self) -> AsyncGenerator[ClusterState, None]:
        """Snapshots until the consumer stops."""
        ...


class Feed:
    """Runs a Monitor and hands out a snapshot every `every` seconds."""

    def __init__(self, monitor: Monitor, every: float = 1.0, first_deadline: float = 8.0) -> None:
        self.monitor = monitor
        self.every = every
        self.first_deadline = first_deadline

    async def updates(self) -> AsyncGenerator[ClusterState, None]:
        """Snapshots until the consumer stops; the first is a complete refresh."""
        await self.monitor.refresh_all(self.first_deadline)
        runner = asyncio.create_task(self.monitor.run())
        try:
            while True:
                yield self.monitor.snapshot()
                await asyncio.sleep(self.every)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await self.monitor.close()
