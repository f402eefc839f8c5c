"""Variants of the lab's inventory for tests: an extra box, other known_hosts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from console.inventory import Inventory, load
from console.lab.layout import LabLayout
from console.monitor import Monitor
from console.state.model import ClusterState

T = TypeVar("T")


def variant(
    lab: LabLayout,
    tmp_path: Path,
    extra_boxes: str = "",
    known_hosts: Path | None = None,
) -> Inventory:
    """The lab's inventory with EXTRA_BOXES (YAML lines) and another known_hosts."""
    text = lab.cluster_file.read_text()
    if extra_boxes:
        text = text.replace("boxes:\n", "boxes:\n" + extra_boxes, 1)
    if known_hosts is not None:
        text = text.replace(f"known_hosts: {lab.known_hosts}", f"known_hosts: {known_hosts}")
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return load(path)


async def _with_monitor(inv: Inventory, use: Callable[[Monitor], Awaitable[T]]) -> T:
    monitor = Monitor(inv, interval=0.5, probe_timeout=3)
    try:
        return await use(monitor)
    finally:
        await monitor.close()


def snapshot(inv: Inventory, deadline: float = 8.0) -> tuple[ClusterState, float]:
    """One complete refresh of INV; returns the snapshot and the seconds it took."""
    start = time.monotonic()
    state = asyncio.run(_with_monitor(inv, lambda m: m.once(deadline)))
    return state, time.monotonic() - start


def snapshot_until(
    inv: Inventory, done: Callable[[ClusterState], bool], timeout: float = 15.0
) -> ClusterState:
    """Refresh INV until DONE(snapshot) holds; fail with the last snapshot if it never does."""

    async def poll(monitor: Monitor) -> ClusterState:
        deadline = time.monotonic() + timeout
        while True:
            state = await monitor.once(5.0)
            if done(state) or time.monotonic() > deadline:
                return state
            await asyncio.sleep(0.3)

    state = asyncio.run(_with_monitor(inv, poll))
    assert done(state), state
    return state
