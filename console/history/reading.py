"""Reading a recording: the snapshot in force at any moment, without loading the whole of it.

`Recording.open` takes a history directory or one exported file. It reads
every line once to index it (each moment's time, and where its keyframe
is), keeping a few numbers a moment; `at(t)` then reads one keyframe and
the patches after it. A torn last line (the monitor killed mid-write) and
a damaged line are skipped, each with a note naming the file and line; so
are the moments after a damaged line up to the next keyframe, which could
not be rebuilt without it. `notes` lists them.
"""

from __future__ import annotations

import bisect
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.history import lines, patch, segments
from console.history.lines import KEYFRAME_EVERY, AlarmKey, HistoryError, Record
from console.history.segments import Segment
from console.state import codec
from console.state.model import ClusterState

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class AlarmChange:
    """A moment the alarm set changed: what was raised, what cleared, and the set after."""

    at: float
    raised: tuple[AlarmKey, ...]
    cleared: tuple[AlarmKey, ...]
    alarms: tuple[AlarmKey, ...]


def clock(at: float) -> str:
    """AT as a message shows a moment: 2026-12-07 18:00:02 UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


class Recording:
    """A recording open for reading: a history directory or an exported file.

    Attributes:
        source: what was opened.
        cluster: the cluster its header names (None if it had no header).
        notes: what was skipped while indexing or reading, file and line each.
    """

    def __init__(self, source: Path, files: list[Segment]) -> None:
        self.source = source
        self.cluster: str | None = None
        self.notes: list[str] = []
        self._files = files
        self._keyframe_every = KEYFRAME_EVERY
        self._times = array("d")
        self._file = array("i")
        self._block = array("q")
        self._index = array("i")  # the keyframe's place among the lines read from its block
        self._step = array("i")  # lines after the keyframe
        self._number = array("i")  # the moment's line number in its file
        self._alarms: list[AlarmChange] = []
        self._group: tuple[tuple[int, int, int], list[bytes]] | None = None
        self._last: tuple[int, dict[str, Any]] | None = None

    @classmethod
    def open(cls, source: Path | str) -> Recording:
        """Open and index SOURCE: a history directory, one of its segments, or an exported file.

        Raises:
            HistoryError: SOURCE is not there or cannot be read.
        """
        where = Path(source)
        try:
            if where.is_dir():
                files = segments.listing(where)
            elif where.is_file():
                files = [segments.segment_of(where) or _loose(where)]
            else:
                raise HistoryError(f"no recording at {where}: give a history directory or a file")
        except OSError as exc:
            raise HistoryError(f"cannot read the recording {where}: {exc.strerror}") from exc
        recording = cls(where, files)
        for number, segment in enumerate(files):
            recording._index_file(number, segment)
        return recording

    def __len__(self) -> int:
        return len(self._times)

    def times(self) -> Sequence[float]:
        """The moments recorded (taken_at of each snapshot), in order."""
        return self._times

    @property
    def span(self) -> tuple[float, float] | None:
        """The first and the last moment recorded, or None when there is none."""
        return (self._times[0], self._times[-1]) if self._times else None

    def alarm_moments(self) -> tuple[AlarmChange, ...]:
        """The moments the alarm set changed, in order (from the index: nothing is decoded)."""
        return tuple(self._alarms)

    def at(self, moment: float) -> ClusterState:
        """The snapshot in force at MOMENT: the last one taken at or before it.

        Raises:
            HistoryError: MOMENT is before the first one, or that snapshot cannot
                be rebuilt (the message names the file and line).
        """
        found = bisect.bisect_right(self._times, moment) - 1
        if found < 0:
            first = f": it begins at {clock(self._times[0])}" if self._times else ""
            raise HistoryError(f"{clock(moment)} is before the recording{first}")
        return self.moment(found)

    def moment(self, number: int) -> ClusterState:
        """The NUMBERth snapshot recorded (0 the first), as it was.

        Raises:
            HistoryError: it cannot be rebuilt; the message names the file and line.
        """
        document = self.document(number)
        try:
            return codec.decode(document)
        except codec.SnapshotError as exc:
            raise HistoryError(f"{self._place(number)}: not a snapshot: {exc}") from None

    def __iter__(self) -> Iterator[ClusterState]:
        return self.moments()

    def moments(
        self, start: float | None = None, end: float | None = None
    ) -> Iterator[ClusterState]:
        """The snapshots from START to END (both included; the whole recording by default).

        One that cannot be rebuilt is skipped, and said in `notes`.
        """
        for number in self._range(start, end):
            try:
                yield self.moment(number)
            except HistoryError as exc:
                self.notes.append(str(exc))

    def documents(
        self, start: float | None = None, end: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """As moments(), the encoded documents (`status --json`), not decoded."""
        for number in self._range(start, end):
            try:
                yield self.document(number)
            except HistoryError as exc:
                self.notes.append(str(exc))

    def _range(self, start: float | None, end: float | None) -> range:
        first = 0 if start is None else bisect.bisect_left(self._times, start)
        last = len(self._times) if end is None else bisect.bisect_right(self._times, end)
        return range(first, last)

    def document(self, number: int) -> dict[str, Any]:
        """The NUMBERth snapshot as its encoded document (its keyframe, its patches applied)."""
        key = (self._file[number], self._block[number], self._index[number])
        step = self._step[number]
        start, document = 0, None
        same = self._group is not None and self._group[0] == key
        if same and self._last is not None and self._last[0] <= step:
            start, document = self._last[0] + 1, self._last[1]
        group = self._read(key, step)
        first_line = self._number[number] - step
        # From a keyframe parsed here the document is ours to change in place; from the
        # last one handed out, each container touched is copied once.
        copied: dict[int, Any] | None = None if document is None else {}
        for offset in range(start, step + 1):
            raw = group[offset]
            document = self._rebuilt(document, raw, first_line + offset, key[0], copied)
        assert document is not None
        self._last = (step, document)
        return document

    def _read(self, key: tuple[int, int, int], step: int) -> list[bytes]:
        if self._group is not None and self._group[0] == key and len(self._group[1]) > step:
            return self._group[1]
        segment = self._files[key[0]]
        count = max(step + 1, self._keyframe_every)
        try:
            group = segments.read(segment.path, segment.compressed, key[1], key[2], count)
        except (OSError, HistoryError) as exc:
            raise HistoryError(
                f"cannot read {segment.path} ({exc}): pruned or closed since the recording "
                "was opened? Open it again"
            ) from None
        if len(group) <= step:
            raise HistoryError(f"{segment.path}: shorter than when it was indexed: open it again")
        self._group, self._last = (key, group), None
        return group

    def _rebuilt(
        self,
        document: dict[str, Any] | None,
        raw: bytes,
        line: int,
        file: int,
        copied: dict[int, Any] | None,
    ) -> dict[str, Any]:
        where = f"{self._files[file].path} line {line}"
        try:
            record = lines.parse(raw)
            if not isinstance(record, Record):
                raise ValueError("a header where a snapshot was indexed")
            if record.keyframe is not None:
                return record.keyframe
            rebuilt = patch.apply(document, record.operations, owned=copied is None, copied=copied)
        except ValueError as exc:  # PatchError is one
            raise HistoryError(f"{where}: {exc}") from None
        if not isinstance(rebuilt, dict):
            raise HistoryError(f"{where}: the patch leaves no snapshot")
        return rebuilt

    def _place(self, number: int) -> str:
        path = self._files[self._file[number]].path
        return f"{path} line {self._number[number]} ({clock(self._times[number])})"

    def _index_file(self, number: int, segment: Segment) -> None:
        name = segment.path
        group: tuple[int, int] | None = None
        step = 0
        alarms = self._alarms[-1].alarms if self._alarms else ()
        try:
            for line in segments.scan(segment.path, segment.compressed):
                if line.torn:
                    self.notes.append(
                        f"{name} line {line.number}: a torn last line (a write cut short, "
                        "the monitor stopped mid-write): skipped"
                    )
                    break
                try:
                    parsed = lines.parse(line.raw)
                except ValueError as exc:
                    self.notes.append(
                        f"{name} line {line.number}: {exc}; skipped, with the moments "
                        "after it up to the next keyframe"
                    )
                    group = None
                    continue
                if isinstance(parsed, dict):
                    self._header(parsed, name)
                    continue
                if parsed.keyframe is not None:
                    group, step = (line.block, line.index), 0
                    parsed = Record(
                        parsed.at, parsed.keyframe, None, lines.alarm_set(parsed.keyframe)
                    )
                elif group is None:
                    continue  # after a damaged line, already said
                else:
                    step += 1
                if self._times and parsed.at <= self._times[-1]:
                    self.notes.append(
                        f"{name} line {line.number}: {clock(parsed.at)} is not after the moment "
                        "before it: skipped"
                    )
                    continue
                self._add(parsed, number, group, step, line.number)
                alarms = self._alarm_change(parsed, alarms)
        except (OSError, HistoryError) as exc:
            self.notes.append(f"{name}: {exc}; the rest of the file is skipped")

    def _header(self, fields: dict[str, Any], name: Path) -> None:
        cluster = fields.get("cluster")
        if isinstance(cluster, str):
            if self.cluster is not None and cluster != self.cluster:
                self.notes.append(f"{name}: cluster {cluster!r:.40}, not {self.cluster!r:.40}")
            self.cluster = cluster
        every = fields.get("keyframe_every")
        if type(every) is int and 0 < every <= 100_000:
            self._keyframe_every = max(self._keyframe_every, every)

    def _add(self, record: Record, file: int, group: tuple[int, int], step: int, line: int) -> None:
        self._times.append(record.at)
        self._file.append(file)
        self._block.append(group[0])
        self._index.append(group[1])
        self._step.append(step)
        self._number.append(line)

    def _alarm_change(self, record: Record, before: tuple[AlarmKey, ...]) -> tuple[AlarmKey, ...]:
        if record.alarms is None or record.alarms == before:
            return before
        after = tuple(sorted(record.alarms))
        raised = tuple(a for a in after if a not in before)
        cleared = tuple(a for a in before if a not in after)
        if raised or cleared:
            self._alarms.append(AlarmChange(record.at, raised, cleared, after))
        return after


def _loose(path: Path) -> Segment:
    """A file whose name is not a segment's (an export): gzip or not by its first bytes."""
    with path.open("rb") as file:
        compressed = file.read(2) == _GZIP_MAGIC
    return Segment(path, 0.0, 0.0, compressed)
