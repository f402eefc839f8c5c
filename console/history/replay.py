"""Replaying a recording: a time cursor over its moments, and the timeline up to it.

`Replay(recording)` stands at a moment (the last one, at first) and moves
as an operator asks: a moment, a minute, to the next or previous change of
the alarm set, to a time, to either end, or ahead as time plays. `state()`
is the snapshot in force at the cursor, and `timeline()` the events a live
console would have shown up to it, computed from consecutive moments.

The events are computed a chunk of moments at a time (each chunk read once,
in order, then kept), only as far back as the timeline needs: a day at one
moment a second (86,400 moments) is never walked whole before the first
picture. `read_ahead` computes one more chunk, nearest the cursor first,
for a front end to call while the operator is idle.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from console import when
from console.errors import Exit
from console.events import Event, changes, standing
from console.history.lines import HistoryError
from console.history.reading import AlarmChange, Recording, clock
from console.state.model import ClusterState

CHUNK = 60
"""Moments whose events are computed together (about 45 ms of reading on the lab's snapshots)."""
TIMELINE = 500
"""The most events the timeline holds, as the live console's."""
KEPT = 128
"""Snapshots kept decoded: the trends' minute around the cursor, and some."""


class ReplayError(HistoryError):
    """A recording that cannot be replayed, or a cursor move that cannot be made."""

    exit = Exit.USAGE


@dataclass(frozen=True)
class Timeline:
    """The events up to the cursor, oldest first, as a live console would have shown them.

    Attributes:
        events: at most TIMELINE of them, the last ones.
        complete: False when moments before `read_from` have not been read yet:
            older events may be missing (`read_ahead` reads them).
        read_from: the first moment read, when incomplete.
    """

    events: tuple[Event, ...]
    complete: bool = True
    read_from: float | None = None


class Replay:
    """A time cursor over RECORDING.

    Attributes:
        recording: what is replayed.
        position: the moment in force at the cursor (0 the first).
        time: the cursor's time (epoch s): the moment's own, or later when a move
            by time lands between two moments (a gap in the recording).
        interval: the usual time between two moments (the median of the first ones).
    """

    def __init__(self, recording: Recording, chunk: int = CHUNK) -> None:
        """Stand at the last moment of RECORDING.

        Raises:
            ReplayError: the recording holds no moment.
        """
        times = recording.times()
        if not times:
            why = f" ({recording.notes[0]})" if recording.notes else ": nothing to replay yet"
            raise ReplayError(f"{recording.source} holds no moment{why}")
        self.recording = recording
        self._times: Sequence[float] = times
        self._chunk = chunk
        self._alarms = recording.alarm_moments()
        self._alarm_times = [a.at for a in self._alarms]
        self._events: dict[int, tuple[tuple[int, Event], ...]] = {}
        # The snapshots shown lately, by moment: a step back feeds the trends their
        # minute again from here rather than decoding it again.
        self._kept: OrderedDict[int, ClusterState] = OrderedDict()
        gaps = [b - a for a, b in itertools.pairwise(times[:201])]
        self.interval = statistics.median(gaps) if gaps else 1.0
        self.position = len(times) - 1
        self.time = times[-1]

    # Where it stands ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._times)

    @property
    def span(self) -> tuple[float, float]:
        """The first and the last moment."""
        return self._times[0], self._times[-1]

    @property
    def taken_at(self) -> float:
        """The time of the moment in force at the cursor."""
        return self._times[self.position]

    @property
    def age(self) -> float:
        """How much older the moment in force is than the cursor (0 when on a moment)."""
        return max(0.0, self.time - self.taken_at)

    def state(self) -> ClusterState:
        """The snapshot in force at the cursor, as it was.

        Raises:
            HistoryError: that moment cannot be rebuilt (the message names the file and line).
        """
        return self._moment(self.position)

    def recent(self, count: int) -> list[ClusterState]:
        """The snapshots of the last COUNT moments up to the cursor's, oldest first.

        One that cannot be rebuilt is left out, and said in the recording's notes.
        """
        found = []
        for number in range(max(self.position - count + 1, 0), self.position + 1):
            try:
                found.append(self._moment(number))
            except HistoryError as exc:
                self.recording.notes.append(str(exc))
        return found

    def _moment(self, number: int) -> ClusterState:
        if number in self._kept:
            self._kept.move_to_end(number)
            return self._kept[number]
        state = self.recording.moment(number)
        self._kept[number] = state
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return state

    # Moves -------------------------------------------------------------------

    def step(self, moments: int) -> None:
        """Move MOMENTS moments on (back when negative), stopping at either end."""
        self._stand(min(max(self.position + moments, 0), len(self._times) - 1))

    def shift(self, seconds: float) -> None:
        """Move the cursor SECONDS on in time (back when negative), stopping at either end.

        From a moment, a minute on is the moment in force a minute after it: across a
        gap in the recording the cursor moves through the gap, not over it.
        """
        first, last = self.span
        self._at(min(max(self.time + seconds, first), last))

    def first(self) -> None:
        """Stand at the first moment."""
        self._stand(0)

    def last(self) -> None:
        """Stand at the last moment."""
        self._stand(len(self._times) - 1)

    def go(self, at: float) -> None:
        """Stand at time AT: on the moment in force then.

        Raises:
            ReplayError: AT is outside the recording (the message says its span).
        """
        first, last = self.span
        if not first <= at <= last:
            raise ReplayError(
                f"{clock(at)} is outside the recording: it spans {clock(first)} to {clock(last)}"
            )
        self._at(at)

    def next_alarm(self) -> AlarmChange | None:
        """Stand at the next change of the alarm set after the moment shown; None if none."""
        found = bisect.bisect_right(self._alarm_times, self.taken_at)
        if found == len(self._alarms):
            return None
        self._at(self._alarm_times[found])
        return self._alarms[found]

    def previous_alarm(self) -> AlarmChange | None:
        """Stand at the last change of the alarm set before the moment shown; None if none."""
        found = bisect.bisect_left(self._alarm_times, self.taken_at) - 1
        if found < 0:
            return None
        self._at(self._alarm_times[found])
        return self._alarms[found]

    def advance(self, seconds: float) -> bool:
        """Play SECONDS of the recording on; False once the cursor is at the last moment."""
        last = self._times[-1]
        self._at(min(self.time + seconds, last))
        return self.time < last

    def _at(self, at: float) -> None:
        self.position = max(bisect.bisect_right(self._times, at) - 1, 0)
        self.time = max(at, self._times[self.position])

    def _stand(self, position: int) -> None:
        self.position = position
        self.time = self._times[position]

    # The timeline ------------------------------------------------------------

    def timeline(self, limit: int = TIMELINE, budget: int | None = None) -> Timeline:
        """The last LIMIT events up to the cursor, oldest first.

        BUDGET: the most chunks of moments read for this call before the cursor's own,
        which is always read (None: as many as it takes); when it runs out the
        timeline says from when it is complete.
        """
        found: list[Event] = []
        here = number = self.position // self._chunk
        spent = 0
        while number >= 0 and len(found) < limit:
            if number not in self._events:
                if budget is not None and spent >= budget and number != here:
                    read_from = self._times[(number + 1) * self._chunk]
                    return Timeline(tuple(reversed(found[:limit])), False, read_from)
                self._read(number)
                spent += number != here
            chunk = self._events[number]
            found.extend(e for n, e in reversed(chunk) if n <= self.position)
            number -= 1
        return Timeline(tuple(reversed(found[:limit])))

    def read_ahead(self) -> bool:
        """Read one more chunk, the nearest before the cursor first; False once all are read."""
        count = (len(self._times) + self._chunk - 1) // self._chunk
        here = self.position // self._chunk
        for number in (*range(here, -1, -1), *range(here + 1, count)):
            if number not in self._events:
                self._read(number)
                return True
        return False

    def _read(self, number: int) -> None:
        """Compute the events of chunk NUMBER, from the moment before it to its last."""
        start = number * self._chunk
        end = min(start + self._chunk, len(self._times))
        before = self._readable(start - 1) if start > 0 else None
        found: list[tuple[int, Event]] = []
        for moment in range(start, end):
            state = self._readable(moment)
            if state is None:
                continue
            events = changes(before, state) if before is not None else standing(state)
            found.extend((moment, e) for e in events)
            before = state
        self._events[number] = tuple(found)

    def _readable(self, number: int) -> ClusterState | None:
        try:
            return self.recording.moment(number)
        except HistoryError as exc:
            self.recording.notes.append(str(exc))
            return None


def moment_of(text: str, replay: Replay) -> float:
    """The time TEXT names for REPLAY, in the grammar of console/when.py.

    `+5m` and `-5m` count from the cursor. Any other duration counts back from
    the recording's last moment, and a bare clock time is the last one at or
    before it: `10m` is ten minutes before the recording ends, `14:30` the last
    14:30 it holds, wherever and whenever it is replayed.

    Raises:
        WhenError: TEXT is not a time.
    """
    words = text.strip()
    if words[:1] in "+-" and words[1:].strip():
        base = datetime.fromtimestamp(replay.time, UTC)
        return when.parse(words[1:], base, ahead=words[0] == "+").at.timestamp()
    base = datetime.fromtimestamp(replay.span[1], UTC)
    return when.parse(words, base, ahead=False).at.timestamp()
