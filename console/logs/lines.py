"""Log lines: where each comes from, how bytes become safe lines, and the ring they wait in.

A box's log is untrusted input. Bytes are split into lines here, a line
longer than MAX_LINE is cut (and says by how much), and text is decoded with
replacement and made inert (control characters shown as escapes) before
anything shows it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple

from console.logs.stamps import StampReader
from console.text import inert, needs_escaping

MAX_LINE = 16 * 1024
RING_LINES = 20_000

Kind = Literal["access", "error"]


@dataclass(frozen=True)
class Source:
    """One log file of one node: what a column title and a CLI prefix name."""

    node: str
    box: str
    kind: Kind
    role: str | None  # hot or warm for an access log; None for the error log
    path: str

    @property
    def label(self) -> str:
        """`access.hot`, `access.warm` or `error`: short and unambiguous."""
        return f"{self.kind}.{self.role}" if self.role else self.kind

    @property
    def file_name(self) -> str:
        """The file's base name, as the operator finds it on the box."""
        return self.path.rsplit("/", 1)[-1]


class Raw(NamedTuple):
    """A line as read: its bytes (cut to MAX_LINE), how many bytes were cut, when it came."""

    data: bytes
    cut: int
    arrived: float


class LogLine(NamedTuple):
    """One line ready to show.

    ``at`` is the line's own timestamp, if it has one; ``when`` orders it
    among other nodes' lines: its own stamp, else the stamp of the line before
    it in the same file (a stack trace stays under its message), else its
    arrival time. A ``notice`` is hotspare speaking (lines dropped, a file
    rotated), not a line of the file.
    """

    source: Source
    seq: int
    at: float | None
    when: float
    text: str
    cut: int
    arrived: float
    notice: bool = False


def notice(source: Source, seq: int, text: str, now: float) -> LogLine:
    """A line of hotspare's own about SOURCE, to show among its lines."""
    return LogLine(source, seq, None, now, text, 0, now, True)


class LineSplitter:
    """Bytes in, whole lines out; a partial line waits for the rest of it."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._pending = b""
        self._cut = 0

    def feed(self, data: bytes, arrived: float) -> list[Raw]:
        """The lines that DATA completes, each stripped of its newline."""
        parts = data.split(b"\n")
        if len(parts) == 1:
            self._hold(self._pending + data)
            return []
        first = self._pending + parts[0]
        last = parts[-1]
        self._pending, cut, self._cut = b"", self._cut, 0
        limit = self.max_line
        out = [self._raw(first, cut, arrived)]
        if max(map(len, parts)) <= limit:
            out.extend([Raw(p, 0, arrived) for p in parts[1:-1]])
        else:
            out.extend([self._raw(p, 0, arrived) for p in parts[1:-1]])
        self._hold(last)
        return out

    def flush(self, arrived: float) -> list[Raw]:
        """The last line of a file that does not end in a newline."""
        if not self._pending and not self._cut:
            return []
        line = self._raw(self._pending, self._cut, arrived)
        self._pending, self._cut = b"", 0
        return [line]

    def _hold(self, partial: bytes) -> None:
        if len(partial) > self.max_line:
            self._cut += len(partial) - self.max_line
            partial = partial[: self.max_line]
        self._pending = partial

    def _raw(self, line: bytes, cut: int, arrived: float) -> Raw:
        if len(line) > self.max_line:
            cut += len(line) - self.max_line
            line = line[: self.max_line]
        return Raw(line, cut, arrived)


class Ring:
    """The lines of one source waiting to be taken; when full the oldest go, counted.

    A lossless ring never drops: its reader waits for `room` instead, which
    leaves the rest waiting in the SSH channel and on the box.
    """

    def __init__(self, size: int = RING_LINES, lossless: bool = False) -> None:
        self._lines: deque[Raw] = deque(maxlen=None if lossless else size)
        self.size = size
        self.lossless = lossless
        self._dropped = 0
        self.received = 0
        self._room = asyncio.Event()
        self._room.set()

    async def room(self) -> None:
        """Until a lossless ring has room again (at once for a lossy one)."""
        if self.lossless and len(self._lines) >= self.size:
            self._room.clear()
            await self._room.wait()

    def push(self, lines: list[Raw]) -> None:
        """Add LINES; what no longer fits is dropped from the old end and counted."""
        overflow = len(self._lines) + len(lines) - self.size
        if overflow > 0 and not self.lossless:
            self._dropped += overflow
        self._lines.extend(lines)
        self.received += len(lines)

    def take(self) -> tuple[list[Raw], int]:
        """Every waiting line, and how many were dropped since the last take."""
        lines = list(self._lines)
        self._lines.clear()
        self._room.set()
        dropped, self._dropped = self._dropped, 0
        return lines, dropped


class Decoder:
    """Turns one source's raw lines into LogLines, in order."""

    def __init__(self, source: Source, box_offset: int = 0) -> None:
        self.source = source
        self.stamps = StampReader(box_offset)
        self._last: float | None = None

    def decode(self, raws: list[Raw], first_seq: int) -> list[LogLine]:
        """RAWS as LogLines numbered from FIRST_SEQ."""
        out: list[LogLine] = []
        source, read, last, make = self.source, self.stamps.read, self._last, tuple.__new__
        for seq, (_, cut, arrived), text in zip(
            range(first_seq, first_seq + len(raws)), raws, _texts(raws), strict=True
        ):
            at = read(text)
            if at is not None:
                last = at
            when = last if last is not None else arrived
            # tuple.__new__ skips NamedTuple's Python-level constructor: the
            # hot path of a chatty log, a third of the cost of a line.
            out.append(make(LogLine, (source, seq, at, when, text, cut, arrived, False)))
        self._last = last
        return out


_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"


def _texts(raws: list[Raw]) -> list[str]:
    """The raw lines as inert text: decoded and checked in one go when none needs escaping."""
    data = b"\n".join([raw.data for raw in raws])
    if not data.translate(None, _PLAIN_ASCII):  # printable ASCII only: the common case
        return data.decode("ascii").split("\n")
    joined = data.decode("utf-8", errors="replace")
    if not needs_escaping(joined.replace("\n", " ")):
        return joined.split("\n")
    return [inert(raw.data.decode("utf-8", errors="replace").removesuffix("\r")) for raw in raws]
