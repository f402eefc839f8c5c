"""Log lines: where each comes from, how bytes become safe lines, and the ring they wait in.

A box's log is untrusted input. Bytes are split into lines here, a line
longer than MAX_LINE is cut (and says by how much), and text is decoded with
replacement and made inert (control characters shown as escapes) before
anything shows it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
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


class Chunk(NamedTuple):
    """Whole lines of one file read together: their bytes (each cut to MAX_LINE), when they came.

    Lines are kept as a list per chunk, not as an object per line: a chatty
    log's cost is then in C (bytes.split), not in Python per line.
    """

    lines: list[bytes]
    cuts: dict[int, int]  # index in `lines` -> bytes cut from that line (cut lines only)
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


# Time order: a line's time, then its arrival order (LogLine's fields 3 and 1).
order: Callable[[LogLine], tuple[float, int]] = itemgetter(3, 1)


def notice(source: Source, seq: int, text: str, now: float) -> LogLine:
    """A line of hotspare's own about SOURCE, to show among its lines."""
    return LogLine(source, seq, None, now, text, 0, now, True)


class LineSplitter:
    """Bytes in, whole lines out; a partial line waits for the rest of it."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._pending = b""
        self._cut = 0
        self._skipping = False

    def skip_to_line_start(self) -> None:
        """Drop what comes before the first newline: reading starts inside a line."""
        self._skipping = True

    def feed(self, data: bytes, arrived: float) -> Chunk | None:
        """The lines that DATA completes, each stripped of its newline."""
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return None
            self._skipping, data = False, data[end + 1 :]
        parts = data.split(b"\n")
        if len(parts) == 1:
            self._extend(data)
            return None
        parts[0] = self._pending + parts[0]
        cuts = {0: self._cut} if self._cut else {}
        self._pending, self._cut = b"", 0
        self._extend(parts.pop())
        if max(map(len, parts)) > self.max_line:
            self._cut_long(parts, cuts)
        return Chunk(parts, cuts, arrived)

    def flush(self, arrived: float) -> Chunk | None:
        """The last line of a file that does not end in a newline."""
        if not self._pending and not self._cut:
            return None
        chunk = Chunk([self._pending], {0: self._cut} if self._cut else {}, arrived)
        self._pending, self._cut = b"", 0
        return chunk

    def _extend(self, data: bytes) -> None:
        """Add DATA to the line still waiting for its end, keeping MAX_LINE bytes of it."""
        partial = self._pending + data
        if len(partial) > self.max_line:
            self._cut += len(partial) - self.max_line
            partial = partial[: self.max_line]
        self._pending = partial

    def _cut_long(self, parts: list[bytes], cuts: dict[int, int]) -> None:
        limit = self.max_line
        for i, line in enumerate(parts):
            if len(line) > limit:
                cuts[i] = cuts.get(i, 0) + len(line) - limit
                parts[i] = line[:limit]


class Ring:
    """The lines of one file waiting to be taken; when full the oldest go, counted.

    A lossless ring never drops: its reader waits for `room` instead, which
    leaves the rest waiting in the SSH channel and on the box.
    """

    def __init__(self, size: int = RING_LINES, lossless: bool = False) -> None:
        self._chunks: deque[Chunk] = deque()
        self._count = 0
        self.size = size
        self.lossless = lossless
        self._dropped = 0
        self.received = 0
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return self._count

    async def room(self) -> None:
        """Until a lossless ring has room again (at once for a lossy one)."""
        if self.lossless and self._count >= self.size:
            self._room.clear()
            await self._room.wait()

    def push(self, chunk: Chunk | None) -> None:
        """Add CHUNK; in a lossy ring what no longer fits goes from the old end, counted."""
        if chunk is None or not chunk.lines:
            return
        self._chunks.append(chunk)
        self._count += len(chunk.lines)
        self.received += len(chunk.lines)
        if not self.lossless:
            while self._count > self.size:
                self._drop_oldest(self._count - self.size)

    def _drop_oldest(self, excess: int) -> None:
        oldest = self._chunks[0]
        if len(oldest.lines) <= excess:
            self._chunks.popleft()
            gone = len(oldest.lines)
        else:
            cuts = {i - excess: n for i, n in oldest.cuts.items() if i >= excess}
            self._chunks[0] = Chunk(oldest.lines[excess:], cuts, oldest.arrived)
            gone = excess
        self._count -= gone
        self._dropped += gone

    def take(self) -> tuple[list[Chunk], int]:
        """Every waiting chunk, and how many lines were dropped since the last take."""
        chunks = list(self._chunks)
        self._chunks.clear()
        self._count = 0
        self._room.set()
        dropped, self._dropped = self._dropped, 0
        return chunks, dropped


_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"


def texts(chunk: Chunk) -> list[str]:
    """The chunk's lines as inert text, decoded and checked in one go when none needs escaping."""
    data = b"\n".join(chunk.lines)
    if not data.translate(None, _PLAIN_ASCII):  # printable ASCII only: the common case
        return data.decode("ascii").split("\n")
    joined = data.decode("utf-8", errors="replace")
    if not needs_escaping(joined.replace("\n", " ")):
        return joined.split("\n")
    return [
        inert(line.decode("utf-8", errors="replace").removesuffix("\r")) for line in chunk.lines
    ]


class Decoder:
    """Turns one source's raw lines into LogLines, in order."""

    def __init__(self, source: Source, box_offset: int = 0) -> None:
        self.source = source
        self.stamps = StampReader(box_offset)
        self._last: float | None = None

    def decode(self, chunks: list[Chunk], first_seq: int) -> list[LogLine]:
        """CHUNKS as LogLines numbered from FIRST_SEQ."""
        out: list[LogLine] = []
        source, read, last, make = self.source, self.stamps.read, self._last, tuple.__new__
        seq = first_seq
        for chunk in chunks:
            arrived, cuts = chunk.arrived, chunk.cuts
            for i, text in enumerate(texts(chunk)):
                at = read(text)
                if at is not None:
                    last = at
                when = last if last is not None else arrived
                cut = cuts.get(i, 0) if cuts else 0
                # tuple.__new__ skips NamedTuple's Python-level constructor: the
                # hot path of a chatty log, a third of the cost of a line.
                out.append(make(LogLine, (source, seq, at, when, text, cut, arrived, False)))
                seq += 1
        self._last = last
        return out
