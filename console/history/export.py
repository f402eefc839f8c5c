"""A recording to one file, for another machine: `Recording.open` reads it as it reads a directory.

The file is the same JSON Lines as a closed segment (console/history/lines.py),
gzipped one member per keyframe and the patches after it: its header
names the cluster and the first and last moments, and the first moment of
the range is a keyframe whatever it was in the history. It is written
under a temporary name (0600) and renamed when complete, so a file of that
name is always whole.
"""

from __future__ import annotations

import bisect
import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from console.history import segments
from console.history.lines import KEYFRAME_EVERY, Encoder, HistoryError, header
from console.history.reading import Recording, clock


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the file, its moments, the first and last of them, its size."""

    path: Path
    moments: int
    first: float
    last: float
    size: int


def export(
    recording: Recording,
    target: Path | str,
    start: float | None = None,
    end: float | None = None,
    keyframe_every: int = KEYFRAME_EVERY,
) -> Exported:
    """Write RECORDING's moments from START to END (both included) to the file TARGET.

    Moments that cannot be rebuilt are left out and said in recording.notes.

    Raises:
        HistoryError: no moment in the range, or TARGET cannot be written.
    """
    times = recording.times()
    low = 0 if start is None else bisect.bisect_left(times, start)
    high = len(times) if end is None else bisect.bisect_right(times, end)
    if low >= high:
        since = clock(start) if start is not None else "the start"
        said = f"from {since} to {clock(end) if end is not None else 'the end'}"
        raise HistoryError(f"no moment recorded {said} in {recording.source}")
    path = Path(target)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.unlink(missing_ok=True)
        with os.fdopen(segments.create(temporary), "wb") as out:
            head = header(recording.cluster or "", keyframe_every, times[low], times[high - 1])
            out.write(gzip.compress(head, mtime=0))
            moments = _write(recording, out, (times[low], times[high - 1]), keyframe_every)
            out.flush()
            os.fsync(out.fileno())
        temporary.rename(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise HistoryError(f"cannot write the export {path}: {exc.strerror or exc}") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return Exported(path, moments, times[low], times[high - 1], path.stat().st_size)


def _write(
    recording: Recording, out: BinaryIO, bounds: tuple[float, float], keyframe_every: int
) -> int:
    """Write the moments within BOUNDS, a gzip member per keyframe; how many were written."""
    encoder = Encoder(keyframe_every)
    group: list[bytes] = []
    moments = 0
    for document in recording.documents(*bounds):
        line, keyframe = encoder.document_line(document)
        if keyframe and group:
            out.write(gzip.compress(b"".join(group), mtime=0))
            group = []
        group.append(line)
        moments += 1
    if group:
        out.write(gzip.compress(b"".join(group), mtime=0))
    if not moments:
        raise HistoryError(f"no moment of {recording.source} could be rebuilt in that range")
    return moments
