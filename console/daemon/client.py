"""Reading a shared monitor: attach, one snapshot for `status`, a feed for the console.

Every wait is short and bounded: a monitor that is not there costs one
failed connect; one that is there but hung (SIGSTOP, a full backlog) costs
at most ATTACH_WAIT before the command goes on with its own connections.
A monitor that reads another cluster.yaml than the client's, or hands out a
snapshot older than it should, is not used: nothing stale is shown as news.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.daemon import place
from console.daemon.protocol import MAX_LINE, Hello, ProtocolError, Request
from console.state import codec

if TYPE_CHECKING:
    from console.events import Level
    from console.feed import SnapshotSource
    from console.inventory import Inventory
    from console.state.model import ClusterState

ATTACH_WAIT = 1.0  # seconds for the connect and the hello together (a busy machine)
FIRST_WAIT = 10.0  # for the first snapshot of a monitor still on its first refresh


@dataclass
class Attached:
    """An open connection to a monitor that said hello."""

    hello: Hello
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def next(self, wait: float) -> ClusterState | None:
        """The next snapshot within WAIT s, or None: the monitor went away or fell silent.

        Raises:
            ProtocolError: a line that is not a snapshot.
        """
        try:
            line = await asyncio.wait_for(self.reader.readline(), wait)
        except (TimeoutError, ConnectionError, ValueError):  # ValueError: a line over MAX_LINE
            return None
        if not line.endswith(b"\n"):
            return None
        try:
            return codec.decode(json.loads(line))
        except (ValueError, codec.SnapshotError) as exc:
            raise ProtocolError(f"a snapshot the console cannot read: {exc}") from None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def socket_of(inv: Inventory) -> Path:
    return place.socket_for(inv.path)


def start_monitor(inv: Inventory) -> None:
    """Start a shared monitor of INV in the background; it stops after a while alone."""
    from console.daemon import spawn

    spawn.start(inv.path, socket_of(inv))


async def attach(
    inv: Inventory, path: Path | None = None, wait: float = ATTACH_WAIT
) -> tuple[Attached | None, str]:
    """Connect to the monitor of INV (on PATH) for its snapshots; the connection, or None
    and why not.

    The reason is "" when simply no monitor runs (nothing to tell anyone).
    """
    path = path or socket_of(inv)
    try:
        async with asyncio.timeout(wait):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
            try:
                writer.write(Request("snapshots").line())
                line = await reader.readline()
            except BaseException:
                writer.close()
                raise
    except (FileNotFoundError, ConnectionRefusedError):
        return None, ""
    except TimeoutError:
        return None, f"the monitor on {path} did not say hello within {wait:g} s"
    except OSError as exc:
        return None, f"the monitor on {path} cannot be reached: {exc.strerror or exc}"
    attached = None
    try:
        hello = Hello.parse(line)
        if hello.digest != place.digest(inv.path):
            why = (
                f"the monitor (pid {hello.pid}) read {hello.cluster_file} before it changed; "
                "`hotspare monitor stop` and start it again"
            )
        else:
            attached, why = Attached(hello, reader, writer), ""
    except ProtocolError as exc:
        why = f"{path} is not a hotspare monitor of this version: {exc}"
    if attached is None:
        writer.close()
    return attached, why


def too_old(state: ClusterState, interval: float, clock: Callable[[], float]) -> bool:
    """Whether STATE is older than a live monitor refreshing every INTERVAL s would hand out."""
    return clock() - state.taken_at > 3 * interval + 2


async def latest(
    inv: Inventory, wait: float, clock: Callable[[], float] = time.time
) -> tuple[ClusterState | None, str]:
    """The shared monitor's latest snapshot, within WAIT s for a monitor still starting.

    Returns:
        The snapshot, or None and why none (the reason is "" when no monitor runs).
    """
    if not place.wanted():
        return None, ""
    attached, why = await attach(inv)
    if attached is None:
        return None, why
    try:
        state = await attached.next(wait)
    except ProtocolError as exc:
        return None, str(exc)
    finally:
        await attached.close()
    if state is None:
        return None, f"the monitor (pid {attached.hello.pid}) sent no snapshot within {wait:g} s"
    if too_old(state, attached.hello.interval, clock):
        age = clock() - state.taken_at
        return None, f"the monitor (pid {attached.hello.pid}) hands out a snapshot {age:.0f} s old"
    return state, ""


class SharedFeed:
    """Snapshots from the shared monitor while it serves; from OWN's feed otherwise.

    START: when no monitor runs, start one (the console does; `status --watch`
    does not) and wait for it. When the monitor goes away or falls silent,
    the feed goes on with its own connections for the rest of its life, and
    `source` says so.
    """

    def __init__(
        self,
        inv: Inventory,
        own: Callable[[], SnapshotSource],
        start: Callable[[Inventory], None] | None = None,
        clock: Callable[[], float] = time.time,
        tell: Callable[[str, Level], None] = lambda text, level: None,
    ) -> None:
        self.inv = inv
        self._own = own
        self._start = start
        self._clock = clock
        self.tell = tell  # (text, "info" or "warning"): where the snapshots come from
        self.source = "own connections"

    async def updates(self) -> AsyncGenerator[ClusterState, None]:
        attached = await self._attach()
        if attached is not None:
            async for state in self._shared(attached):
                yield state
        async for state in self._own().updates():
            yield state

    async def _attach(self) -> Attached | None:
        if not place.wanted():
            return None
        attached, why = await attach(self.inv)
        if attached is None and not why and self._start is not None:
            self._start(self.inv)
            deadline = time.monotonic() + 3.0
            while attached is None and not why and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                attached, why = await attach(self.inv)
        if why:
            self.tell(f"not using the shared monitor: {why}", "warning")
        return attached

    async def _shared(self, attached: Attached) -> AsyncGenerator[ClusterState, None]:
        hello = attached.hello
        self.source = f"the shared monitor (pid {hello.pid})"
        self.tell(f"snapshots from {self.source}", "info")
        wait, why = FIRST_WAIT, ""
        try:
            while True:
                state = await attached.next(wait)
                if state is None:
                    why = "it went away or fell silent"
                    break
                if too_old(state, hello.interval, self._clock):
                    why = "it hands out old snapshots"
                    break
                wait = 3 * hello.interval + 2
                yield state
        except ProtocolError as exc:
            why = str(exc)
        finally:
            await attached.close()
        self.source = "own connections"
        self.tell(
            f"the shared monitor (pid {hello.pid}): {why}; watching on own connections", "warning"
        )
