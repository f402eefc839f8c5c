"""`--since`: when the operator means, and where in a remote file that time starts.

A log is in time order (near enough), so the first line at or after a time
is found by bisecting the file over the box's probe shell: about twenty
reads of one 4 KiB block each, instead of copying a day of log over SSH.
Blocks come back base64-encoded, so a hostile log cannot forge the shell's
end-of-answer marker. The reader drops the few lines before the time that
the block boundary lets through.
"""

from __future__ import annotations

import base64
import binascii
import shlex
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from console import when
from console.logs.stamps import StampReader

if TYPE_CHECKING:
    from console.ssh.remote import ProbeShell

BLOCK = 4096
ASK_TIMEOUT = 5.0


class SinceError(when.WhenError):
    """A --since value that means nothing."""


def parse_since(text: str, now: float | None = None, option: str = "--since") -> float:
    """TEXT in the time grammar (console/when.py) as epoch seconds; durations mean ago.

    Raises:
        SinceError: TEXT is not a time; the message starts with OPTION.
    """
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    try:
        return when.parse(text, moment, ahead=False).at.timestamp()
    except when.WhenError as exc:
        raise SinceError(f"{option} {exc}") from exc


async def _block_time(
    shell: ProbeShell, path: str, block: int, stamps: StampReader
) -> tuple[float | None, bool]:
    """The time of the first whole line in BLOCK, and whether the block had data."""
    q = shlex.quote(path)
    script = f"dd if={q} bs={BLOCK} skip={block} count=2 2>/dev/null | base64 | tr -d '\\n'"
    answer = await shell.ask(script, ASK_TIMEOUT)
    try:
        data = base64.b64decode(answer.strip(), validate=True)
    except binascii.Error:
        return None, False
    if not data:
        return None, False
    lines = data.split(b"\n")[1:-1] if block else data.split(b"\n")[:-1]
    for line in lines:
        at = stamps.read(line.decode("utf-8", errors="replace"))
        if at is not None:
            return at, True
    return None, True


async def offset_of(
    shell: ProbeShell, path: str, size: int, since: float, stamps: StampReader
) -> int:
    """A byte offset in PATH at or a little before the first line stamped SINCE or later.

    It is a block boundary, so it may fall inside a line: the reader starts one
    byte before it and drops up to the first newline (Tail.begin_at).

    Blocks whose lines carry no stamp we can read are taken as "after": the
    search then errs towards showing more, never less.
    """
    lo, hi = 0, max(0, (size - 1) // BLOCK)
    while lo < hi:
        mid = (lo + hi) // 2
        at, _ = await _block_time(shell, path, mid, stamps)
        if at is not None and at < since:
            lo = mid + 1
        else:
            hi = mid
    return max(0, lo - 1) * BLOCK
