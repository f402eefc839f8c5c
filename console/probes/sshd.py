"""Does a box's sshd still greet a NEW connection? Its established ones cannot tell.

sshd serves each connection in a child process: with the listening sshd
stopped (SIGSTOP) or crashed, the console's long-lived connection keeps
answering while nobody can log in anew and `hotspare status` cannot reach the
box. So each refresh opens a plain TCP connection to the box's SSH port and
waits for sshd's greeting ("SSH-2.0-..."), then says its own and closes: sshd
logs that as one short line. A kernel that accepts the connection while no
greeting comes means sshd itself is hung; a refusal means it is not running.
A box that does not answer TCP at all is not blamed on sshd here (the box or
the network may be down: the box's own freshness says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncssh


class _Reader(Protocol):
    async def readline(self) -> bytes: ...


class _Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Streams = tuple[_Reader, _Writer]
Opener = Callable[[str, int], Awaitable[Streams]]
"""Opens a TCP connection to (host, port): directly, or through a jump box's connection."""

OUR_GREETING = b"SSH-2.0-hotspare_check\r\n"


async def direct(host: str, port: int) -> Streams:
    """A TCP connection from this machine."""
    return await asyncio.open_connection(host, port)


def through(conn: asyncssh.SSHClientConnection) -> Opener:
    """An opener that connects from the far end of CONN (a jump box's link)."""

    async def open_there(host: str, port: int) -> Streams:
        return await conn.open_connection(host, port, encoding=None)

    return open_there


async def check(
    box: str, host: str, port: int, timeout: float, opener: Opener = direct
) -> str | None:
    """Why sshd on BOX at HOST:PORT does not greet a new connection within TIMEOUT s, or None.

    None also when the answer is not sshd's fault (no TCP answer at all).
    """
    where = f"{host}:{port}"
    try:
        reader, writer = await asyncio.wait_for(opener(host, port), timeout)
    except ConnectionRefusedError:
        return f"sshd on {box} refuses new connections at {where}: it is not running"
    except asyncssh.ChannelOpenError as exc:
        if "refused" in exc.reason.lower():
            return f"sshd on {box} refuses new connections at {where}: it is not running"
        return None
    except (OSError, TimeoutError):
        return None
    try:
        greeting = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError:
        return (
            f"sshd on {box} accepts connections at {where} but sends no SSH greeting within "
            f"{timeout:g} s: sshd is hung, nobody can open a new SSH connection"
        )
    except (OSError, asyncssh.Error):
        greeting = b""
    finally:
        with contextlib.suppress(OSError, asyncssh.Error, RuntimeError):
            writer.write(OUR_GREETING)
            writer.close()
    if not greeting.startswith(b"SSH-"):
        return f"sshd on {box} at {where} closed a new connection without an SSH greeting"
    return None
