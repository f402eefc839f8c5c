"""PostgreSQL connections over an SSH-forwarded port, with timeouts.

The forward makes every member look like 127.0.0.1:<some port>, so libpq's own
.pgpass lookup would match the wrong host and port; the password is looked
up here for the member's real host, port, database and user instead.
PGPASSWORD, when set, is left to libpq.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg

from console.inventory import Database

CONNECT_TIMEOUT = 3
STATEMENT_TIMEOUT_MS = 2000


class DatabaseUnreachable(Exception):
    """A member did not accept a connection; the message says why."""


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
        raise DatabaseUnreachable(first_line(exc)) from exc


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: libpq's are multi-line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
