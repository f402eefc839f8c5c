"""Recording the monitor's snapshots: appended as they come, pruned by age and by size.

`History.open(directory)` then `record(state)` on every snapshot. Each
record is one line appended with a single write, so a monitor killed
mid-write leaves at most its last line torn, which the reader skips and the
next `History.open` drops. The writer holds the last snapshot's document
and the list of closed segments, never the history: its memory does not
grow with the records. One writer per directory, held by a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from console.history import segments
from console.history.lines import KEYFRAME_EVERY, Encoder, HistoryError, header
from console.history.segments import Segment
from console.inventory import Inventory
from console.state.model import ClusterState

DEFAULT_SPAN = 24 * 3600.0
DEFAULT_MAX_BYTES = 256 * 2**20
SEGMENT_SECONDS = 3600.0
MIN_MAX_BYTES = 64 * 2**10
# The segment being written is closed early at this share of max_bytes, so that an
# hour bigger than the whole allowance still leaves older segments to prune.
OPEN_SHARE = 8
LOCK = ".lock"


def default_directory(inv: Inventory) -> Path:
    """Where INV's history lives: $XDG_STATE_HOME (default ~/.local/state)/hotspare/history-....

    The name is the cluster's plus a short hash of the inventory's resolved
    path, as for the audit log: two files that both say `lab` keep two histories.
    """
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in inv.name) or "cluster"
    where = hashlib.sha256(str(inv.path.resolve()).encode()).hexdigest()[:8]
    return Path(state) / "hotspare" / f"history-{safe}-{where}"


class History:
    """The history directory of one monitor, open for recording.

    Attributes:
        directory: where the segments are.
        span: seconds of history kept; older segments are removed.
        max_bytes: the most the segments may take together.
        notes: what opening found and mended (a torn line dropped...).
    """

    def __init__(
        self,
        directory: Path,
        span: float,
        max_bytes: int,
        encoder: Encoder,
        segment_seconds: float,
        compress: bool,
        clock: Callable[[], float],
        lock: int,
    ) -> None:
        self.directory = directory
        self.span = span
        self.max_bytes = max_bytes
        self.notes: list[str] = []
        self._encoder = encoder
        self._segment_seconds = segment_seconds
        self._compress = compress
        self._clock = clock
        self._lock: int | None = lock
        self._closed: list[tuple[Segment, int]] = []
        self._open: Segment | None = None
        self._descriptor: int | None = None
        self._open_bytes = 0
        self._last: float | None = None
        self._broken = False

    @classmethod
    def open(
        cls,
        directory: Path | str,
        span: float = DEFAULT_SPAN,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        keyframe_every: int = KEYFRAME_EVERY,
        segment_seconds: float = SEGMENT_SECONDS,
        compress: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> History:
        """Open DIRECTORY for recording (made 0700 if need be) and prune it.

        A segment left open by a writer that stopped (or was killed) is
        closed first, its torn last line dropped; the next record begins a
        new segment with a keyframe.

        Raises:
            HistoryError: the directory cannot be used, another process records
                into it, or a limit is out of range.
        """
        if span <= 0 or segment_seconds <= 0 or max_bytes < MIN_MAX_BYTES:
            raise HistoryError(
                f"history limits out of range: span and segment length above 0, "
                f"max_bytes at least {MIN_MAX_BYTES} (given {span}, {segment_seconds}, {max_bytes})"
            )
        where = Path(directory)
        segments.prepare(where)
        history = cls(
            where,
            span,
            max_bytes,
            Encoder(keyframe_every),
            segment_seconds,
            compress,
            clock,
            _lock(where),
        )
        try:
            history._resume()
        except OSError as exc:
            history.close()
            raise HistoryError(f"cannot read the history in {where}: {exc}") from exc
        return history

    def _resume(self) -> None:
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # a close cut short: the plain segment is still there
        listed = segments.listing(self.directory)
        for path in self.directory.glob("*.jsonl"):
            found = segments.segment_of(path)
            if found is not None and found.last is None and found not in listed:
                path.unlink()  # closed already: a close cut short before its unlink
        for segment in listed:
            if segment.last is None:
                closed, notes = segments.close(segment, self._compress)
                self.notes.extend(notes)
                if closed is None:
                    continue
                segment = closed
            self._closed.append((segment, segment.path.stat().st_size))
        self._prune()

    @property
    def size(self) -> int:
        """The bytes the segments take on disk now."""
        return sum(size for _, size in self._closed) + self._open_bytes

    def record(self, state: ClusterState) -> bool:
        """Append STATE; False (and nothing written) when it is not later than the last one.

        A snapshot at or before the last recorded moment (the same snapshot
        again, or the clock stepped back) is not recorded: the history stays
        in order, and resumes once the clock passes its last moment.

        Raises:
            HistoryError: the line could not be written (a full disk...); the
                next record begins a new segment.
        """
        at = state.taken_at
        if self._last is not None and at <= self._last:
            return False
        if self._rotation_due(at):
            self._rotate(state)
        assert self._descriptor is not None and self._open is not None
        line, _ = self._encoder.line(state)
        self._write(line)
        self._last = at
        self._prune()
        return True

    def _rotation_due(self, at: float) -> bool:
        if self._open is None or self._broken:
            return True
        hour = int(self._open.first // self._segment_seconds)
        full = self._open_bytes >= self.max_bytes // OPEN_SHARE
        return full or int(at // self._segment_seconds) != hour

    def _rotate(self, state: ClusterState) -> None:
        self._close_open()
        path = self.directory / f"{segments.stamp(state.taken_at)}.jsonl"
        try:
            self._descriptor = segments.create(path)
        except OSError as exc:
            raise HistoryError(f"cannot begin the segment {path}: {exc.strerror}") from exc
        self._open = Segment(path, state.taken_at, None, False)
        self._open_bytes = 0
        self._broken = False
        self._encoder.restart()
        self._write(header(state.cluster, self._encoder.keyframe_every, state.taken_at, None))

    def _write(self, line: bytes) -> None:
        assert self._descriptor is not None and self._open is not None
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._descriptor, view) :]
        except OSError as exc:
            self._broken = True  # the next record starts afresh, keyframe first
            raise HistoryError(f"cannot write the history to {self._open.path}: {exc}") from exc
        finally:
            self._open_bytes += len(line) - len(view)

    def _close_open(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        if self._open is not None:
            opened, self._open, self._open_bytes = self._open, None, 0
            try:
                closed, notes = segments.close(opened, self._compress)
            except OSError as exc:
                raise HistoryError(f"cannot close the segment {opened.path}: {exc}") from exc
            self.notes.extend(notes)
            if closed is not None:
                self._closed.append((closed, closed.path.stat().st_size))

    def _prune(self) -> None:
        """Remove closed segments older than the span, then the oldest while over max_bytes."""
        cutoff = self._clock() - self.span
        total = self.size
        while self._closed:
            segment, size = self._closed[0]
            assert segment.last is not None
            if segment.last > cutoff and total <= self.max_bytes:
                break
            segment.path.unlink(missing_ok=True)
            self._closed.pop(0)
            total -= size

    def close(self) -> None:
        """Close the segment being written (gzipped) and let another writer open the directory."""
        try:
            self._close_open()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _lock(directory: Path) -> int:
    """Hold DIRECTORY's lock file for this process; its descriptor.

    Raises:
        HistoryError: another process holds it (its pid is said when known).
    """
    path = directory / LOCK
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise HistoryError(f"cannot lock the history in {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = b""
        with contextlib.suppress(OSError):
            holder = os.pread(descriptor, 32, 0).strip()
        os.close(descriptor)
        who = f" (pid {holder.decode(errors='replace')})" if holder else ""
        raise HistoryError(
            f"another process records into {directory}{who}: one monitor per history"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor
