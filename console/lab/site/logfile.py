"""Append-only, line-buffered log files shared by the request threads."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TextIO


def expand(pattern: str, **names: str) -> Path:
    """Fill ``{name}`` placeholders of a log path pattern.

    Plain replacement rather than str.format, so other braces in a path are kept.
    """
    for key, value in names.items():
        pattern = pattern.replace("{" + key + "}", value)
    return Path(pattern)


class LineFile:
    """A log file that one or more threads append whole lines to.

    The file is reopened when the wanted path changes (an access log that
    follows the node role) or when it was deleted under us (a lab reset or a
    crude rotation), so lines never vanish into an unlinked inode.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._handle: TextIO | None = None

    def append(self, path: Path, line: str) -> None:
        """Append one line (without its newline) to ``path``."""
        with self._lock:
            handle = self._open(path)
            handle.write(line + "\n")

    def close(self) -> None:
        """Close the current file, if any."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
            self._handle, self._path = None, None

    def _open(self, path: Path) -> TextIO:
        """Return a handle on ``path``, reopening if needed (lock held)."""
        handle = self._handle
        if handle is not None and (path != self._path or os.fstat(handle.fileno()).st_nlink == 0):
            handle.close()
            handle = None
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Line buffered: a line is on disk as soon as it is written.
            handle = path.open("a", encoding="utf-8", buffering=1)
            self._handle, self._path = handle, path
        return handle
