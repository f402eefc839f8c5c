"""Timestamps of log lines: the access log's, and the common error-log formats.

Each parser returns seconds since the epoch or None. A stamp without a zone
is read in the box's own UTC offset (asked of the box when a stream starts),
so lines from boxes in different zones still merge in the right order.
Parsing is on the hot path of a chatty log: the epoch of each calendar day is
computed once and cached, and a stream tries first the parser that matched
its previous line.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

# Apache combined/common and NaviServer: [25/Nov/2026:23:59:01 +0000], zone optional.
_CLF = re.compile(
    r"\[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?: ([+-]\d{4}))?\]"
)
# ISO-like at the start: 2026-11-25T23:59:01.123Z, [2026-11-25 23:59:01.123 +0000],
# 2026-11-25 23:59:01,123 (Python logging), 2026-11-25 23:59:01.123 UTC (PostgreSQL).
_ISO = re.compile(
    r"\[?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})([.,]\d+)?"
    r" ?(Z|[+-]\d{2}:?\d{2}|UTC|GMT)?"
)
# Apache 2.4 error log: [Wed Nov 25 23:59:01.123456 2026]
_APACHE_ERR = re.compile(
    r"\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)? (\d{4})\]"
)
# nginx error log: 2026/11/25 23:59:01 [error] ...
_NGINX = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")


@lru_cache(maxsize=4096)
def _day(year: int, month: int, day: int) -> int:
    """Seconds from the epoch to midnight UTC of a calendar day (ValueError if none such)."""
    return calendar.timegm(date(year, month, day).timetuple())


def _zone(text: str | None, box_offset: int) -> int:
    """A zone as seconds east of UTC; none given means the box's own offset."""
    if not text:
        return box_offset
    if text in ("Z", "UTC", "GMT"):
        return 0
    digits = text[1:].replace(":", "")
    seconds = int(digits[:2]) * 3600 + int(digits[2:4]) * 60
    return -seconds if text[0] == "-" else seconds


def _epoch(y: int, mo: int, d: int, h: str, mi: str, s: str, frac: str | None, zone: int) -> float:
    try:
        base = _day(y, mo, d)
    except (ValueError, OverflowError):
        return float("nan")
    fraction = float("0" + frac.replace(",", ".")) if frac else 0.0
    return base + int(h) * 3600 + int(mi) * 60 + int(s) + fraction - zone


def _clf(m: re.Match[str], box_offset: int) -> float | None:
    if m[2] not in _MONTHS:
        return None
    return _epoch(
        int(m[3]), _MONTHS[m[2]], int(m[1]), m[4], m[5], m[6], m[7], _zone(m[8], box_offset)
    )


def _iso(m: re.Match[str], box_offset: int) -> float | None:
    return _epoch(int(m[1]), int(m[2]), int(m[3]), m[4], m[5], m[6], m[7], _zone(m[8], box_offset))


def _apache_error(m: re.Match[str], box_offset: int) -> float | None:
    if m[1] not in _MONTHS:
        return None
    return _epoch(int(m[7]), _MONTHS[m[1]], int(m[2]), m[3], m[4], m[5], m[6], box_offset)


def _nginx(m: re.Match[str], box_offset: int) -> float | None:
    return _epoch(int(m[1]), int(m[2]), int(m[3]), m[4], m[5], m[6], None, box_offset)


@dataclass(frozen=True)
class Format:
    """One way of writing a time: where to look for it, and how to read it."""

    pattern: re.Pattern[str]
    anywhere: bool  # searched in the line's first 200 characters, else only at its start
    convert: Callable[[re.Match[str], int], float | None]


FORMATS = (
    Format(_CLF, True, _clf),
    Format(_ISO, False, _iso),
    Format(_APACHE_ERR, False, _apache_error),
    Format(_NGINX, False, _nginx),
)


class StampReader:
    """Reads the timestamps of one stream's lines, remembering which format fits.

    A busy log writes many lines in the same second: the text of the last
    stamp read (and the character after it, so a longer stamp cannot pass
    for it) is kept with its value, and a line that carries the same text at
    the same place is answered without parsing.
    """

    def __init__(self, box_offset: int = 0) -> None:
        self.box_offset = box_offset
        self._first = FORMATS[0]
        self._key: str | None = None
        self._key_first_bracket = False
        self._value = 0.0
        self._key_offset = box_offset

    def read(self, line: str) -> float | None:
        """The line's time in epoch seconds, or None if it carries no known stamp."""
        key = self._key
        if key is not None and self._key_offset == self.box_offset:
            at = line.find("[", 0, 200) if self._key_first_bracket else 0
            if at >= 0 and line.startswith(key, at):
                return self._value
        for fmt in (self._first, *FORMATS):
            m = fmt.pattern.search(line, 0, 200) if fmt.anywhere else fmt.pattern.match(line)
            if m is None:
                continue
            value = fmt.convert(m, self.box_offset)
            if value is None or value != value:  # NaN: a date that does not exist
                return None
            self._first = fmt
            self._remember(line, m, value)
            return value
        return None

    def _remember(self, line: str, m: re.Match[str], value: float) -> None:
        start, end = m.span()
        first_bracket = start > 0 and line.find("[", 0, 200) == start
        if end < len(line) and (start == 0 or first_bracket):
            self._key, self._key_first_bracket = line[start : end + 1], first_bracket
            self._value, self._key_offset = value, self.box_offset
        else:
            self._key = None


def parse_offset(text: str) -> int | None:
    """`date +%z` output (+0100, -0530) as seconds east of UTC; None if unreadable."""
    text = text.strip()
    if not re.fullmatch(r"[+-]\d{4}", text):
        return None
    return _zone(text, 0)
