"""Snapshots for the history's tests and bench: a steady site, changed the way a lab changes.

Between two refreshes of a quiet lab (two `status --json` 2 s apart), what
changes is the clocks (taken_at, observed_at, last_ok), each box's age and
round trip, the balancer's check durations and ages, each node's health
latency, load, free memory and log sizes and ages, and the databases' WAL
positions, lag and connections. `steady` makes that happen to any
snapshot, the same way every run (a seeded generator).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from console.state import codec
from console.state.model import ClusterState

CLOCKS = {"taken_at", "observed_at", "last_ok", "last_replayed_commit"}
AGES = {"last_change_s", "age_s"}
JITTER = {"age": 0.1, "rtt_ms": 8.0, "health_latency_ms": 25.0, "check_duration_ms": 15}
LSNS = {"current_lsn", "receive_lsn", "replay_lsn", "sent_lsn", "write_lsn", "flush_lsn"}
LSNS |= {"restart_lsn"}


def steady(
    base: ClusterState, count: int, every: float = 2.0, seed: int = 7
) -> Iterator[ClusterState]:
    """COUNT snapshots after BASE, EVERY seconds apart, each a quiet refresh of the one before."""
    chance = random.Random(seed)
    document = codec.encode(base)
    for _ in range(count):
        document = _refresh(document, every, chance)
        yield codec.decode(document)


def _refresh(value: Any, every: float, chance: random.Random, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _refresh(v, every, chance, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if key == "load" and len(value) == 3:
            return [round(chance.uniform(0.0, 3.0), 2) for _ in value]
        return [_refresh(v, every, chance, key) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if key in CLOCKS and isinstance(value, float):
        return value + every + chance.uniform(-0.05, 0.05)
    if key in AGES and isinstance(value, int | float):
        return type(value)(value + every)
    if key in JITTER and isinstance(value, int | float):
        drawn = chance.uniform(0.0, JITTER[key])
        return round(drawn, 3) if isinstance(value, float) else int(drawn)
    if key == "size" and isinstance(value, int):
        return value + chance.randrange(0, 600)
    if key == "mem_available_kb" and isinstance(value, int):
        return value + chance.randrange(-20000, 20000)
    if key == "replay_lag_s" and isinstance(value, float):
        return round(chance.uniform(0.0, 0.3), 6)
    if key in LSNS and isinstance(value, str) and "/" in value:
        high, low = value.split("/")
        return f"{high}/{int(low, 16) + chance.randrange(0, 0x3000):X}"
    if key == "connections" and isinstance(value, int):
        return chance.randrange(0, 3)
    return value
