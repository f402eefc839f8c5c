"""Follow one log file on a box over its SSH link: `tail -F`, supervised.

GNU tail -F follows the file by name: through rotation, truncation, and a
file that does not exist yet (a warm node's hot log). Its stdout is read as
bytes into the source's ring; its stderr says what happened to the file.
When the link drops, the tail starts again: where it left off if the file
is still the same one (same inode), else from the last lines, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from console.logs.lines import LineSplitter, Ring, Source
from console.logs.stamps import parse_offset
from console.ssh import BoxError, BoxLink
from console.text import one_line

READ_SIZE = 256 * 1024
START_TIMEOUT = 10.0
RETRY_FIRST, RETRY_MAX = 1.0, 15.0


@dataclass(frozen=True)
class TailState:
    """Where a tail stands, for the column's status line."""

    following: bool
    reason: str | None  # why not following, or what just happened to the file
    at: float


@dataclass
class Position:
    """Which file (inode) the tail reads and how far: to resume there after a reconnect."""

    inode: str | None = None
    offset: int = 0


BACKLOG_WINDOW = 1024 * 1024
BACKLOG_WINDOW_MAX = 64 * 1024 * 1024


def command(path: str, follow: bool, backlog: int | None, resume: Position) -> str:
    """The shell command: print the box's zone and where the tail starts, then tail.

    The start is a byte offset, always, so a reconnect can resume exactly:
    the offset of RESUME if the file is still that inode, else the start of
    the last BACKLOG lines, else, with BACKLOG None, the file's start.
    Reading once, it stops at the size the file had when asked: the last two
    lines are two, however fast the file grows meanwhile.
    """
    q = shlex.quote(path)
    if backlog is None:
        fresh = "start=0"
    else:
        # The last BACKLOG lines, searched in a window at the end of the file
        # that grows until it holds them whole (a 1 MB line must not hide the
        # lines before it). Only bytes below `size` are read, so a file that
        # grows meanwhile cannot shift the answer.
        window = f"tail -c +$((size - w + 1)) {q} | head -c $w"
        fresh = (
            f"w={BACKLOG_WINDOW}; while :; do [ $w -gt $size ] && w=$size; "
            f"[ $w -ge $size ] || [ $w -ge {BACKLOG_WINDOW_MAX} ] || "
            f"[ $({window} | wc -l) -gt {backlog} ] && break; w=$((w * 8)); done; "
            f"start=$((size - $({window} | tail -n {backlog} | wc -c)))"
        )
    if resume.inode is not None:
        fresh = (
            f'if [ "$ino" = {shlex.quote(resume.inode)} ] && [ "$size" -ge {resume.offset} ]; '
            f"then start={resume.offset}; mode=resume; else {fresh}; fi"
        )
    missing = "" if follow else f"[ -e {q} ] || exit 0; "
    return (
        f'{missing}echo "tz $(date +%z)"; '
        f"set -- $(stat -L -c '%i %s' {q} 2>/dev/null || echo - 0); ino=$1; size=$2; "
        f'mode=fresh; {fresh}; echo "start $mode $ino $start"; '
        + (
            f"exec tail -F -c +$((start + 1)) {q}"
            if follow
            else f"tail -c +$((start + 1)) {q} | head -c $((size - start))"
        )
    )


def notice(line: str) -> tuple[str | None, bool | None]:
    """What a line of tail's stderr means: something to tell the operator, and
    whether the file now exists (None: unchanged).

    A missing file is no news (a hot node has no warm log): it only changes
    `exists`, which the front end shows where the file's name is.
    """
    text = one_line(line, 300)
    if "has been replaced" in text:
        return "the file was rotated or replaced; following the new one", True
    if "has appeared" in text:
        return None, True
    if "file truncated" in text:
        return "the file was truncated; following from its start", True
    if "has become inaccessible" in text or "No such file" in text:
        return None, False
    if "inotify" in text or "will try to reopen" in text or "giving up" in text:
        return None, None
    return (text or None), None


