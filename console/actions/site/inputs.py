"""What the operator types for the site's pages: the message and the time (--until).

Both end up in a page HAProxy builds with `lf-string`, which HAProxy 2.6
cannot HTML-escape, and in `set map` commands, whose parser treats `;` and
`\\` specially. So a message is limited to letters, digits, spaces and a few
harmless marks, and anything else is refused with the reason, never
escaped or dropped quietly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.errors import ActionError

MESSAGE_LIMIT = 200
PUNCTUATION = " .,:!?'()/+-_@"

_RELATIVE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_DATED = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})")
_FORMS = '"03:30", "2026-11-26 03:30", "30m", "1h30m" (add " UTC" for a UTC time)'


def check_message(text: str) -> str:
    """TEXT, stripped, if it is safe in the page and the runtime API.

    Raises:
        ActionError: it holds other characters or is too long; says which.
    """
    text = text.strip()
    bad = sorted({c for c in text if not (c.isalnum() or c in PUNCTUATION)})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise ActionError(
            f"the message cannot contain {shown}: HAProxy 2.6 puts it into the page "
            "without HTML escaping and its runtime API splits commands on ';'. "
            f"Use letters, digits, spaces and {' '.join(PUNCTUATION.strip())}"
        )
    if len(text) > MESSAGE_LIMIT:
        raise ActionError(f"the message has {len(text)} characters; at most {MESSAGE_LIMIT}")
    if text == "-":
        raise ActionError("the message '-' means no message to HAProxy; write some words")
    return text


@dataclass(frozen=True)
class Until:
    """A time the site is promised back at, and how the pages show it.

    Attributes:
        at: the moment, with its zone.
        text: what visitors and operators read: "03:30 UTC" today,
            "2026-11-26 03:30 UTC" on another day.
    """

    at: datetime
    text: str


def parse_until(given: str, now: datetime | None = None) -> Until:
    """Read --until: a clock time (the next one), a date and time, or a delay.

    Times without a zone are in the console's local zone; a trailing "UTC"
    makes them UTC. A delay ("30m", "2h", "1h30m") is rounded up to the minute.

    Raises:
        ActionError: the text is none of these, or the time has passed.
    """
    now = (now or datetime.now(UTC)).astimezone()
    text = " ".join(given.split())
    utc = text.upper().endswith(" UTC")
    if utc:
        text = text[:-4].strip()
    relative = _RELATIVE.fullmatch(text)
    if relative and text:
        hours, minutes = (int(part or 0) for part in relative.groups())
        if hours == minutes == 0:
            raise ActionError(f"--until {given!r} is now; give a time ahead")
        at = _minute_up(now + timedelta(hours=hours, minutes=minutes))
        if utc:
            at = at.astimezone(UTC)
    elif match := _CLOCK.fullmatch(text):
        at = _next_clock(now, int(match[1]), int(match[2]), utc)
    elif match := _DATED.fullmatch(text):
        year, month, day, hour, minute = (int(part) for part in match.groups())
        at = _moment(year, month, day, hour, minute, utc)
    else:
        raise ActionError(f"--until {given!r} is not a time; write it as {_FORMS}")
    if at <= now:
        raise ActionError(f"--until {given!r} is {_show(at, now)}, which has already passed")
    return Until(at, _show(at, now))


def _moment(year: int, month: int, day: int, hour: int, minute: int, utc: bool) -> datetime:
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError as exc:
        raise ActionError(f"--until: no such time: {exc}") from exc
    # astimezone() on a naive time applies the local zone's rules for that day (DST included).
    return naive.replace(tzinfo=UTC) if utc else naive.astimezone()


def _next_clock(now: datetime, hour: int, minute: int, utc: bool) -> datetime:
    base = now.astimezone(UTC) if utc else now
    at = _moment(base.year, base.month, base.day, hour, minute, utc)
    if at <= now:
        tomorrow = base + timedelta(days=1)
        at = _moment(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, utc)
    return at


def _minute_up(at: datetime) -> datetime:
    if at.second or at.microsecond:
        return at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return at


def _show(at: datetime, now: datetime) -> str:
    same_day = at.date() == now.astimezone(at.tzinfo).date()
    return at.strftime("%H:%M %Z" if same_day else "%Y-%m-%d %H:%M %Z")
