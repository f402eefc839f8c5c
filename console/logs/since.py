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
import re
import shlex
import time
from datetime import datetime

from console.logs.stamps import StampReader
from console.ssh.remote import ProbeShell

BLOCK = 4096
ASK_TIMEOUT = 5.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SinceError(ValueError):
    """A --since value that means nothing."""


def parse_since(text: str, now: float | None = None) -> float:
    """`10m`, `2h`, `1d`, `90s`, `14:05`, `2026-11-25 14:05[:SS]` as epoch seconds.

    Clock times without a date are today's; an ISO time without a zone is local.
    """
    now = time.time() if now is None else now
    text = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if m:
        return now - float(m[1]) * _UNITS[m[2]]
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        today = datetime.fromtimestamp(now).strftime("%Y-%m-%d")
        text = f"{today} {text}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise SinceError(
            f"--since {text!r}: expected a duration like 10m, 2h or 1d, "
            "a clock time like 14:05, or a date and time like 2026-11-25 14:05"
        ) from exc


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
