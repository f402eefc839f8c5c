"""HAProxy's runtime API on a box: one command, one connection, one timeout.

The socket answers one command per connection (outside interactive "prompt"
mode), so each command opens its own direct-streamlocal channel to it (no
socat on the box) and reads until HAProxy closes it. The monitor and the
actions both ask HAProxy through `runtime`.
"""

from __future__ import annotations

import asyncio

import asyncssh

from console.probes.haproxy import BalancerProbeError
from console.ssh import BoxLink


async def runtime(link: BoxLink, socket: str, command: str, timeout: float) -> str:
    """Send COMMAND to HAProxy's runtime socket on LINK's box; HAProxy's whole answer.

    Raises:
        BalancerProbeError: no whole answer within TIMEOUT s, or the channel broke.
        BoxError: the box cannot be reached, or the socket cannot be opened.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await link.open_unix(socket)
            try:
                writer.write(command + "\n")
                return str(await reader.read())
            finally:
                writer.close()
    except TimeoutError as exc:
        raise BalancerProbeError(
            f"no answer to {command!r} within {timeout:g} s from HAProxy's socket "
            f"{socket} on {link.box}"
        ) from exc
    except (OSError, asyncssh.Error) as exc:
        raise BalancerProbeError(
            f"the channel to HAProxy's socket {link.box}:{socket} broke during {command!r}: {exc}"
        ) from exc
