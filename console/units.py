"""Sizes and durations in an operator's short units: one rule for every front end."""

from __future__ import annotations

import time


def age(seconds: float | None) -> str:
    """A short age: 0.4s, 12s, 3m, 2h."""
    if seconds is None:
        return "never"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def duration(seconds: float) -> str:
    """A duration: milliseconds below one second, then the short ages."""
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else age(seconds)


def size(count: float | None) -> str:
    """Bytes in a short binary unit: 512B, 1.5kB, 16.0MB (1 kB = 1024 bytes here)."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}GB"


def lsn(text: str) -> int:
    """A WAL position ('16/B374D848') as a number of bytes.

    Raises:
        ValueError: TEXT is not a WAL position.
    """
    high, sep, low = text.strip().partition("/")
    if not sep:
        raise ValueError(f"not a WAL position: {text!r}")
    return (int(high, 16) << 32) + int(low, 16)


def lsn_text(position: int) -> str:
    """A number of bytes as PostgreSQL writes a WAL position: '16/B374D848'."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def clock_time(at: float, now: float) -> str:
    """AT (epoch seconds) as a local clock time and its age: "23:14:05 (12s ago)".

    The date is shown too when AT is not today.
    """
    moment = time.localtime(at)
    same_day = moment[:3] == time.localtime(now)[:3]
    shown = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", moment)
    return f"{shown} ({ago(now - at)})"


def ago(seconds: float) -> str:
    """How long ago: "now", "12s ago", "3m ago" (a negative age is a clock ahead)."""
    if seconds < 0:
        return f"{age(-seconds)} ahead of this machine's clock"
    if seconds < 0.05:
        return "now"
    return f"{age(seconds)} ago"
