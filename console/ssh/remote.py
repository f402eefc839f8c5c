"""Remote processes: a long-lived probe shell, and bounded one-off commands.

A new exec channel costs ~100 ms (sshd sets up a session) while a round trip
on an open shell costs ~1 ms, so probes go through one ProbeShell per box.
Output is read as bytes and decoded with replacement: one invalid byte must
not close the connection. A remote process that is abandoned is terminated,
then killed, by its process group; closing the channel alone would leave it
running on the box.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from dataclasses import dataclass

import asyncssh

from console.ssh.errors import BoxError, RemoteFailed, RemoteTimeout

# sshd allows 10 sessions per connection by default (MaxSessions); keep
# room for the probe shell and a file transfer.
MAX_EXEC_SESSIONS = 7
# How long a box may take to open a session, and then to start the command in it.
START_TIMEOUT = 5.0
OPEN_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, None)
KILL_TIMEOUT = 5.0


class SessionTimeout(RemoteTimeout):
    """The box opened no session in time: it, or its sshd, is hung.

    A session the box still opens later has no owner here, so the caller
    should drop the connection, and that session with it.
    """


def decode(data: bytes) -> str:
    """Remote bytes as text; undecodable bytes become U+FFFD."""
    return data.decode("utf-8", errors="replace")


async def _first_line_pgid(
    box: str, conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess[bytes]
) -> int:
    """Read the `echo $$` a wrapped command starts with: its process group."""
    try:
        return await _read_pgid(process)
    except (TimeoutError, ValueError, asyncssh.Error) as exc:
        process.close()
        raise RemoteFailed(box, "the remote command did not start") from exc
    except asyncio.CancelledError:
        # Cancelled before its group was known, the command may run already:
        # closing the channel would leave it there, so learn the group and kill it.
        await asyncio.shield(_reap_unstarted(conn, process))
        raise


async def _read_pgid(process: asyncssh.SSHClientProcess[bytes]) -> int:
    return int(await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT))


async def _reap_unstarted(
    conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess[bytes]
) -> None:
    try:
        pgid = await _read_pgid(process)
    except (TimeoutError, ValueError, asyncssh.Error, OSError):
        pgid = None
    process.close()  # its session at least is given back
    if pgid is not None:
        await kill_group(conn, pgid)


def wrapped(command: str) -> str:
    """COMMAND run so that it first prints its process group id.

    sshd makes each session's process a group leader, so killing that group
    stops the command and everything it started.
    """
    return f"echo $$; exec sh -c {shlex.quote(command)}"


async def kill_group(conn: asyncssh.SSHClientConnection, pgid: int) -> None:
    """TERM the remote process group PGID, then KILL it if it lingers.

    Signals over the channel are not delivered by OpenSSH and closing the
    channel leaves the process running, so this is a separate short command.
    """
    # No "--": dash's kill builtin takes it for a pid and fails.
    script = (
        f"kill -TERM -{pgid} 2>/dev/null || exit 0; "
        f"for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -{pgid} 2>/dev/null || exit 0; "
        f"sleep 0.1; done; kill -KILL -{pgid} 2>/dev/null; exit 0"
    )
    # AssertionError: asyncssh asserts on a connection closed while the session opens
    # (seen when a box's connection drops as its probe shell is being stopped).
    with contextlib.suppress(
        OSError, asyncssh.Error, TimeoutError, asyncio.TimeoutError, AssertionError
    ):
        await asyncio.wait_for(conn.run(script, check=False), KILL_TIMEOUT)


class ProbeShell:
    """One long-lived `sh` on a box: send a script, read its output to a marker."""

    def __init__(
        self,
        box: str,
        conn: asyncssh.SSHClientConnection,
        process: asyncssh.SSHClientProcess[bytes],
        pgid: int,
    ) -> None:
        self.box = box
        self._conn = conn
        self._process = process
        self._pgid = pgid
        self._count = 0
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Future[None] | None = None
        self.broken = False

    @classmethod
    async def open(cls, box: str, conn: asyncssh.SSHClientConnection) -> ProbeShell:
        """Start the shell on CONN; stderr is discarded on the box."""
        try:
            process = await conn.create_process(wrapped("exec sh 2>/dev/null"), encoding=None)
        except (OSError, asyncssh.Error) as exc:
            raise RemoteFailed(box, f"cannot start the probe shell: {exc}") from exc
        return cls(box, conn, process, await _first_line_pgid(box, conn, process))

    async def ask(self, script: str, timeout: float) -> str:
        """Run SCRIPT in the shell and return its output.

        Raises:
            RemoteTimeout: no complete answer within TIMEOUT; the shell is stopped.
            RemoteFailed: the channel closed.
        """
        async with self._lock:
            if self.broken:
                raise RemoteFailed(self.box, "the probe shell was stopped")
            self._count += 1
            marker = f"__hotspare_{self._count}_done__"
            self._process.stdin.write(f"{script}\necho {marker}\n".encode())
            try:
                data = await asyncio.wait_for(
                    self._process.stdout.readuntil(f"{marker}\n".encode()), timeout
                )
            except TimeoutError as exc:
                await self.stop()
                raise RemoteTimeout(
                    self.box, f"the probe did not answer within {timeout:g} s"
                ) from exc
            except (asyncio.IncompleteReadError, OSError, asyncssh.Error) as exc:
                self.broken = True
                raise RemoteFailed(self.box, f"the probe shell ended: {exc}") from exc
            except asyncio.CancelledError:
                # An answer still in flight would be read as the next one's.
                self.broken = True
                self._process.close()
                self._reaper = asyncio.ensure_future(kill_group(self._conn, self._pgid))
                raise
            return decode(data[: -len(marker) - 1])

    async def ping(self, timeout: float) -> float:
        """The round trip of an empty command, in milliseconds."""
        start = time.perf_counter()
        await self.ask(":", timeout)
        return (time.perf_counter() - start) * 1000

    async def stop(self) -> None:
        """Stop the shell and whatever it runs, on the box too.

        An idle shell ends by itself when its input closes; only one that is
        still running something needs its process group killed.
        """
        busy = self._lock.locked() or self.broken
        self.broken = True
        self._process.close()
        if busy:
            await kill_group(self._conn, self._pgid)


@dataclass(frozen=True)
class Result:
    """What a one-off remote command did."""

    exit_status: int | None
    stdout: str
    stderr: str


async def _open_session(
    box: str, conn: asyncssh.SSHClientConnection, command: str
) -> asyncssh.SSHClientProcess[bytes]:
    """Open an exec session for COMMAND within START_TIMEOUT.

    Raises:
        SessionTimeout: the box opened none in time.
        RemoteFailed: the box refused one.
    """
    opening = asyncio.ensure_future(_open_within(box, conn, command))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        # The box may start the command before its answer arrives: once it
        # opens, it is reaped, so a cancelled command never runs on.
        await asyncio.shield(_reap_when_open(conn, opening))
        raise


async def _reap_when_open(
    conn: asyncssh.SSHClientConnection, opening: asyncio.Future[asyncssh.SSHClientProcess[bytes]]
) -> None:
    try:
        process = await opening  # bounded by START_TIMEOUT
    except (BoxError, asyncio.CancelledError):  # it never opened
        return
    await _reap_unstarted(conn, process)


async def _open_within(
    box: str, conn: asyncssh.SSHClientConnection, command: str
) -> asyncssh.SSHClientProcess[bytes]:
    try:
        async with asyncio.timeout(START_TIMEOUT):
            return await _open_retrying(box, conn, command)
    except TimeoutError as exc:
        why = f"no session for a command within {START_TIMEOUT:g} s: the box or its sshd is hung"
        raise SessionTimeout(box, why) from exc


async def _open_retrying(
    box: str, conn: asyncssh.SSHClientConnection, command: str
) -> asyncssh.SSHClientProcess[bytes]:
    """Open an exec session, retrying briefly while sshd still counts closed ones.

    sshd frees a session slot only once it has reaped the session's process,
    a moment after the channel closed, so a busy box may refuse for a while.
    """
    for delay in OPEN_RETRY_DELAYS:
        try:
            return await conn.create_process(wrapped(command), encoding=None)
        except asyncssh.ChannelOpenError as exc:
            if delay is None:
                raise RemoteFailed(box, f"cannot run {command!r}: {exc.reason}") from exc
            await asyncio.sleep(delay)
        except (OSError, asyncssh.Error) as exc:
            raise RemoteFailed(box, f"cannot run {command!r}: {exc}") from exc
    raise AssertionError("unreachable: the last delay is None")


async def run(
    box: str,
    conn: asyncssh.SSHClientConnection,
    command: str,
    timeout: float,
    sessions: asyncio.Semaphore,
) -> Result:
    """Run COMMAND in its own exec session, at most SESSIONS at once per box.

    The session slot is given back on every way out.

    Raises:
        SessionTimeout: no session opened within START_TIMEOUT (the box is hung).
        RemoteTimeout: it did not finish in TIMEOUT; it was terminated on the box.
        RemoteFailed: the session could not be opened, or the command did not start.
    """
    async with sessions:
        process = await _open_session(box, conn, command)
        pgid = await _first_line_pgid(box, conn, process)
        try:
            completed = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError as exc:
            process.close()
            await kill_group(conn, pgid)
            raise RemoteTimeout(box, f"{command!r} did not finish within {timeout:g} s") from exc
        except asyncio.CancelledError:
            process.close()
            await asyncio.shield(kill_group(conn, pgid))
            raise
        # sshd counts a session until its channel is closed: free the slot only then.
        process.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait_closed(), START_TIMEOUT)
    out, err = completed.stdout or b"", completed.stderr or b""
    return Result(
        completed.exit_status,
        decode(out if isinstance(out, bytes) else out.encode()),
        decode(err if isinstance(err, bytes) else err.encode()),
    )


class Stream:
    """A long-running remote command whose output is read as it comes (tail -F).

    It holds one of the box's session slots until closed, and closing it
    stops the command on the box by its process group.
    """

    def __init__(
        self,
        box: str,
        conn: asyncssh.SSHClientConnection,
        process: asyncssh.SSHClientProcess[bytes],
        pgid: int,
        slot: asyncio.Semaphore,
    ) -> None:
        self.box = box
        self._conn = conn
        self._process = process
        self._pgid = pgid
        self._slot: asyncio.Semaphore | None = slot
        self.stdout = process.stdout
        self.stderr = process.stderr

    async def close(self) -> None:
        """Stop the command on the box and give back the session slot."""
        slot, self._slot = self._slot, None
        if slot is None:
            return
        self._process.close()
        try:
            if not self._conn.is_closed():
                await asyncio.shield(kill_group(self._conn, self._pgid))
        finally:
            slot.release()


async def open_stream(
    box: str,
    conn: asyncssh.SSHClientConnection,
    command: str,
    sessions: asyncio.Semaphore,
) -> Stream:
    """Start COMMAND and hand back its output streams (bytes), holding a session slot.

    The slot is given back if it does not start, and otherwise by Stream.close.

    Raises:
        SessionTimeout: no session opened within START_TIMEOUT (the box is hung).
        RemoteFailed: the session could not be opened or the command did not start.
    """
    await sessions.acquire()
    try:
        process = await _open_session(box, conn, command)
        pgid = await _first_line_pgid(box, conn, process)
    except BaseException:
        sessions.release()
        raise
    return Stream(box, conn, process, pgid, sessions)
