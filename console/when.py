"""The one way an operator writes a time, for every --since and --until.

`10m`, `2h`, `1h30m`, `today`, `yesterday`, `14:30`, `2026-12-06T14:30`
(or with a space, seconds, or a zone such as `+02:00`), each optionally
followed by ` UTC`. The grammar is one; the direction is the caller's: a
duration or a bare clock time looks back for `logs`, and ahead for the
site's --until. docs/cli.md documents it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from console.errors import Exit, HotspareError

FORMS = (
    "a duration like 10m, 2h or 1h30m, today or yesterday, a clock time like 14:30, "
    "or a date and time like 2026-12-06T14:30 (add ' UTC' for a UTC time)"
)

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
# The longest duration taken, either way: ten years of logs is more than any
# box keeps, and ten years ahead is further than any promise to visitors.
MAX_DAYS = 3650
_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile("".join(f"(?:{_NUMBER}{unit})?" for unit in _UNITS))
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DATED = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


class WhenError(HotspareError, ValueError):
    """Text that is not a time in the grammar, or names a time that does not exist."""

    exit = Exit.USAGE


@dataclass(frozen=True)
class When:
    """A moment an operator wrote.

    Attributes:
        at: the moment, in UTC if the text said so (or gave a zone), else in
            the local zone.
        relative: True when it was written as a duration from now.
    """

    at: datetime
    relative: bool


def parse(text: str, now: datetime, *, ahead: bool) -> When:
    """Read TEXT as a moment relative to NOW (an aware datetime).

    Args:
        text: what the operator typed.
        now: the moment durations count from.
        ahead: True if a duration counts forward and a bare clock time is the
            next one; False if a duration means "ago" and a clock time is the
            last one.

    Raises:
        WhenError: TEXT is not in the grammar, or is a date that does not exist.
    """
    words = " ".join(text.split())
    utc = words.upper().endswith(" UTC")
    if utc:
        words = words[:-4]
    base = now.astimezone(UTC) if utc else now.astimezone()
    if words and (duration := _DURATION.fullmatch(words.replace(" ", ""))):
        pairs = zip(duration.groups(), _UNITS.values(), strict=True)
        seconds = sum(float(n) * unit for n, unit in pairs if n)
        if not seconds <= MAX_DAYS * _UNITS["d"]:  # also inf, from a few hundred digits
            raise WhenError(
                f"{_shown(text)} is too long a duration: the longest is {MAX_DAYS}d "
                f"({MAX_DAYS * 24}h, about ten years)"
            )
        return When(base + timedelta(seconds=seconds if ahead else -seconds), relative=True)
    if words in ("today", "yesterday"):
        day = base.date() - timedelta(days=0 if words == "today" else 1)
        return When(_moment(utc, day.year, day.month, day.day), relative=False)
    if clock := _CLOCK.fullmatch(words):
        hour, minute, second = (int(part or 0) for part in clock.groups())
        return When(_clock(base, utc, ahead, (hour, minute, second)), relative=False)
    if dated := _DATED.fullmatch(words):
        return When(_dated(dated, utc), relative=False)
    raise WhenError(f"{_shown(text)} is not a time: expected {FORMS}")


def _shown(text: str) -> str:
    """TEXT as a message quotes it: stripped, shortened, every control character escaped."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:39] + "…")


def _moment(utc: bool, year: int, month: int, day: int, *clock: int) -> datetime:
    """The moment of these fields (CLOCK: hour, minute, second, microsecond), UTC or local."""
    hour, minute, second, micro = (*clock, 0, 0, 0, 0)[:4]
    try:
        naive = datetime(year, month, day, hour, minute, second, micro)
        if utc:
            return naive.replace(tzinfo=UTC)
        # astimezone() on a naive time applies the local zone's rules for that day (DST included).
        return naive.astimezone()
    except (ValueError, OverflowError) as exc:  # OverflowError: the zone pushes past year 9999
        raise WhenError(f"no such time: {exc}") from exc


def _clock(base: datetime, utc: bool, ahead: bool, clock: tuple[int, int, int]) -> datetime:
    """The next (AHEAD) or the last CLOCK time seen from BASE: today's if it can be."""
    at = _moment(utc, base.year, base.month, base.day, *clock)
    if ahead == (at <= base):
        day = base + timedelta(days=1 if ahead else -1)
        at = _moment(utc, day.year, day.month, day.day, *clock)
    return at


def _dated(match: re.Match[str], utc: bool) -> datetime:
    *fields, fraction, offset = match.groups()
    year, month, day, hour, minute, second = (int(part or 0) for part in fields)
    micro = int((fraction or "0").ljust(6, "0"))
    at = _moment(offset is not None or utc, year, month, day, hour, minute, second, micro)
    if offset is None or offset == "Z":
        return at
    sign = -1 if offset[0] == "-" else 1
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[-2:]))
    # The fields were read as UTC's; they are the zone's own clock.
    return at.replace(tzinfo=timezone(sign * shift))
