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

Parser = Callable[[str, int], "float | None"]


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


def _clf(line: str, box_offset: int) -> float | None:
    m = _CLF.search(line, 0, 200)
    if m is None or m[2] not in _MONTHS:
        return None
    return _epoch(
        int(m[3]), _MONTHS[m[2]], int(m[1]), m[4], m[5], m[6], m[7], _zone(m[8], box_offset)
    )


def _iso(line: str, box_offset: int) -> float | None:
    m = _ISO.match(line)
    if m is None:
        return None
    return _epoch(int(m[1]), int(m[2]), int(m[3]), m[4], m[5], m[6], m[7], _zone(m[8], box_offset))


def _apache_error(line: str, box_offset: int) -> float | None:
    m = _APACHE_ERR.match(line)
    if m is None or m[1] not in _MONTHS:
        return None
    return _epoch(int(m[7]), _MONTHS[m[1]], int(m[2]), m[3], m[4], m[5], m[6], box_offset)


def _nginx(line: str, box_offset: int) -> float | None:
    m = _NGINX.match(line)
    if m is None:
        return None
    return _epoch(int(m[1]), int(m[2]), int(m[3]), m[4], m[5], m[6], None, box_offset)


PARSERS: tuple[Parser, ...] = (_clf, _iso, _apache_error, _nginx)


class StampReader:
    """Reads the timestamps of one stream's lines, remembering which format fits."""

    def __init__(self, box_offset: int = 0) -> None:
        self.box_offset = box_offset
        self._first: Parser = _clf

    def read(self, line: str) -> float | None:
        """The line's time in epoch seconds, or None if it carries no known stamp."""
        at = self._first(line, self.box_offset)
        if at is None:
            for parser in PARSERS:
                if parser is not self._first:
                    at = parser(line, self.box_offset)
                    if at is not None:
                        self._first = parser
                        break
        if at is None or at != at:  # NaN: a date that does not exist
            return None
        return at


def parse_offset(text: str) -> int | None:
    """`date +%z` output (+0100, -0530) as seconds east of UTC; None if unreadable."""
    text = text.strip()
    if not re.fullmatch(r"[+-]\d{4}", text):
        return None
    return _zone(text, 0)
