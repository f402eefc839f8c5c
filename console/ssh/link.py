"""BoxLink: one supervised SSH connection per box.

asyncssh has no reconnect: a BoxLink reconnects on demand with backoff, and
re-creates what lived on the old connection (the probe shell, port forwards).
Between failed attempts it answers at once with the last error, so a dead box
never holds up a refresh loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncssh

import console.ssh.remote as remote
from console.inventory import Inventory
from console.ssh.connect import Route, open_route
from console.ssh.errors import BoxError, HostKeyRefused, RemoteFailed, RemoteTimeout, Unreachable

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 15.0
# How long closing an SFTP session may wait for the box before the link is dropped.
CLOSE_TIMEOUT = 3.0


@dataclass(frozen=True)
class LinkState:
    """Where a BoxLink stands: connected, or why not and until when it waits.

    host_key_changed: the box, or a jump host on its way, offered a host key
    other than the recorded one (a possible interception).
    """

    connected: bool
    reason: str | None
    retry_at: float | None
    host_key_changed: bool = False


class BoxLink:
    """The supervised connection to one box and what runs over it."""

    def __init__(self, inv: Inventory, box: str) -> None:
        self.inv = inv
        self.box = box
        self._route: Route | None = None
        self._shell: remote.ProbeShell | None = None
        self._forwards: dict[tuple[str, int], asyncssh.SSHListener] = {}
        self._sessions = asyncio.Semaphore(remote.MAX_EXEC_SESSIONS)
        self._lock = asyncio.Lock()
        self._error: BoxError | None = None
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST

    @property
    def state(self) -> LinkState:
        if self._route is not None:
            return LinkState(True, None, None)
        reason = self._error.reason if self._error else "not connected yet"
        changed = isinstance(self._error, HostKeyRefused) and self._error.changed
        return LinkState(False, reason, self._retry_at or None, changed)

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The open connection, connecting if needed.

        Raises:
            BoxError: the box cannot be reached now (or was not, moments ago).
        """
        async with self._lock:
            if self._route is not None and self._route.conn.is_closed():
                self._drop("connection lost")
            if self._route is not None:
                return self._route.conn
            if self._error is not None and time.monotonic() < self._retry_at:
                raise self._error
            try:
                self._route = await open_route(self.inv, self.box)
            except BoxError as exc:
                self._error = exc
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, BACKOFF_MAX)
                raise
            self._error, self._backoff = None, BACKOFF_FIRST
            return self._route.conn

    def fail(self, reason: str) -> None:
        """Drop the connection after a failure on it; the next use reconnects."""
        self._drop(reason)
        self._error = Unreachable(self.box, reason)
        self._retry_at = time.monotonic() + self._backoff

    def _fail_on(self, conn: asyncssh.SSHClientConnection, reason: str) -> None:
        """Drop CONN after a failure on it, unless the link has moved on to another."""
        if self._route is not None and self._route.conn is conn:
            self.fail(reason)

    def _drop(self, reason: str) -> None:
        if self._route is not None:
            self._route.close()
        self._route, self._shell = None, None
        self._forwards.clear()
        self._error = Unreachable(self.box, reason)

    async def shell(self) -> remote.ProbeShell:
        """The box's probe shell, started again on a new connection."""
        conn = await self.connection()
        if self._shell is None or self._shell.broken:
            self._shell = await remote.ProbeShell.open(self.box, conn)
        return self._shell

    async def run(self, command: str, timeout: float) -> remote.Result:
        """Run one command in its own session (bounded per box).

        Raises:
            RemoteTimeout: no session within remote.START_TIMEOUT (the link is
                dropped: the box is hung), or COMMAND ran past TIMEOUT.
            RemoteFailed: the session could not be opened, or the command not started.
        """
        conn = await self.connection()
        try:
            return await remote.run(self.box, conn, command, timeout, self._sessions)
        except remote.SessionTimeout as exc:
            self._fail_on(conn, exc.reason)
            raise

    async def stream(self, command: str) -> remote.Stream:
        """COMMAND started on the box, its output read as it comes; close it when done.

        Raises:
            RemoteTimeout: no session within remote.START_TIMEOUT (the link is
                dropped: the box is hung).
            RemoteFailed: the session could not be opened, or the command not started.
        """
        conn = await self.connection()
        try:
            return await remote.open_stream(self.box, conn, command, self._sessions)
        except remote.SessionTimeout as exc:
            self._fail_on(conn, exc.reason)
            raise

    @contextlib.asynccontextmanager
    async def sftp(
        self, timeout: float = remote.START_TIMEOUT
    ) -> AsyncIterator[asyncssh.SFTPClient]:
        """An SFTP session on the box; it holds one session slot while open.

        A box that does not start the session within TIMEOUT, or does not close
        it within CLOSE_TIMEOUT, is hung: the link is dropped, not waited on.

        Raises:
            RemoteTimeout: no SFTP session within TIMEOUT.
            RemoteFailed: the box refused one.
        """
        conn = await self.connection()
        async with self._sessions:
            client = await self._start_sftp(conn, timeout)
            try:
                yield client
            finally:
                await self._close_sftp(conn, client)

    async def _start_sftp(
        self, conn: asyncssh.SSHClientConnection, timeout: float
    ) -> asyncssh.SFTPClient:
        """A new SFTP session on CONN, within TIMEOUT."""
        try:
            return await asyncio.wait_for(conn.start_sftp_client(), timeout)
        except TimeoutError as exc:
            why = f"no SFTP session within {timeout:g} s: the box or its sshd is hung"
            self._fail_on(conn, why)  # a session it opens late goes with the connection
            raise RemoteTimeout(self.box, why) from exc
        except (OSError, asyncssh.Error) as exc:
            raise RemoteFailed(self.box, f"cannot start SFTP: {exc}") from exc

    async def _close_sftp(
        self, conn: asyncssh.SSHClientConnection, client: asyncssh.SFTPClient
    ) -> None:
        """End CLIENT's session; a box that does not answer within CLOSE_TIMEOUT is dropped."""
        client.exit()
        try:
            await asyncio.wait_for(client.wait_closed(), CLOSE_TIMEOUT)
        except TimeoutError:
            why = f"the SFTP session did not close within {CLOSE_TIMEOUT:g} s: the box is hung"
            self._fail_on(conn, why)
        except (OSError, asyncssh.Error):
            pass  # it is closed either way

    async def open_unix(self, path: str) -> tuple[asyncssh.SSHReader[str], asyncssh.SSHWriter[str]]:
        """A stream to a UNIX socket on the box (direct-streamlocal: no socat there)."""
        conn = await self.connection()
        try:
            return await conn.open_unix_connection(path, encoding="utf-8", errors="replace")
        except asyncssh.ChannelOpenError as exc:
            raise RemoteFailed(self.box, f"cannot open the socket {path}: {exc.reason}") from exc

    async def forward(self, host: str, port: int) -> int:
        """A local port forwarded to HOST:PORT as seen from the box."""
        conn = await self.connection()
        listener = self._forwards.get((host, port))
        if listener is None:
            try:
                listener = await conn.forward_local_port("127.0.0.1", 0, host, port)
            except (OSError, asyncssh.Error) as exc:
                raise RemoteFailed(self.box, f"cannot forward to {host}:{port}: {exc}") from exc
            self._forwards[(host, port)] = listener
        return listener.get_port()

    async def close(self) -> None:
        """Close the connection and everything on it."""
        route = self._route
        if self._shell is not None:
            await self._shell.stop()
        self._drop("closed")
        if route is not None:
            await route.wait_closed()
