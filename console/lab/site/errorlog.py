"""The site's error log: one timestamped line per event, never a multi-line trace."""

from __future__ import annotations

import sys
from datetime import datetime

from console.lab.site.accesslog import escape_log_item
from console.lab.site.logfile import LineFile, expand


def format_error_line(level: str, message: str, when: datetime) -> str:
    """Return ``[2026-11-25 23:59:01.123 +0000] [error] message``.

    Control characters in the message are escaped so that one event stays on
    one line even when a database error message spans several.
    """
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
    return f"[{stamp} {when.strftime('%z')}] [{level}] {escape_log_item(message, quotes=False)}"


class ErrorLog:
    """Writes info, warn and error lines to the node's error log."""

    def __init__(self, pattern: str, node: str) -> None:
        self.path = expand(pattern, node=node)
        self._file = LineFile()

    def info(self, message: str) -> None:
        """Log an informational event (startup, role change)."""
        self._write("info", message)

    def warn(self, message: str) -> None:
        """Log something odd that the site worked around."""
        self._write("warn", message)

    def error(self, message: str) -> None:
        """Log a failure (database, mail, role file)."""
        self._write("error", message)

    def close(self) -> None:
        """Close the log file."""
        self._file.close()

    def _write(self, level: str, message: str) -> None:
        line = format_error_line(level, message, datetime.now().astimezone())
        try:
            self._file.append(self.path, line)
        except OSError as exc:
            # The error log itself failed: stderr is the last place left to say so.
            print(f"cannot write {self.path}: {exc}; {line}", file=sys.stderr, flush=True)
