"""One stream from many files, in time order.

Lines from different boxes arrive in separate batches, so the merge holds
each line a moment (HOLD seconds after it arrived) and releases what is due
sorted by time: lines that arrive within that moment of each other come out
in their timestamps' order. A line held up for longer than that is shown
when it comes, after lines stamped later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter

from console.logs.lines import LogLine

HOLD = 0.5


# The merge order: the line's time, then its arrival order (LogLine's fields 3 and 1).
order: Callable[[LogLine], tuple[float, int]] = itemgetter(3, 1)


class Merger:
    """Holds lines from many files and releases them in time order."""

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self._pending: list[LogLine] = []

    def push(self, lines: Iterable[LogLine]) -> None:
        """Add lines (any files, any order)."""
        self._pending.extend(lines)

    def release(self, now: float | None = None) -> list[LogLine]:
        """The lines that have been held long enough, in time order; all of them if NOW is None."""
        if now is None:
            ready, self._pending = self._pending, []
        else:
            cutoff = now - self.hold
            ready = [line for line in self._pending if line.arrived <= cutoff]
            if not ready:
                return []
            self._pending = [line for line in self._pending if line.arrived > cutoff]
        ready.sort(key=order)
        return ready
