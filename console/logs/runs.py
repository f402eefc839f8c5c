"""Runs: a busy file's lines merged by the second, not line by line.

An access log stamps its lines to the second, so a busy one writes
thousands of lines with the same stamp. For `hotspare logs`, each chunk of a
file is cut into runs of lines with one time, found by bisecting the chunk
(a few dozen stamps read instead of every line), and the runs of all files
are merged. A file's lines keep their order; a run is placed by its time.
Only where a chunk's stamps are missing or out of order is it read line by
line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import NamedTuple

from console.logs.lines import Chunk, Source, texts
from console.logs.stamps import StampReader

HOLD = 0.5
_SHORT = 8  # segments this short are read line by line


class Run(NamedTuple):
    """Consecutive lines of one file with one time."""

    when: float
    seq: int
    source: Source
    texts: list[str]
    cuts: dict[int, int]  # index in `texts` -> bytes cut from that line


order: Callable[[Run], tuple[float, int]] = itemgetter(0, 1)


class RunCutter:
    """Cuts one file's chunks into runs; lines without a stamp take the one before."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.stamps = StampReader()
        self._last: float | None = None

    def cut(self, chunks: Iterable[Chunk], seq: int) -> tuple[list[Run], int]:
        """The runs of CHUNKS, numbered from SEQ; and the next free number."""
        runs: list[Run] = []
        for chunk in chunks:
            lines = texts(chunk)
            changes = self._changes(lines, chunk.arrived)
            ends = [*changes[1:], (len(lines), 0.0)]
            for (start, when), (end, _) in zip(changes, ends, strict=True):
                cuts = (
                    {i - start: n for i, n in chunk.cuts.items() if start <= i < end}
                    if chunk.cuts
                    else {}
                )
                runs.append(Run(when, seq + start, self.source, lines[start:end], cuts))
            seq += len(lines)
        return runs, seq

    def _changes(self, lines: list[str], arrived: float) -> list[tuple[int, float]]:
        """Where the time changes in LINES: (index, time) pairs, the first at index 0."""
        read = self.stamps.read
        first, last = read(lines[0]), read(lines[-1])
        start = first if first is not None else self._last
        changes = [(0, start if start is not None else arrived)]
        if first is None or last is None or last < first:
            self._scan(lines, 1, len(lines) - 1, changes)
        elif last > first:
            self._bisect(lines, 0, len(lines) - 1, first, last, changes)
        self._last = changes[-1][1] if last is None else last
        return changes

    def _bisect(
        self, lines: list[str], lo: int, hi: int, a: float, b: float, out: list[tuple[int, float]]
    ) -> None:
        """Add the changes in (lo, hi], given the times A at lo and B at hi, A < B."""
        if hi - lo <= _SHORT:
            self._scan(lines, lo + 1, hi, out)
            return
        mid = (lo + hi) // 2
        m = self.stamps.read(lines[mid])
        if m is None or not a <= m <= b:
            self._scan(lines, lo + 1, hi, out)
            return
        if a < m:
            self._bisect(lines, lo, mid, a, m, out)
        if m < b:
            self._bisect(lines, mid, hi, m, b, out)

    def _scan(self, lines: list[str], lo: int, hi: int, out: list[tuple[int, float]]) -> None:
        """Add the changes among lines lo..hi, reading each line's stamp."""
        read, current = self.stamps.read, out[-1][1]
        for i in range(lo, hi + 1):
            at = read(lines[i])
            if at is not None and at != current:
                out.append((i, at))
                current = at


class RunMerger:
    """Merges runs from many files into time order as they come.

    A run is released once every file that is still delivering has sent
    lines at least that late (it cannot send anything earlier now), or once it
    has waited HOLD seconds: a busy merge flows at once, a quiet one waits at
    most HOLD for a slower box.
    """

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self._pending: list[tuple[Run, float]] = []
        self._mark: dict[Source, tuple[float, float]] = {}  # latest time, when it came

    def push(self, runs: list[Run], now: float) -> None:
        """Add RUNS of one file, taken at NOW."""
        if not runs:
            return
        self._pending.extend((run, now) for run in runs)
        latest = max(run.when for run in runs)
        before = self._mark.get(runs[0].source, (-math.inf, now))[0]
        self._mark[runs[0].source] = (max(before, latest), now)

    def release(self, now: float | None = None) -> list[Run]:
        """The runs that may be shown now, in time order; all of them if NOW is None."""
        if now is None:
            ready, self._pending = [run for run, _ in self._pending], []
            return sorted(ready, key=order)
        active = [mark for mark, came in self._mark.values() if now - came < self.hold]
        limit = min(active, default=math.inf)
        waited = now - self.hold
        ready = [run for run, came in self._pending if run.when <= limit or came <= waited]
        if ready:
            self._pending = [
                (r, c) for r, c in self._pending if not (r.when <= limit or c <= waited)
            ]
        return sorted(ready, key=order)
