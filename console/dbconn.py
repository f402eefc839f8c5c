"""PostgreSQL connections over an SSH-forwarded port, with timeouts.

The forward makes every member look like 127.0.0.1:<some port>, so libpq's own
.pgpass lookup would match the wrong host and port; the password is looked
up here for the member's real host, port, database and user instead.
PGPASSWORD, when set, is left to libpq.

`Connections` keeps one connection per member for an action, and drops a
connection on any failure so that the next use opens a new one. The monitor
opens a new one at every refresh instead (`fresh`): an old connection keeps
answering while the postmaster is stopped or refuses new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from console.errors import Exit, HotspareError
from console.inventory import Database
from console.ssh import BoxLink

T = TypeVar("T")

CONNECT_TIMEOUT = 3
STATEMENT_TIMEOUT_MS = 2000


class DatabaseUnreachable(HotspareError):
    """A member did not accept a connection; the message says why.

    Attributes:
        reason: libpq's reason, without the SSH forward's address (which
            names this machine, not the member); the message adds the member's.
    """

    exit = Exit.FAILED

    def __init__(self, db: Database, reason: str) -> None:
        super().__init__(f"{db.host}:{db.port}: {reason}")
        self.reason = reason


FAILURES = (psycopg.Error, DatabaseUnreachable, TimeoutError)
"""What a use of a member's connection can fail with (BoxError aside: the box's)."""


def _fields(line: str) -> list[str]:
    """Split a .pgpass line on unescaped colons, undoing \\: and \\\\."""
    fields, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def password_for(db: Database) -> str | None:
    """The password for DB from its passfile, $PGPASSFILE or ~/.pgpass, if any."""
    path = db.passfile or Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    wanted = (db.host, str(db.port), db.dbname, db.user)
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _fields(line)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields, wanted, strict=False)):
            return fields[4]
    return None


async def connect(db: Database, local_port: int) -> psycopg.AsyncConnection[Any]:
    """Connect to DB through a forward listening on 127.0.0.1:LOCAL_PORT.

    Raises:
        DatabaseUnreachable: with the first line of libpq's reason.
    """
    params: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": local_port,
        "dbname": db.dbname,
        "user": db.user,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "hotspare",
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        "autocommit": True,
    }
    password = password_for(db)
    if password is not None:
        params["password"] = password
    try:
        return await psycopg.AsyncConnection.connect(**params)
    except psycopg.Error as exc:
        raise DatabaseUnreachable(db, libpq_reason(first_line(exc))) from exc


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: libpq's are multi-line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# libpq names the address it dialled: through a forward, 127.0.0.1 and a random port.
_DIALLED = re.compile(
    r'connection to server (?:at "[^"]*"(?: \([^)]*\))?, port \d+|on socket "[^"]*") failed: '
)


def libpq_reason(line: str) -> str:
    """LINE, a libpq connection error, without the address dialled (the forward's)."""
    return _DIALLED.sub("", line).removeprefix("connection failed: ").strip() or line


class Connections:
    """One kept connection per database member, each through its box's SSH link.

    A connection that fails in any way is closed and forgotten: the next use
    opens a new one (through a new forward if the link was reconnected).
    """

    def __init__(self, links: Mapping[str, BoxLink], timeout: float) -> None:
        """LINKS: the box links, by box name; TIMEOUT: seconds to open a connection."""
        self._links = links
        self._timeout = timeout
        self._kept: dict[str, psycopg.AsyncConnection[Any]] = {}

    async def use(
        self,
        db: Database,
        work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        retry: bool = False,
    ) -> T:
        """WORK on DB's kept connection (a new one when there is none); its result.

        RETRY: a kept connection may have died with an old SSH connection, so a
        failure on one is tried once more on a new connection, which tells that
        apart from a database that is down. Only for WORK that may run twice.

        Raises:
            DatabaseUnreachable: no connection (libpq's reason, or none in time).
            psycopg.Error, TimeoutError: WORK's, unchanged (after the drop).
            BoxError: the box's link cannot forward to the member.
        """
        while True:
            reused = db.name in self._kept
            try:
                return await work(await self._connection(db))
            except FAILURES:
                await self.drop(db.name)
                if not (retry and reused):
                    raise
                retry = False

    async def _connection(self, db: Database) -> psycopg.AsyncConnection[Any]:
        conn = self._kept.get(db.name)
        if conn is not None and not conn.closed:
            return conn
        conn = await self._open(db)
        self._kept[db.name] = conn
        return conn

    async def _open(self, db: Database) -> psycopg.AsyncConnection[Any]:
        port = await self._links[db.box].forward(db.host, db.port)
        try:
            return await asyncio.wait_for(connect(db, port), self._timeout)
        except TimeoutError as exc:
            raise DatabaseUnreachable(db, f"no connection within {self._timeout:g} s") from exc

    async def fresh(
        self, db: Database, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
    ) -> T:
        """WORK on a NEW connection to DB, closed afterwards; its result.

        A kept connection reaches a backend forked long ago, which keeps
        answering while the postmaster is stopped or refuses new connections:
        only a new one proves that the member takes new work.

        Raises:
            DatabaseUnreachable, psycopg.Error, TimeoutError, BoxError: as `use`.
        """
        conn = await self._open(db)
        try:
            return await work(conn)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def drop(self, name: str) -> None:
        """Close and forget the connection to member NAME, if one is kept."""
        conn = self._kept.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        """Close every kept connection."""
        for name in list(self._kept):
            await self.drop(name)
