"""The site's database access: one short-lived connection per request.

A fresh connection each time, with ``target_session_attrs=primary`` in the
DSN, is what makes the site follow a promotion by itself: the next request
simply finds the new primary. Errors leave this module as SiteDbError
subclasses that say what the page should tell the visitor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import errors as pg_errors

STATEMENT_TIMEOUT_MS = 3000
HEALTH_TIMEOUT_MS = 1500


_LATEST = "SELECT id, body, node, created_at FROM notes ORDER BY id DESC LIMIT %s"
_LATEST_WITH_WORDS = "SELECT id, body, node, created_at, words FROM notes ORDER BY id DESC LIMIT %s"
_ADD = "INSERT INTO notes (body, node) VALUES (%s, %s) RETURNING id, body, node, created_at"
_ADD_WITH_WORDS = (
    "INSERT INTO notes (body, node, words) VALUES (%s, %s, %s)"
    " RETURNING id, body, node, created_at, words"
)


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
    """Runs the site's few queries against the primary named by the DSN."""

    def __init__(self, dsn: str, node: str, words: bool = False) -> None:
        """Queries for DSN; with WORDS (release v2), notes carry their number of words.

        Without WORDS no query names the ``words`` column, so v1 runs before
        and after v2's migration; with it, a missing column fails the query.
        """
        self._dsn = dsn
        self._app_name = f"hotspare-site-{node}"
        self._words = words

    @contextmanager
    def _connect(self, timeout_ms: int = STATEMENT_TIMEOUT_MS) -> Iterator[psycopg.Connection]:
        """Open an autocommit connection, turning psycopg errors into SiteDbError."""
        try:
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                application_name=self._app_name,
                options=f"-c statement_timeout={timeout_ms}",
            )
        except psycopg.Error as exc:
            raise DbUnavailable(f"cannot connect to the primary: {_one_line(exc)}") from exc
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
