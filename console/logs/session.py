"""A log session: the tails of the chosen nodes' files, and what the front end takes from them.

Each file has its own tail and its own ring, so a chatty node can fill only
its own ring: the others, and the front end, are not held up. A front end
takes new lines on its own timer (the TUI every 100 ms, the CLI as fast as
it prints) and learns how many lines each ring had to drop, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from console.inventory import WebNode
from console.logs import since as since_search
from console.logs.lines import RING_LINES, Chunk, Decoder, Kind, LogLine, Ring, Source
from console.logs.runs import Run, RunCutter
from console.logs.stamps import StampReader, parse_offset
from console.logs.tail import Position, Tail, TailState
from console.ssh import BoxError, BoxLink

KINDS: tuple[Kind, ...] = ("access", "error")
SINCE_TIMEOUT = 5.0


def sources(nodes: Iterable[WebNode], kinds: Iterable[Kind] = KINDS) -> list[Source]:
    """Every file of NODES of those KINDS: the hot and the warm access log, the error log."""
    found = []
    for node in nodes:
        if "access" in kinds:
            for role in ("hot", "warm"):
                found.append(Source(node.name, node.box, "access", role, node.access_log_for(role)))
        if "error" in kinds:
            found.append(Source(node.name, node.box, "error", None, node.error_log))
    return found


@dataclass(frozen=True)
class Batch:
    """What arrived since the last take: lines per file, drops, and what happened to files."""

    chunks: dict[Source, list[Chunk]] = field(default_factory=dict)
    lines: dict[Source, list[LogLine]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    dropped: dict[Source, int] = field(default_factory=dict)
    notices: list[tuple[Source, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


class LogSession:
    """Follows (or reads once) a set of log files over the boxes' links.

    Args:
        links: the box links to use (the monitor's, in the console).
        files: the files to read, from `sources`.
        follow: keep following (tail -F) rather than read to the end.
        backlog: lines to show from before the start, per file (None: all).
        since: read from the first line at or after this time instead.
        lossless: make a full ring wait (the SSH window then holds the box's
            tail back) instead of dropping its oldest lines; for the CLI.
    """

    def __init__(
        self,
        links: Mapping[str, BoxLink],
        files: Sequence[Source],
        follow: bool = True,
        backlog: int | None = 100,
        since: float | None = None,
        lossless: bool = False,
        ring_lines: int = RING_LINES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.links = links
        self.files = list(files)
        self.follow = follow
        self.since = since
        self.clock = clock
        self.tails = {
            s: Tail(links[s.box], s, Ring(ring_lines, lossless), follow, backlog, clock=clock)
            for s in self.files
        }
        self._decoders = {s: Decoder(s) for s in self.files}
        self._cutters = {s: RunCutter(s) for s in self.files}
        self._noticed = dict.fromkeys(self.files, 0)
        self._tasks: list[asyncio.Task[None]] = []
        self._seq = 0

    def start(self) -> None:
        """Start every tail in the running loop."""
        self._tasks = [asyncio.create_task(self._run(tail)) for tail in self.tails.values()]

    async def _run(self, tail: Tail) -> None:
        if self.since is not None:
            try:
                tail.begin_at(await self._since_position(tail), inside_line=True)
            except BoxError as exc:
                tail.fail(exc.reason)
                if not self.follow:
                    return
        await tail.run()

    async def _since_position(self, tail: Tail) -> Position:
        """Where in the file the first line at or after `since` starts."""
        assert self.since is not None
        shell = await tail.link.shell()
        q = shlex.quote(tail.source.path)
        zone, inode, size = (
            await shell.ask(
                f"echo \"$(date +%z) $(stat -L -c '%i %s' {q} 2>/dev/null || echo - 0)\"",
                SINCE_TIMEOUT,
            )
        ).split()[:3]
        stamps = StampReader(parse_offset(zone) or 0)
        if inode == "-" or not size.isdigit():
            return Position()
        offset = await since_search.offset_of(
            shell, tail.source.path, int(size), self.since, stamps
        )
        return Position(inode, offset)

    async def wait(self) -> None:
        """Until every tail has ended (reading once) or the session is stopped."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop every tail; their remote commands are stopped on the boxes."""
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    @property
    def done(self) -> bool:
        return all(task.done() for task in self._tasks)

    def absent(self) -> list[tuple[str, Kind, list[str]]]:
        """(node, kind, paths) for every node of which no file of a kind exists."""
        groups: dict[tuple[str, Kind], list[Tail]] = {}
        for source, tail in self.tails.items():
            groups.setdefault((source.node, source.kind), []).append(tail)
        return [
            (node, kind, [t.source.path for t in tails])
            for (node, kind), tails in groups.items()
            if all(t.exists is False for t in tails)
        ]

    def state(self, source: Source) -> TailState:
        return self.tails[source].state

    def take_chunks(self) -> Batch:
        """What arrived since the last take, as read: chunks of lines (`Batch.chunks`)."""
        batch = Batch()
        for source, tail in self.tails.items():
            chunks, dropped = tail.ring.take()
            if chunks:
                batch.chunks[source] = chunks
            if dropped:
                batch.dropped[source] = dropped
            seen = self._noticed[source]
            batch.notices.extend((source, text) for text in tail.notices[seen:])
            self._noticed[source] = len(tail.notices)
        return batch

    def take(self) -> Batch:
        """What arrived since the last take, decoded line by line (`Batch.lines`)."""
        batch = self.take_chunks()
        for source, chunks in batch.chunks.items():
            decoder = self._decoders[source]
            decoder.stamps.box_offset = self.tails[source].box_offset
            lines = decoder.decode(chunks, self._seq)
            self._seq += len(lines)
            if self.since is not None:
                lines = [line for line in lines if line.when >= self.since]
            batch.lines[source] = lines
        return batch

    def take_runs(self) -> Batch:
        """What arrived since the last take, cut into runs of one time each (`Batch.runs`)."""
        batch = self.take_chunks()
        for source, chunks in batch.chunks.items():
            cutter = self._cutters[source]
            cutter.stamps.box_offset = self.tails[source].box_offset
            runs, self._seq = cutter.cut(chunks, self._seq)
            if self.since is not None:
                runs = [run for run in runs if run.when >= self.since]
            batch.runs.extend(runs)
        return batch