class Tail:
    """One followed (or read once) log file, feeding its ring."""

    def __init__(
        self,
        link: BoxLink,
        source: Source,
        ring: Ring,
        follow: bool = True,
        backlog: int | None = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.link = link
        self.source = source
        self.ring = ring
        self.follow = follow
        self.backlog = backlog
        self.clock = clock
        self.box_offset = 0
        self.state = TailState(False, "starting", clock())
        self.notices: list[str] = []
        self.exists: bool | None = None
        self.bytes_read = 0
        self._position = Position()
        self.failure: str | None = None
        self._splitter = LineSplitter()

    def begin_at(self, position: Position, inside_line: bool = False) -> None:
        """Start at POSITION (if the file is still that inode) rather than the backlog.

        INSIDE_LINE: POSITION may fall inside a line (a block boundary): the
        tail starts one byte earlier and drops up to the first newline, so a
        position that is a line's start keeps that line whole.
        """
        if inside_line and position.offset > 0:
            position = Position(position.inode, position.offset - 1)
            self._splitter.skip_to_line_start()
        self._position = position

    def fail(self, reason: str) -> None:
        """Record that the file cannot be read, and why."""
        self.failure = reason
        self._set(False, reason)

    async def run(self) -> None:
        """Follow the file until cancelled (or, reading once, until its end)."""
        delay = RETRY_FIRST
        while True:
            try:
                await self._once()
                if not self.follow:
                    return
                reason = "tail ended on the box"
            except BoxError as exc:
                reason = exc.reason
            except (OSError, asyncssh.Error) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if not self.follow:
                self.fail(reason)
                return
            self._set(False, f"{reason}; retrying in {delay:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _once(self) -> None:
        stream = await self.link.stream(
            command(self.source.path, self.follow, self.backlog, self._position)
        )
        try:
            await self._start(stream.stdout)
            errors = asyncio.ensure_future(self._read_stderr(stream.stderr))
            try:
                await self._read(stream.stdout)
            finally:
                errors.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await errors
        finally:
            await stream.close()

    async def _start(self, stdout: asyncssh.SSHReader[bytes]) -> None:
        """Read the header lines the command prints before its tail starts."""
        headers: dict[str, list[str]] = {}
        while "start" not in headers:
            line = await asyncio.wait_for(stdout.readline(), START_TIMEOUT)
            if not line:
                if not self.follow:  # the file does not exist: nothing to read
                    self.exists = False
                    return
                raise BoxError(self.source.box, "the tail ended before it started")
            words = line.decode("ascii", errors="replace").split()
            if words:
                headers[words[0]] = words[1:]
        self.box_offset = parse_offset((headers.get("tz") or ["+0000"])[0]) or 0
        mode, inode, offset = (headers["start"] + ["", "-", "0"])[:3]
        self.exists = inode != "-"
        resumed = mode == "resume"
        if not resumed:
            self._splitter = LineSplitter()
        self._position = Position(
            None if inode == "-" else inode, int(offset) if offset.isdigit() else 0
        )
        if resumed and self.state.reason != "starting":
            self.notices.append("reconnected; resumed where it left off, nothing missed")
        elif self.state.reason != "starting":
            self.notices.append("reconnected; the file changed meanwhile, so lines may be missing")
        self._set(True, None)

    async def _read(self, stdout: asyncssh.SSHReader[bytes]) -> None:
        while True:
            data = await stdout.read(READ_SIZE)
            if not data:
                self.ring.push(self._splitter.flush(self.clock()))
                return
            self.bytes_read += len(data)
            self._position.offset += len(data)
            self.ring.push(self._splitter.feed(data, self.clock()))
            await self.ring.room()

    async def _read_stderr(self, stderr: asyncssh.SSHReader[bytes]) -> None:
        while line := await stderr.readline():
            said, exists = notice(line.decode("utf-8", errors="replace"))
            if exists is not None:
                self.exists = exists
            if said is None:
                continue
            if "rotated" in said or "truncated" in said:
                # The byte offset no longer points into the file being read.
                self._position = Position()
            self.notices.append(said)

    def _set(self, following: bool, reason: str | None) -> None:
        self.state = TailState(following, reason, self.clock())
