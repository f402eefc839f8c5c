"""The files of a history directory: one segment an hour, written plain, gzipped when closed.

A segment is named after the first moment it holds, in UTC, while it is
written (`20261207T180002Z.jsonl`), and after its first and last moments
once closed (`20261207T180002Z-20261207T185958Z.jsonl.gz`): an operator sees
what each file covers, and pruning needs no reading. A closed segment is
gzip with one member per keyframe and the patches after it, so a reader
seeks to the member of a moment and inflates only that. The directory is
made 0700 and every file 0600: the site's state is for its operators only.
"""

from __future__ import annotations

import calendar
import gzip
import os
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from console.history import lines
from console.history.lines import HistoryError

_NAME = re.compile(r"(\d{8}T\d{6}Z)(?:-(\d{8}T\d{6}Z))?\.jsonl(\.gz)?")
_STAMP = "%Y%m%dT%H%M%SZ"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Segment:
    """A segment file: its path and the moments it covers (LAST is None while it is written)."""

    path: Path
    first: float
    last: float | None
    compressed: bool


def stamp(at: float) -> str:
    """AT (epoch seconds) as a file name's UTC stamp, to the second below."""
    return time.strftime(_STAMP, time.gmtime(int(at)))


def _timegm(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, _STAMP)))


def segment_of(path: Path) -> Segment | None:
    """The segment PATH names, or None when its name is not a segment's."""
    named = _NAME.fullmatch(path.name)
    if named is None:
        return None
    first, last, gz = named.groups()
    # A closed name keeps its last moment to the second below: the segment ends within it.
    end = _timegm(last) + 1.0 if last else None
    return Segment(path, _timegm(first), end, gz is not None)


def listing(directory: Path) -> list[Segment]:
    """The segments in DIRECTORY, oldest first.

    A segment still named as being written whose closed file is already
    there (a close cut short between its rename and its unlink) is left out:
    the closed one holds the same lines.
    """
    found = [s for p in directory.iterdir() if (s := segment_of(p)) is not None]
    closed = {stamp(s.first) for s in found if s.last is not None}
    found = [s for s in found if s.last is not None or stamp(s.first) not in closed]
    return sorted(found, key=lambda s: (s.first, str(s.path)))


def prepare(directory: Path) -> None:
    """Make DIRECTORY (0700), or tighten an existing one of ours to 0700.

    Raises:
        HistoryError: it cannot be made, or is not a directory.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not directory.is_dir():
            raise HistoryError(f"{directory} is not a directory: give another --dir")
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
    except OSError as exc:
        raise HistoryError(f"cannot use {directory} for the history: {exc.strerror}") from exc


def create(path: Path) -> int:
    """A new file at PATH (0600, never an existing one) open for appending; its descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)


@dataclass(frozen=True)
class Line:
    """A raw line of a segment and where it is.

    Attributes:
        block: where to seek to read it: its own byte offset in a plain
            file, its gzip member's offset in a compressed one.
        index: its place among the lines read from BLOCK (0 in a plain file).
        number: its line number in the file, from 1.
        raw: its bytes, with the newline.
        torn: it is the file's last line and has no newline: a write cut short.
    """

    block: int
    index: int
    number: int
    raw: bytes
    torn: bool


def scan(path: Path, compressed: bool) -> Iterator[Line]:
    """Every line of the segment at PATH, in order.

    Raises:
        OSError: the file cannot be read.
        HistoryError: a compressed file is damaged (after the lines before the damage).
    """
    if not compressed:
        with path.open("rb") as file:
            offset = 0
            for number, raw in enumerate(file, start=1):
                yield Line(offset, 0, number, raw, not raw.endswith(b"\n"))
                offset += len(raw)
        return
    data = path.read_bytes()
    offset, number = 0, 0
    while offset < len(data):
        inflate = zlib.decompressobj(wbits=31)
        try:
            text = inflate.decompress(data[offset:])
        except zlib.error as exc:
            raise HistoryError(f"{path}: damaged gzip at byte {offset} ({exc})") from exc
        if not inflate.eof:
            raise HistoryError(f"{path}: the gzip ends inside a member at byte {offset}")
        parts = text.splitlines(keepends=True)
        for index, raw in enumerate(parts):
            number += 1
            yield Line(offset, index, number, raw, not raw.endswith(b"\n"))
        offset = len(data) - len(inflate.unused_data)


def read(path: Path, compressed: bool, block: int, index: int, count: int) -> list[bytes]:
    """COUNT lines of the segment at PATH from the line at (BLOCK, INDEX), as scan() placed it."""
    with path.open("rb") as file:
        file.seek(block)
        if not compressed:
            found = []
            for raw in file:
                found.append(raw)
                if len(found) == count:
                    break
            return found
        inflate = zlib.decompressobj(wbits=31)
        text = b""
        while not inflate.eof:
            chunk = file.read(_CHUNK)
            if not chunk:
                break
            text += inflate.decompress(chunk)
        return text.splitlines(keepends=True)[index : index + count]


def close(segment: Segment, compress: bool) -> tuple[Segment | None, list[str]]:
    """Close SEGMENT: renamed after its last moment, gzipped by keyframe if COMPRESS.

    A torn last line is dropped. Returns the closed segment (None when it
    held no moment and was removed) and notes on what was dropped.
    """
    groups: list[list[bytes]] = []
    notes: list[str] = []
    last: float | None = None
    for line in scan(segment.path, compressed=False):
        if line.torn:
            notes.append(f"{segment.path.name} line {line.number}: a torn last line, dropped")
            break
        try:
            parsed = lines.parse(line.raw)
        except ValueError:
            parsed = None  # kept as it is: the reader says what is wrong with it
        if isinstance(parsed, dict) or not groups or (parsed is not None and parsed.keyframe):
            groups.append([line.raw])
        else:
            groups[-1].append(line.raw)
        if isinstance(parsed, lines.Record):
            last = parsed.at
    if last is None:
        segment.path.unlink()
        return None, notes
    name = f"{stamp(segment.first)}-{stamp(last)}.jsonl" + (".gz" if compress else "")
    target = segment.path.with_name(name)
    temporary = target.with_name(target.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = create(temporary)
    with os.fdopen(descriptor, "wb") as out:
        for group in groups:
            data = b"".join(group)
            out.write(gzip.compress(data, compresslevel=6, mtime=0) if compress else data)
        out.flush()
        os.fsync(out.fileno())
    temporary.rename(target)
    segment.path.unlink()
    return Segment(target, segment.first, last, compress), notes
