"""A recorded story for the replay's tests: web2 unhealthy for a while, then a switchover.

Moments one second apart from START; web2 answers 503 from moment
UNHEALTHY.start to UNHEALTHY.stop - 1 (an alarm raised, then cleared), and
db2 is the primary from moment SWITCH on (db1 its standby).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.history import History, Recording
from console.state.model import ClusterState
from tests.support.verdict_parts import cluster_state, db, link, nodes_with

START = 1_796_666_400.0  # 2026-12-07 18:00:00 UTC
SWITCH = 300
UNHEALTHY = range(100, 130)


def story(count: int = 400, every: float = 1.0) -> list[ClusterState]:
    """COUNT snapshots EVERY seconds apart, telling the story above."""
    states = []
    for n in range(count):
        changes: dict[str, Any] = {}
        if n >= SWITCH:
            changes["databases"] = (
                db("db1", role="standby", upstream="10.0.0.6"),
                db("db2", standbys=(link("db1"),)),
            )
        if n in UNHEALTHY:
            changes["nodes"] = nodes_with("web2", health_status=503, health_problem="HTTP 503")
        states.append(cluster_state(START + n * every, **changes))
    return states


def recorded(directory: Path, states: list[ClusterState], **options: Any) -> Recording:
    """STATES recorded in DIRECTORY, opened for reading."""
    with History.open(directory, clock=lambda: states[-1].taken_at, **options) as history:
        for state in states:
            assert history.record(state)
    return Recording.open(directory)
