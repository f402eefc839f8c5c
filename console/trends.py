"""Small trends of the last minute: what an operator would rather look at than read.

`Trends` keeps a bounded ring of recent values per series, fed with every
snapshot in order: the frontend's requests/s and 5xx/s, each web node's
health latency and each standby's replay lag. `sparkline` draws a series as
block characters. Front ends show them; nothing here imports textual.

Each snapshot adds one point to a series: its value, or a gap (None) when
the data behind it is stale or unknown, so a hole in the picture shows as a
hole in the line. The lag is the standby's own replay lag in seconds (0 when
it has replayed all it received): time behind is what an operator reads and
what a failover loses, and unlike bytes it does not depend on how much the
site writes; it is known while the primary is down, when it matters most.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from console.state.balancer import BalancerState
from console.state.model import ClusterState

POINTS = 30
"""Points kept per series: a minute of snapshots at one every 2 s."""

BLOCKS = "▁▂▃▄▅▆▇█"

Series = tuple[float | None, ...]


class Trends:
    """The recent values of every series, fed one snapshot at a time, in order.

    A front end that jumps in time (a replay's cursor) calls `reset` and then
    `add` with the snapshots before its cursor.
    """

    def __init__(self, points: int = POINTS) -> None:
        self.points = points
        self._series: dict[str, deque[float | None]] = {}
        self._counters: dict[tuple[str, str], int] = {}
        self._counted_at: float | None = None  # the balancer observation counted last

    def reset(self) -> None:
        """Forget every point and counter."""
        self._series.clear()
        self._counters.clear()
        self._counted_at = None

    def add(self, state: ClusterState) -> None:
        """Add STATE's points: one per series (a value or a gap), none when nothing new."""
        self._balancer(state)
        for node in state.nodes:
            fresh = state.answers(node.box)
            self._point(f"latency:{node.name}", node.health_latency_ms if fresh else None)
        for db in state.databases:
            key = f"lag:{db.name}"
            if db.role == "primary":
                self._series.pop(key, None)  # a primary has no lag: its old line is over
            elif db.role == "standby" and state.answers(db.box):
                self._point(key, db.replay_lag_s)
            else:
                self._point(key, None)

    def requests(self) -> Series:
        """The frontend's requests per second, oldest first."""
        return self._get("requests")

    def errors(self) -> Series:
        """The 5xx responses per second over every server, oldest first."""
        return self._get("errors")

    def latency(self, node: str) -> Series:
        """Web node NODE's health check latency in milliseconds, oldest first."""
        return self._get(f"latency:{node}")

    def lag(self, database: str) -> Series:
        """Standby DATABASE's replay lag in seconds, oldest first (() for a primary)."""
        return self._get(f"lag:{database}")

    def _get(self, key: str) -> Series:
        return tuple(self._series.get(key, ()))

    def _point(self, key: str, value: float | None) -> None:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = deque(maxlen=self.points)
        series.append(value)

    def _balancer(self, state: ClusterState) -> None:
        lb = state.balancer
        if lb is None:
            return
        if lb.problem is not None or not state.answers(lb.box):
            # The last known picture, repeated: a gap, and the counters wait for fresh ones.
            self._point("requests", None)
            self._point("errors", None)
            return
        if self._counted_at is not None and lb.observed_at <= self._counted_at:
            return  # the same observation again: nothing new to draw
        self._point("requests", float(lb.frontend_request_rate))
        self._point("errors", self._error_rate(lb))

    def _error_rate(self, lb: BalancerState) -> float | None:
        """5xx/s since the last observation counted; None at the first and after a restart."""
        counters = {(lb.in_backend(s), s.name): s.http_5xx for s in lb.servers}
        before, since = self._counters, self._counted_at
        self._counters, self._counted_at = counters, lb.observed_at
        if since is None:
            return None
        common = counters.keys() & before.keys()
        if any(counters[k] < before[k] for k in common):
            return None  # a counter went down: HAProxy restarted, the interval is unknown
        return sum(counters[k] - before[k] for k in common) / (lb.observed_at - since)


def sparkline(
    values: Sequence[float | None], width: int, floor: float, doubling: bool = False
) -> str:
    """VALUES' last WIDTH points as block characters, right-aligned, spaces before them.

    The scale runs from 0 to the largest value, or to FLOOR when they are all
    below it, so a flat line looks flat and small jitter stays low; zero is
    the lowest block and any other value at least one step above it; a gap
    (None) is a space. DOUBLING draws a fixed scale instead, one block per
    doubling: up to FLOOR the lowest block, up to twice FLOOR the next, and
    so on (a latency: one block higher is twice as slow, jitter stays flat).
    """
    shown = list(values)[-width:] if width > 0 else []
    top = max([floor, *(v for v in shown if v is not None)])
    line = []
    for value in shown:
        if value is None:
            line.append(" ")
        elif doubling:
            line.append(BLOCKS[_doublings(value, floor)])
        elif value <= 0 or top <= 0:
            line.append(BLOCKS[0])
        else:
            step = min(len(BLOCKS) - 1, max(1, round(value / top * (len(BLOCKS) - 1))))
            line.append(BLOCKS[step])
    return "".join(line).rjust(width)


def _doublings(value: float, floor: float) -> int:
    """How many times VALUE doubles FLOOR (0 up to FLOOR), at most the top block's."""
    step = 0
    while value > floor * 2**step and step < len(BLOCKS) - 1:
        step += 1
    return step
