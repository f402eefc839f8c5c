"""A writer that records every acknowledged commit, and a watch on who is writable.

Both are threads bounded in time (they stop by themselves at their deadline,
or when stopped). The writer commits through the site's own multi-host
connection string, as the site does, so it follows a promotion the same way.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from console.lab.layout import PG_PORT, LabLayout

TABLE = "hotspare_test_writes"


def _site_dsn(lab: LabLayout) -> str:
    return lab.site_dsn() + f" passfile={lab.pgpass}"


@dataclass
class _Bounded:
    """A thread that runs until stopped or until SECONDS have passed."""

    lab: LabLayout
    seconds: float = 120.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _deadline: float = 0.0

    def _spawn(self) -> None:
        self._deadline = time.monotonic() + self.seconds
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _going(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


@dataclass
class Writer(_Bounded):
    """Commits one row at a time; `acked` holds (id, monotonic time) of each acknowledged one."""

    acked: list[tuple[int, float]] = field(default_factory=list)
    errors: int = 0

    def start(self) -> Writer:
        with psycopg.connect(_site_dsn(self.lab), autocommit=True) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY)")
            row = conn.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}").fetchone()
        self._next = int(row[0]) + 1 if row else 1
        self._spawn()
        return self

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while self._going():
            try:
                if conn is None:
                    conn = psycopg.connect(_site_dsn(self.lab), autocommit=True)
                conn.execute(f"INSERT INTO {TABLE} VALUES (%s)", (self._next,))
                self.acked.append((self._next, time.monotonic()))
                self._next += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def longest_gap(self, after: float = 0.0) -> float:
        """The longest time between two acknowledged commits (after monotonic time AFTER)."""
        times = [t for _, t in self.acked if t >= after]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def missing_on(self, member: str) -> list[int]:
        """Acknowledged ids that MEMBER does not have."""
        with _member(self.lab, member) as conn:
            present = {r[0] for r in conn.execute(f"SELECT id FROM {TABLE}").fetchall()}
        return [i for i, _ in self.acked if i not in present]


def _member(lab: LabLayout, member: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=lab.address(member),
        port=PG_PORT,
        user="hotspare",
        dbname="site",
        passfile=str(lab.pgpass),
        connect_timeout=1,
        autocommit=True,
    )


@dataclass
class Watch(_Bounded):
    """Asks every member, round after round, whether it is out of recovery (writable)."""

    rounds: list[dict[str, bool | None]] = field(default_factory=list)

    def start(self) -> Watch:
        self._spawn()
        return self

    def _ask(self, conns: dict[str, Any], member: str) -> bool | None:
        try:
            if conns.get(member) is None:
                conns[member] = _member(self.lab, member)
            row = conns[member].execute("SELECT pg_is_in_recovery()").fetchone()
            return not row[0]
        except psycopg.Error:
            if conns.get(member) is not None:
                conns[member].close()
            conns[member] = None
            return None

    def _run(self) -> None:
        conns: dict[str, Any] = {}
        while self._going():
            self.rounds.append({m: self._ask(conns, m) for m in self.lab.db_names})
            time.sleep(0.01)
        for conn in conns.values():
            if conn is not None:
                conn.close()

    def both_writable(self) -> list[dict[str, bool | None]]:
        """The rounds in which two or more members said they were out of recovery."""
        return [r for r in self.rounds if sum(1 for v in r.values() if v) >= 2]

    def primaries_seen(self) -> list[str]:
        """Who was the primary, in order of change (None rounds skipped)."""
        order: list[str] = []
        for r in self.rounds:
            for member, writable in r.items():
                if writable and (not order or order[-1] != member):
                    order.append(member)
        return order
