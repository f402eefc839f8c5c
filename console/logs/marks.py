"""What deserves the operator's eye in a log line: server errors, errors, warnings."""

from __future__ import annotations

import re
from typing import Literal

from console.logs.lines import LogLine

Severity = Literal["5xx", "error", "warn"]

# The status after the quoted request line of the combined format.
_STATUS_5XX = re.compile(r'" 5\d\d ')
_ERROR = re.compile(
    r"\b(?:error|fatal|panic|crit(?:ical)?|alert|emerg|exception|traceback)\b", re.IGNORECASE
)
_WARN = re.compile(r"\bwarn(?:ing)?\b", re.IGNORECASE)


def severity(line: LogLine) -> Severity | None:
    """5xx for an access line with a server error status; error or warn by its words."""
    text = line.text
    if line.source.kind == "access":
        return "5xx" if _STATUS_5XX.search(text, 0, 2000) else None
    if _ERROR.search(text, 0, 300):
        return "error"
    if _WARN.search(text, 0, 300):
        return "warn"
    return None


def spans(pattern: re.Pattern[str] | None, text: str, limit: int = 64) -> list[tuple[int, int]]:
    """Where PATTERN matches TEXT (at most LIMIT places; empty matches skipped)."""
    if pattern is None:
        return []
    found = []
    for match in pattern.finditer(text):
        if match.end() > match.start():
            found.append(match.span())
            if len(found) >= limit:
                break
    return found


_COMBINED = re.compile(
    r'\S+ \S+ \S+ \[[^:\]]+:(\d\d:\d\d:\d\d)[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}) (\S+)'
)
_STAMPED = re.compile(r"\[?\d{4}-\d\d-\d\d[T ](\d\d:\d\d:\d\d)[^\]\s]*(?: [+-]\d{4}\])?\]? ?")


def brief(line: LogLine) -> str:
    """The line shortened for a narrow column: time, status, method, path, size.

    An access line in the combined format loses the client, the date and the
    user agent; a line stamped with a date keeps only the time. Anything else
    is shown whole.
    """
    text = line.text
    m = _COMBINED.match(text)
    if m:
        return f"{m[1]} {m[4]} {m[2]} {m[3]} {m[5]}"
    m = _STAMPED.match(text)
    if m:
        return f"{m[1]} {text[m.end() :]}"
    return text
