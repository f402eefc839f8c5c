"""A scripted snapshot source and an app that records what it tells the operator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from console.authority import Authority
from console.state.model import ClusterState
from screens.app import HotspareApp
from tests.support.verdict_parts import INV, cluster_state


class ScriptedFeed:
    """Yields the snapshots a test pushes, in order, then waits for more."""

    def __init__(self, *states: ClusterState) -> None:
        self.queue: asyncio.Queue[ClusterState] = asyncio.Queue()
        for state in states:
            self.queue.put_nowait(state)

    def push(self, state: ClusterState) -> None:
        self.queue.put_nowait(state)

    async def updates(self) -> AsyncGenerator[ClusterState, None]:
        while True:
            yield await self.queue.get()


class RecordingApp(HotspareApp):
    """The real app; its notifications are also kept for the test to read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[str] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.told.append(message)
        super().notify(message, *args, **kwargs)


def console_app(
    *states: ClusterState,
    observer: bool = False,
    screenshot_dir: Path | None = None,
) -> tuple[RecordingApp, ScriptedFeed]:
    """An app over the test inventory, fed STATES (a healthy one by default)."""
    feed = ScriptedFeed(*(states or (cluster_state(),)))
    authority = Authority(True, "started with --observe") if observer else Authority(False)
    app = RecordingApp(INV, feed, authority, screenshot_dir=screenshot_dir, clock=lambda: 100.0)
    return app, feed
