"""The history on the real lab: snapshots the Monitor takes are recorded and read back identical."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console import inventory
from console.history import History, Recording, export
from console.lab.layout import LabLayout
from console.monitor import Monitor
from console.state.model import ClusterState


async def _snapshots(lab: LabLayout, count: int) -> list[ClusterState]:
    monitor = Monitor(inventory.load(lab.cluster_file))
    taken: list[ClusterState] = []
    try:
        while len(taken) < count:
            await monitor.refresh_all()
            state = monitor.snapshot()
            if not taken or state.taken_at > taken[-1].taken_at:
                taken.append(state)
            await asyncio.sleep(0.5)
    finally:
        await monitor.close()
    return taken


@pytest.mark.lab
def test_the_labs_snapshots_read_back_identical(lab: LabLayout, tmp_path: Path) -> None:
    states = asyncio.run(_snapshots(lab, 6))
    assert states[-1].balancer is not None and all(not b.stale for b in states[-1].boxes)
    with History.open(tmp_path / "h", keyframe_every=4) as history:
        for state in states:
            assert history.record(state)
    recording = Recording.open(tmp_path / "h")
    assert recording.notes == [] and recording.cluster == states[0].cluster
    assert [recording.at(s.taken_at) for s in states] == states
    exported = export(recording, tmp_path / "lab.recording.gz")
    assert list(Recording.open(exported.path)) == states
