"""The site's database access: one short-lived connection per request.

A fresh connection each time, with ``target_session_attrs=primary`` in the
DSN, is what makes the site follow a promotion by itself: the next request
simply finds the new primary. A ``database`` pin in the role file narrows
that to one server: each connection then goes to the pinned host and port
only. Errors leave this module as SiteDbError subclasses that say what the
page should tell the visitor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

STATEMENT_TIMEOUT_MS = 3000
HEALTH_TIMEOUT_MS = 1500


_LATEST = "SELECT id, body, node, created_at FROM notes ORDER BY id DESC LIMIT %s"
_LATEST_WITH_WORDS = "SELECT id, body, node, created_at, words FROM notes ORDER BY id DESC LIMIT %s"
_ADD = "INSERT INTO notes (body, node) VALUES (%s, %s) RETURNING id, body, node, created_at"
_ADD_WITH_WORDS = (
    "INSERT INTO notes (body, node, words) VALUES (%s, %s, %s)"
    " RETURNING id, body, node, created_at, words"
)


def pinned_dsn(dsn: str, database: str) -> str:
    """DSN aimed at DATABASE (``HOST:PORT``) alone, its other parameters kept; DSN if empty."""
    if not database:
        return dsn
    host, _, port = database.rpartition(":")
    params = conninfo_to_dict(dsn)
    params.pop("hostaddr", None)  # it would win over the pinned host
    params.update(host=host, port=port)
    return make_conninfo("", **params)


def _no_pin() -> str:
    return ""


class SiteDbError(Exception):
    """A database failure, with a message fit for the error log."""


class DbReadOnly(SiteDbError):
    """The primary refused a write (SQLSTATE 25006, read_only_sql_transaction)."""


class DbUnavailable(SiteDbError):
    """No primary could be reached, or it did not answer in time."""


@dataclass(frozen=True)
class Note:
    """One note as shown on the front page."""

    id: int
    body: str
    node: str
    created_at: datetime
    words: int | None = None


@dataclass(frozen=True)
class Health:
    """What /healthz found on the database."""

    in_recovery: bool


class Database:
    """Runs the site's few queries against the primary named by the DSN (or the pin)."""

    def __init__(
        self, dsn: str, node: str, words: bool = False, pin: Callable[[], str] = _no_pin
    ) -> None:
        """Queries for DSN; with WORDS (release v2), notes carry their number of words.

        Without WORDS no query names the ``words`` column, so v1 runs before
        and after v2's migration; with it, a missing column fails the query.
        PIN gives the role file's ``database`` now: asked at every connect,
        so a new pin applies from the next request on.
        """
        self._dsn = dsn
        self._app_name = f"hotspare-site-{node}"
        self._words = words
        self._pin = pin

    @contextmanager
    def _connect(self, timeout_ms: int = STATEMENT_TIMEOUT_MS) -> Iterator[psycopg.Connection]:
        """Open an autocommit connection, turning psycopg errors into SiteDbError."""
        pin = self._pin()
        try:
            conn = psycopg.connect(
                pinned_dsn(self._dsn, pin),  # inside: a bad DSN is an error of this request
                autocommit=True,
                application_name=self._app_name,
                options=f"-c statement_timeout={timeout_ms}",
            )
        except psycopg.Error as exc:
            where = f"the primary pinned at {pin}" if pin else "the primary"
            raise DbUnavailable(f"cannot connect to {where}: {_one_line(exc)}") from exc
        try:
            with conn:
                yield conn
        except pg_errors.ReadOnlySqlTransaction as exc:
            raise DbReadOnly(f"database is read-only: {_one_line(exc)}") from exc
        except pg_errors.QueryCanceled as exc:
            raise DbUnavailable(f"query timed out: {_one_line(exc)}") from exc
        except psycopg.OperationalError as exc:
            raise DbUnavailable(f"database connection failed: {_one_line(exc)}") from exc
        except psycopg.Error as exc:
            raise SiteDbError(f"database error: {_one_line(exc)}") from exc

    def latest_notes(self, limit: int = 20) -> list[Note]:
        """Return the newest notes first."""
        query = _LATEST_WITH_WORDS if self._words else _LATEST
        with self._connect() as conn:
            rows = conn.execute(query, (limit,)).fetchall()
        return [Note(*row) for row in rows]

    def add_note(self, body: str, node: str) -> Note:
        """Insert a note on the primary and return it."""
        with self._connect() as conn:
            if self._words:
                row = conn.execute(_ADD_WITH_WORDS, (body, node, len(body.split()))).fetchone()
            else:
                row = conn.execute(_ADD, (body, node)).fetchone()
        assert row is not None  # INSERT ... RETURNING always yields the row
        return Note(*row)

    def record_sweep(self, node: str) -> tuple[int, datetime, int]:
        """Record a sweep run; return its id, time and the number of notes."""
        with self._connect() as conn:
            row = conn.execute(
                "INSERT INTO sweep_runs (node) VALUES (%s)"
                " RETURNING id, ran_at, (SELECT count(*) FROM notes)",
                (node,),
            ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    def write_probe(self) -> None:
        """A write on the primary in a default transaction, rolled back."""
        with self._connect() as conn:
            conn.execute("BEGIN")
            conn.execute("CREATE TABLE hotspare_write_probe ()")
            conn.execute("ROLLBACK")

    def health(self) -> Health:
        """Run the health query; the caller bounds the total time."""
        with self._connect(HEALTH_TIMEOUT_MS) as conn:
            row = conn.execute("SELECT 1, pg_is_in_recovery()").fetchone()
        if row is None or row[0] != 1:
            raise SiteDbError("health query returned no row")
        return Health(in_recovery=bool(row[1]))


def _one_line(exc: BaseException) -> str:
    """A psycopg message on one line (libpq adds detail lines)."""
    text = str(exc).strip()
    return (
        " / ".join(part.strip() for part in text.splitlines() if part.strip()) or type(exc).__name__
    )
