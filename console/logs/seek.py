"""Finding a time or a pattern in log lines, and merging late lines in. Pure.

Lines of one file are not always in time order (a line is stamped when its
request began, written when it ended; a backlog can follow lines written with
old stamps), so a list kept in time order is bisected, any other searched.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Collection, Sequence

from console.logs.lines import Kind, LogLine, order


def merged(kept: list[LogLine], sorted_new: Sequence[LogLine]) -> list[LogLine]:
    """KEPT (in time order) with SORTED_NEW merged in, re-sorting only the tail they reach
    (timsort merges two sorted runs in one pass; nothing is shifted once per line)."""
    at = bisect.bisect(kept, order(sorted_new[0]), key=order)
    kept[at:] = sorted([*kept[at:], *sorted_new], key=order)
    return kept


def index_at(lines: Sequence[LogLine], when: float, ordered: bool, nearest: bool = False) -> int:
    """The line nearest in time at or after WHEN (the last line if none is).

    ORDERED: LINES are in time order and are bisected. NEAREST: the line
    nearest WHEN on either side (after it on a tie).
    """
    if ordered and lines:
        at = min(bisect.bisect_left(lines, (when, -1 << 62), key=order), len(lines) - 1)
        if nearest and at > 0 and abs(lines[at - 1].when - when) < abs(lines[at].when - when):
            at -= 1
        return at
    best, best_when = len(lines) - 1, float("inf")
    for i, line in enumerate(lines):
        if when <= line.when < best_when:
            best, best_when = i, line.when
    return max(0, best)


def find(
    lines: Sequence[LogLine], pattern: re.Pattern[str], start: int | None, forward: bool
) -> tuple[int, bool] | None:
    """The next (or previous) line after START matching PATTERN, and whether the search
    wrapped around the end to find it; None if no line matches. START None: from the end."""
    count = len(lines)
    if not count:
        return None
    if start is None:
        start = count - 1 if forward else count
    step = 1 if forward else -1
    for n in range(1, count + 1):
        i = (start + step * n) % count
        if pattern.search(lines[i].text):
            return i, (i <= start) if forward else (i >= start)
    return None


def keeper(
    kinds: Collection[Kind], pattern: re.Pattern[str] | None, invert: bool
) -> Callable[[LogLine], bool]:
    """Whether a line is shown: of one of KINDS, and matching PATTERN (not, if INVERT).
    A notice (a file rotated, truncated, gone) is always shown."""

    def keep(line: LogLine) -> bool:
        if line.source.kind not in kinds:
            return False
        if pattern is None or line.notice:
            return True
        return (pattern.search(line.text) is None) == invert

    return keep
