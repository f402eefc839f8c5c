"""What a running action reaches the site through: the boxes' links, with timeouts.

Every call here is bounded in time and turns failures into BoxError (or
ActionError) with a reason an operator can act on. Actions share the
monitor's links, so the console's connections are reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncssh

from console.errors import ActionError
from console.inventory import Database, Inventory
from console.ssh import BoxLink, RemoteFailed, Result
from console.state.model import ClusterState

if TYPE_CHECKING:
    import psycopg

    from console.monitor import Monitor

HAPROXY_TIMEOUT = 5.0
SQL_TIMEOUT = 5.0
RUN_TIMEOUT = 15.0
FILE_TIMEOUT = 10.0


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
        self._pg: dict[str, psycopg.AsyncConnection[Any]] = {}

    async def state(self) -> ClusterState:
        """A fresh snapshot of the whole site."""
        return await self.monitor.once()

    async def haproxy(self, command: str) -> str:
        """One runtime API command to the balancer; its whole answer."""
        balancer = self.inv.balancer
        if balancer is None:
            raise ActionError("cluster.yaml declares no balancer")
        reader, writer = await self.links[balancer.box].open_unix(balancer.socket)
        try:
            writer.write(command + "\n")
            return str(await asyncio.wait_for(reader.read(), HAPROXY_TIMEOUT))
        except TimeoutError as exc:
            raise ActionError(
                f"HAProxy did not answer {command!r} in {HAPROXY_TIMEOUT:g} s"
            ) from exc
        finally:
            writer.close()

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
        import psycopg

        from console import dbconn

        try:
            conn = self._pg.get(db.name)
            if conn is None or conn.closed:
                port = await self.links[db.box].forward(db.host, db.port)
                conn = await asyncio.wait_for(dbconn.connect(db, port), SQL_TIMEOUT)
                self._pg[db.name] = conn
            cursor = await asyncio.wait_for(conn.execute(statement.encode()), timeout)
            return await cursor.fetchall() if cursor.description else []
        except (psycopg.Error, dbconn.DatabaseUnreachable, TimeoutError) as exc:
            await self._drop(db.name)
            raise ActionError(f"{db.name}: {statement!r} failed: {_first_line(exc)}") from exc

    async def forget(self, db: Database) -> None:
        """Close the connection to DB: its server is being stopped or started."""
        await self._drop(db.name)

    async def _drop(self, name: str) -> None:
        conn = self._pg.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        """Close the action's own database connections (the links are the monitor's)."""
        for name in list(self._pg):
            await self._drop(name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
