"""What a running action reaches the site through: the boxes' links, with timeouts.

Every call here is bounded in time and turns failures into BoxError (or
ActionError) with a reason an operator can act on. Actions share the
monitor's links, so the console's connections are reused.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncssh

from console.errors import ActionError
from console.inventory import Database, Inventory
from console.probes import http
from console.probes.haproxy import BalancerProbeError
from console.probes.runtime import runtime
from console.ssh import BoxLink, RemoteFailed, Result
from console.state.model import ClusterState

if TYPE_CHECKING:
    from console import dbconn
    from console.monitor import Monitor

HAPROXY_TIMEOUT = 5.0
SQL_TIMEOUT = 5.0
RUN_TIMEOUT = 15.0
RUN_MARGIN = 5.0  # what a command bounded by its own timeout (curl's) may take beyond it
FILE_TIMEOUT = 10.0
MIGRATION_TIMEOUT = 300.0


class Context:
    """The live site, as an action's steps see it."""

    def __init__(
        self,
        monitor: Monitor,
        say: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.monitor = monitor
        self.inv: Inventory = monitor.inv
        self.links: dict[str, BoxLink] = monitor.links
        self.say = say
        self.clock = clock
        self._pg: dbconn.Connections | None = None  # the action's own, made at first use
        self.remembered: dict[str, int | float | str] = {}

    def remember(self, key: str, value: int | float | str) -> None:
        """Keep VALUE for a later stage: a runbook writes it into its record (its notes)."""
        self.remembered[key] = value

    async def state(self, deadline: float | None = None) -> ClusterState:
        """A fresh snapshot of the whole site; a box not done by DEADLINE s is stale in it."""
        return await self.monitor.once(deadline)

    async def haproxy(self, command: str) -> str:
        """One runtime API command to the balancer; its whole answer."""
        balancer = self.inv.balancer
        if balancer is None:
            raise ActionError("cluster.yaml declares no balancer")
        link = self.links[balancer.box]
        try:
            return await runtime(link, balancer.socket, command, HAPROXY_TIMEOUT)
        except BalancerProbeError as exc:
            raise ActionError(str(exc)) from exc

    async def haproxy_change(self, command: str) -> None:
        """A runtime API command that changes something: HAProxy answers nothing when it obeys.

        Raises:
            ActionError: HAProxy answered, which is its refusal.
        """
        answer = (await self.haproxy(command)).strip()
        if answer:
            raise ActionError(f"HAProxy refused {command!r}: {answer.splitlines()[0]}")

    async def run(self, box: str, command: str, timeout: float = RUN_TIMEOUT) -> Result:
        """COMMAND in a shell on BOX."""
        return await self.links[box].run(command, timeout)

    async def fetch(self, box: str, request: http.Request) -> http.Answer:
        """REQUEST made with curl on BOX (curl gives up after the request's max_time)."""

        async def run(command: str) -> str:
            timeout = max(RUN_TIMEOUT, request.max_time + RUN_MARGIN)
            return (await self.run(box, command, timeout)).stdout

        return await http.fetch(run, request)

    async def write_file(self, box: str, path: str, text: str) -> None:
        """Replace PATH on BOX with TEXT atomically (a temporary file, then rename)."""
        temporary = f"{path}.hotspare-new"
        try:
            async with asyncio.timeout(FILE_TIMEOUT), self.links[box].sftp() as sftp:
                async with sftp.open(temporary, "wb") as handle:
                    await handle.write(text.encode())
                await sftp.posix_rename(temporary, path)
        except TimeoutError as exc:
            raise ActionError(f"{box}: writing {path} took longer than {FILE_TIMEOUT:g} s") from exc
        except (OSError, asyncssh.Error) as exc:
            raise ActionError(f"{box}: cannot write {path}: {exc}") from exc

    async def read_file(self, box: str, path: str) -> str:
        """The text of PATH on BOX."""
        result = await self.run(box, f"cat {shlex.quote(path)}")
        if result.exit_status != 0:
            raise RemoteFailed(box, f"cannot read {path}: {result.stderr.strip()[:200]}")
        return result.stdout

    async def sql(
        self, db: Database, statement: str, timeout: float = SQL_TIMEOUT
    ) -> list[tuple[Any, ...]]:
        """Run STATEMENT on DB (autocommit); its rows, if it returns any."""
        from console import dbconn

        if self._pg is None:
            self._pg = dbconn.Connections(self.links, SQL_TIMEOUT)

        async def execute(conn: Any) -> list[tuple[Any, ...]]:
            cursor = await asyncio.wait_for(conn.execute(statement.encode()), timeout)
            return await cursor.fetchall() if cursor.description else []

        try:
            # No retry: a statement that changes something must not run twice.
            return await self._pg.use(db, execute)
        except dbconn.FAILURES as exc:
            said = dbconn.first_line(exc)
            raise ActionError(f"{db.name}: {statement!r} failed: {said}") from exc

    async def transaction(
        self,
        db: Database,
        script: str,
        then: tuple[str, tuple[Any, ...]] | None = None,
        atomic: bool = True,
        timeout: float = MIGRATION_TIMEOUT,
    ) -> None:
        """SCRIPT (one or more statements) on DB, then THEN's statement with its parameters.

        ATOMIC: both inside one transaction, committed together or not at all;
        otherwise SCRIPT on its own (a statement PostgreSQL refuses to run in a
        transaction block, such as CREATE INDEX CONCURRENTLY), then THEN.
        """
        from console import dbconn

        if self._pg is None:
            self._pg = dbconn.Connections(self.links, SQL_TIMEOUT)

        async def execute(conn: Any) -> None:
            async def both() -> None:
                await conn.execute(script.encode())
                if then is not None:
                    await conn.execute(then[0].encode(), then[1])

            if atomic:
                async with conn.transaction():
                    await asyncio.wait_for(both(), timeout)
            else:
                await asyncio.wait_for(both(), timeout)

        try:
            await self._pg.use(db, execute)
        except dbconn.FAILURES as exc:
            raise ActionError(f"{db.name}: {dbconn.first_line(exc)}") from exc

    async def forget(self, db: Database) -> None:
        """Close the connection to DB: its server is being stopped or started."""
        if self._pg is not None:
            await self._pg.drop(db.name)

    async def close(self) -> None:
        """Close the action's own database connections (the links are the monitor's)."""
        if self._pg is not None:
            await self._pg.close()
