"""Apache "combined" access log lines, written to a file named after the node's role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from console.lab.site.logfile import LineFile, expand

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def escape_log_item(text: str, quotes: bool = True) -> str:
    r"""Escape text taken from a client so it cannot forge or garble log lines.

    Like Apache's ap_escape_logitem: printable ASCII is kept, ``"`` and ``\``
    get a backslash (when ``quotes``), every other byte (control characters,
    DEL, bytes >= 0x80) becomes ``\xNN``. http.server decodes the request as
    Latin-1, so each character there is one byte of what the client sent.
    """
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        data = text.encode("utf-8", errors="backslashreplace")
    out = []
    for byte in data:
        if quotes and byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


@dataclass(frozen=True)
class AccessEntry:
    """What the access log records about one request."""

    client: str
    when: datetime
    request_line: str
    status: int
    size: int
    referer: str | None
    user_agent: str | None


def format_combined(entry: AccessEntry) -> str:
    """Return the entry in Apache combined format (without newline).

    ``%h - - [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "%{Referer}i" "%{User-agent}i"``
    """
    when = entry.when
    stamp = (
        f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year:04d}:{when.strftime('%H:%M:%S %z')}"
    )
    size = str(entry.size) if entry.size > 0 else "-"
    referer = escape_log_item(entry.referer) if entry.referer is not None else "-"
    agent = escape_log_item(entry.user_agent) if entry.user_agent is not None else "-"
    return (
        f"{escape_log_item(entry.client)} - - [{stamp}] "
        f'"{escape_log_item(entry.request_line)}" {entry.status} {size} '
        f'"{referer}" "{agent}"'
    )


class AccessLog:
    """The access log of one node; its file name follows the node's current role.

    A warm node never writes into the hot naming scheme: each line goes to the
    pattern expanded with the role the node had when the request was served.
    """

    def __init__(self, pattern: str, node: str) -> None:
        self._pattern = pattern
        self._node = node
        self._file = LineFile()

    def path_for(self, role: str) -> str:
        """Return the file the node writes to while it has ``role``."""
        return str(expand(self._pattern, node=self._node, role=role))

    def write(self, role: str, entry: AccessEntry) -> None:
        """Append one request to the log of ``role``."""
        self._file.append(expand(self._pattern, node=self._node, role=role), format_combined(entry))

    def close(self) -> None:
        """Close the current file."""
        self._file.close()
