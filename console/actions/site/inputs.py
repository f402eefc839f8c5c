"""What the operator types for the site's pages: the message and the time (--until).

Both end up in a page HAProxy builds with `lf-string`, which HAProxy 2.6
cannot HTML-escape, and in `set map` commands, whose parser treats `;` and
`\\` specially. So a message is limited to letters, digits, spaces and a few
harmless marks, and anything else is refused with the reason, never
escaped or dropped quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console import when
from console.errors import ActionError

MESSAGE_LIMIT = 200
PUNCTUATION = " .,:!?'()/+-_@"


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
    """Read --until in the time grammar (console/when.py), looking ahead.

    A duration counts from now and a bare clock time is the next one. Times
    without a zone are in the console's local zone; a trailing "UTC" makes
    them UTC. The moment is rounded up to the minute the pages show.

    Raises:
        ActionError: the text is not a time, or the time has passed.
    """
    now = (now or datetime.now(UTC)).astimezone()
    at = ahead("--until", given, now, timedelta(minutes=1), lambda t: _show(t, now))
    return Until(at, _show(at, now))


def ahead(
    option: str, given: str, now: datetime, unit: timedelta, show: Callable[[datetime], str]
) -> datetime:
    """GIVEN (OPTION's value) read looking ahead from NOW, rounded up to a whole UNIT (a
    minute, or a second) and still ahead of NOW; SHOW says a moment in its errors.

    Raises:
        ActionError: the text is not a time, or the time is now or has passed.
    """
    try:
        moment = when.parse(given, now, ahead=True)
    except when.WhenError as exc:
        raise ActionError(f"{option} {exc}") from exc
    if moment.relative and moment.at == now:
        raise ActionError(f"{option} {given!r} is now; give a time ahead")
    at = moment.at
    minutes = unit >= timedelta(minutes=1)
    into = timedelta(seconds=at.second if minutes else 0, microseconds=at.microsecond)
    try:
        at = at - into + unit if into else at
    except OverflowError as exc:  # the last minute (second) of year 9999, rounded up
        last = "23:59, the last minute" if minutes else "23:59:59, the last second"
        raise ActionError(f"{option} {given!r} is after 9999-12-31 {last}") from exc
    if at <= now:
        raise ActionError(f"{option} {given!r} is {show(at)}, which has already passed")
    return at


def _show(at: datetime, now: datetime) -> str:
    same_day = at.date() == now.astimezone(at.tzinfo).date()
    return at.strftime("%H:%M %Z" if same_day else "%Y-%m-%d %H:%M %Z")
