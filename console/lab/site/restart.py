"""Restarts onto `current` on request: the SSH user cannot signal the site, but can write a file.

The lab's SSH user (bin/site-restart) writes a new token to the request file;
the site polls it, stops serving and re-executes itself with the same argv,
so its pid (and pid file) stay the same and the new process resolves
`current` anew. The token acted on travels to the new process in the
environment: a request written while that restart is under way differs
from it and is acted on next, never lost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

SEEN_ENV = "HOTSPARE_SITE_RESTART_SEEN"
MAX_TOKEN = 200


def read_token(path: Path) -> str:
    """The request file's token, or "" when there is none (no file, unreadable)."""
    try:
        with path.open("rb") as file:
            return file.read(MAX_TOKEN).decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


class RestartWatch:
    """Tells whether a new restart request came since the one this process answers."""

    def __init__(self, path: Path, seen: str | None) -> None:
        """Watch PATH; SEEN is the token already acted on (None: take today's as seen).

        ``restarted`` tells whether this process is a restart (it got SEEN from
        the process before it).
        """
        self.path = path
        self.restarted = seen is not None
        self.seen = read_token(path) if seen is None else seen

    @classmethod
    def from_environment(cls, path: Path) -> RestartWatch:
        """The watch of a process that may have been re-executed by `restart`."""
        return cls(path, os.environ.get(SEEN_ENV))

    def pending(self) -> str | None:
        """The token of a request not acted on yet, or None."""
        token = read_token(self.path)
        return token if token and token != self.seen else None


def restart(token: str) -> NoReturn:
    """Re-execute this process with the same command line, marking TOKEN as acted on."""
    env = {**os.environ, SEEN_ENV: token}
    os.execve(sys.executable, sys.orig_argv, env)
