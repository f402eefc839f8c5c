"""A test not marked `lab` must not reach a lab: this guard makes it fail, saying so.

`pytest -m "not lab"` promises the unit tests alone, with no lab up. A test
that reaches a lab box anyway (through a fixture the marking missed, a
module-level layout, a subprocess given the lab's inventory) would pass or
fail by what some other test left running. tests/conftest.py puts this guard
around every test without the mark: a TCP connection to a lab address
(127.0.N.x with N not 0: every lab block), a UNIX socket or a PostgreSQL
socket directory under a lab's root, or a process started with a lab's files
raises LabReached, and the test fails even if the code under test swallowed it.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

# Every lab block is a 127.0.N /24 with N not 0 (127.0.0.1 is the machine's own).
LAB_ADDRESS = re.compile(r"127\.0\.(?!0\.)\d{1,3}\.\d{1,3}")
LAB_ROOT = "/tmp/hotspare-lab-"  # LabLayout.root


class LabReached(AssertionError):
    """A test that is not marked `lab` reached a lab."""


def lab_address(target: object) -> str | None:
    """What in TARGET (a socket address, a host, a path) belongs to a lab, if anything."""
    if isinstance(target, tuple) and target and isinstance(target[0], str):
        target = target[0]
    if isinstance(target, bytes):
        target = target.decode(errors="replace")
    if not isinstance(target, str):
        return None
    if LAB_ADDRESS.fullmatch(target) or target.startswith(LAB_ROOT):
        return target
    return None


class Guard:
    """Refuses every way to a lab while installed; remembers what was tried."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Guard sockets, psycopg and subprocesses until MONKEYPATCH undoes it."""
        for name in ("connect", "connect_ex"):
            monkeypatch.setattr(socket.socket, name, self._sockets(getattr(socket.socket, name)))
        monkeypatch.setattr(
            subprocess.Popen, "__init__", self._processes(subprocess.Popen.__init__)
        )
        for cls in (psycopg.Connection, psycopg.AsyncConnection):
            monkeypatch.setattr(cls, "connect", staticmethod(self._databases(cls.connect)))
        monkeypatch.setattr(psycopg, "connect", psycopg.Connection.connect)  # the module's alias

    def _refuse(self, what: str) -> None:
        self.reached.append(what)
        raise LabReached(
            f"this test reaches a lab ({what}) but is not marked `lab`: "
            "request the `lab` fixture (or one built on it), or mark it pytest.mark.lab"
        )

    def _sockets(self, connect: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(sock: socket.socket, address: Any) -> Any:
            if (found := lab_address(address)) is not None:
                self._refuse(f"a connection to {found}")
            return connect(sock, address)

        return guarded

    def _processes(self, init: Callable[..., None]) -> Callable[..., None]:
        def guarded(popen: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
            words = [args] if isinstance(args, str | bytes) else list(args)
            text = " ".join(str(word) for word in words)
            if LAB_ROOT in text or LAB_ADDRESS.search(text):
                self._refuse(f"a process started with {text[:120]!r}")
            init(popen, args, *rest, **kwargs)

        return guarded

    def _databases(self, connect: Any) -> Any:
        def guarded(conninfo: str = "", **kwargs: Any) -> Any:
            host = str(conninfo_to_dict(conninfo, **kwargs).get("host") or "")
            for one in host.split(","):
                if lab_address(one.strip()) is not None:
                    self._refuse(f"PostgreSQL at {one.strip()}")
            return connect(conninfo, **kwargs)

        return guarded
