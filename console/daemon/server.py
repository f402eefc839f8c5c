"""`hotspare monitor`: one Monitor for every console and command on this host.

The monitor binds its socket only while it holds the single-instance lock,
in a directory only the user can enter, with the socket itself 0600, and
hangs up on a peer of another uid (root included) all the same. It encodes
each snapshot once and hands the same line to every client; a client that
does not read is dropped when a few snapshots wait for it, so no client can
slow the monitor or make it grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console import metrics, metrics_http
from console.alerts import Alerter
from console.daemon import place, single
from console.daemon.keepalive_run import KeepaliveRun
from console.daemon.protocol import Hello, ProtocolError, Request
from console.errors import HotspareError
from console.history import History, HistoryError
from console.state import codec

if TYPE_CHECKING:
    from console.feed import Feed
    from console.inventory import Inventory
    from console.state.model import ClusterState

SLOW_CLIENT = 4 * 1024 * 1024  # bytes waiting for one client before it is dropped
DIGEST_EVERY = 10.0  # seconds between two looks at cluster.yaml
REQUEST_WAIT = 2.0  # seconds a client has to say what it wants
SHUTDOWN_WAIT = 15.0  # seconds the monitor may take to close its links once told to stop

# What `hotspare status` prints for a snapshot (as JSON or not), and its exit status.
StatusPrinter = Callable[["ClusterState", bool], tuple[int, str]]


@dataclass(frozen=True)
class HistoryPlan:
    """Where and how much history the monitor keeps (console/history)."""

    directory: Path
    span: float
    max_bytes: int


class MonitorServer:
    """Runs the Monitor of INV and serves its snapshots on SOCKET until stopped."""

    def __init__(
        self,
        inv: Inventory,
        socket_path: Path,
        interval: float,
        printer: StatusPrinter,
        linger: float | None = None,
        metrics: tuple[str, int] | None = None,
        history: HistoryPlan | None = None,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.printer = printer
        self.metrics = metrics
        self.history_plan = history
        self.history: History | None = None
        self.inv = inv
        self.socket_path = socket_path
        self.interval = interval
        self.linger = linger
        self.say = say
        self.clock = clock
        self.started = clock()
        self.digest = place.digest(inv.path)
        self.latest: bytes | None = None
        self.state: ClusterState | None = None
        self._printed: dict[bool, tuple[int, str]] = {}  # the latest, as status prints it
        self.clients: set[asyncio.StreamWriter] = set()
        self.on_snapshot: list[Callable[[ClusterState], object]] = []
        self.alerter: Alerter | None = None
        self.keepalive: KeepaliveRun | None = None
        self._alone_since: float | None = time.monotonic()
        self._stop = asyncio.Event()
        self._why_stop = ""

    def hello(self) -> Hello:
        return Hello(
            pid=os.getpid(),
            started=self.started,
            cluster=self.inv.name,
            cluster_file=str(self.inv.path.resolve()),
            digest=self.digest,
            interval=self.interval,
            clients=len(self.clients),
            keepalive=self.inv.keepalive.enabled,
        )

    def stop(self, why: str) -> None:
        self._why_stop = self._why_stop or why
        self._stop.set()

    async def run(self) -> str:
        """Serve until SIGTERM, SIGINT, a changed cluster.yaml or the linger time alone.

        Returns:
            Why it stopped, in words.

        Raises:
            single.AlreadyRunning: another monitor serves this cluster.
        """
        lock = single.acquire(self.socket_path)
        try:
            return await self._serve()
        finally:
            with contextlib.suppress(OSError):
                self.socket_path.unlink()
            lock.release()

    async def _serve(self) -> str:
        from console.feed import Feed  # SSH and PostgreSQL load only to run
        from console.monitor import Monitor

        loop = asyncio.get_running_loop()
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            loop.add_signal_handler(sig, self.stop, f"stopped by {name}")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a dead monitor's: the lock says none runs
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._client, path=str(self.socket_path))
        finally:
            os.umask(old)
        self.socket_path.chmod(0o600)
        self.say(f"monitor of {self.inv.name} (pid {os.getpid()}) on {self.socket_path}")
        scraped = await self._serve_metrics(server)
        if self.inv.alerts.hooks:
            self.alerter = Alerter(self.inv.alerts, report=lambda result: self.say(result.line()))
            self.on_snapshot.append(self.alerter.update)
            self.say(f"alarm transitions go to {len(self.inv.alerts.hooks)} hook(s)")
        self._open_history()
        monitor = Monitor(self.inv, interval=self.interval)
        if self.inv.keepalive.enabled:
            self.keepalive = KeepaliveRun(self.inv, monitor, self.say)
            self.on_snapshot.append(self.keepalive.update)
            self.say(_keepalive_said(self.inv))
        feed = Feed(monitor, every=self.interval)
        publisher = asyncio.create_task(self._publish(feed))
        try:
            await self._stop.wait()
        finally:
            server.close()
            if self.keepalive is not None:
                await self.keepalive.close()  # a restart under way ends (its steps are bounded)
            _exit_if_stuck(self.socket_path, self.say)
            if scraped is not None:
                scraped.close()
            for writer in list(self.clients):
                writer.close()
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
            if self.alerter is not None:
                await self.alerter.close()  # each call ends by its hook's timeout
            if self.history is not None:
                self.history.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return self._why_stop

    def _open_history(self) -> None:
        """Keep every snapshot on disk, if asked; a history that cannot open is said, not fatal."""
        plan = self.history_plan
        if plan is None:
            return
        try:
            self.history = History.open(plan.directory, plan.span, plan.max_bytes)
        except HistoryError as exc:
            self.say(f"history off: {exc}")
            return
        self.say(f"history in {plan.directory}, {plan.span / 3600:g} h at most")

    async def _record(self, state: ClusterState) -> None:
        """Add STATE to the history (in a thread: the hourly segment close compresses)."""
        if self.history is None:
            return
        try:
            await asyncio.to_thread(self.history.record, state)
        except HistoryError as exc:  # a full disk: said, and the next record tries again
            self.say(f"history: {exc}")

    async def _serve_metrics(self, listening: asyncio.Server) -> asyncio.Server | None:
        """Start /metrics where --metrics says, if it says.

        Raises:
            HotspareError: the address cannot be bound (in use, not this host's).
        """
        if self.metrics is None:
            return None
        host, port = self.metrics
        try:
            scraped = await metrics_http.serve(host, port, self._metrics_text)
        except OSError as exc:
            listening.close()
            raise HotspareError(
                f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}; "
                "give --metrics another port, or leave it out"
            ) from None
        self.say(f"/metrics on http://{host}:{port}/metrics")
        return scraped

    def _metrics_text(self) -> str:
        """The latest snapshot as metrics, then the monitor's own."""
        own = metrics.Family("hotspare_monitor_clients", "Consoles and commands reading now.")
        own.add(len(self.clients))
        families = [own]
        if self.alerter is not None:
            calls = metrics.Family("hotspare_hook_calls", "Alarm hook calls made.", "counter")
            calls.add(self.alerter.calls)
            failed = metrics.Family(
                "hotspare_hook_failures", "Alarm hook calls that failed.", "counter"
            )
            failed.add(self.alerter.failures)
            held = metrics.Family(
                "hotspare_hook_calls_pending", "Alarm hook calls held by the rate limits."
            )
            held.add(self.alerter.pending)
            families += [calls, failed, held]
        site = metrics.render(self.state, self.inv) if self.state else ""
        return site + metrics.text(families)

    async def _publish(self, feed: Feed) -> None:
        looked = time.monotonic()
        updates = feed.updates()
        try:
            async for state in updates:
                line = (json.dumps(codec.encode(state)) + "\n").encode()
                self.latest, self.state, self._printed = line, state, {}
                for writer in list(self.clients):
                    self._send(writer, line)
                for listener in self.on_snapshot:
                    listener(state)
                await self._record(state)
                now = time.monotonic()
                if now - looked >= DIGEST_EVERY:
                    looked = now
                    if place.digest(self.inv.path) != self.digest:
                        self.stop(f"{self.inv.path} changed: a new monitor will read it")
                self._check_linger(now)
        except Exception as exc:  # the feed never raises by design; say it if it does
            self.stop(f"monitoring stopped: {type(exc).__name__}: {exc}")
        finally:
            await updates.aclose()

    def _check_linger(self, now: float) -> None:
        if self.linger is None:
            return
        if self.clients:
            self._alone_since = None
        elif self._alone_since is None:
            self._alone_since = now
        elif now - self._alone_since >= self.linger:
            self.stop(f"no client for {self.linger:g} s")

    def _send(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        if writer.transport.get_write_buffer_size() > SLOW_CLIENT:
            self.say("a client read nothing for several snapshots: dropped")
            self._drop(writer)
            return
        try:
            writer.write(line)
        except (ConnectionError, RuntimeError):
            self._drop(writer)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self.clients.discard(writer)
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not _same_user(writer):
            writer.close()
            return
        try:
            request = Request.parse(await asyncio.wait_for(reader.readline(), REQUEST_WAIT))
            writer.write(self.hello().line())
            if request.want == "status":
                writer.write(self._status_line(request.json))
                await writer.drain()
                return
            if self.latest is not None:
                writer.write(self.latest)
            self.clients.add(writer)
            while await reader.read(4096):  # a client says nothing more; EOF is its goodbye
                pass
        except (TimeoutError, ProtocolError, ValueError, ConnectionError, OSError):
            pass  # a client that says nothing, or nonsense, is hung up on
        finally:
            self._drop(writer)

    def _status_line(self, as_json: bool) -> bytes:
        """What `hotspare status` prints from the latest snapshot, if it is fresh."""
        state = self.state
        if state is None:
            answer: dict[str, object] = {"exit": None, "why": "no snapshot yet"}
        elif self.clock() - state.taken_at > 3 * self.interval + 2:
            answer = {"exit": None, "why": "the latest snapshot is old"}
        else:
            if as_json not in self._printed:
                self._printed[as_json] = self.printer(state, as_json)
            code, output = self._printed[as_json]
            answer = {"exit": code, "output": output}
        return (json.dumps(answer) + "\n").encode()


def _exit_if_stuck(socket_path: Path, say: Callable[[str], None]) -> None:
    """Leave the process at SHUTDOWN_WAIT s from now if the orderly stop has not ended it.

    Closing a box's links may wait on a box that does not answer (one seen
    once, after the monitor itself had been stopped with SIGSTOP); a monitor
    told to stop must stop all the same, freeing its lock for the next one.
    It starts once a keepalive restart under way has ended (its steps are bounded).
    """

    def cut() -> None:
        time.sleep(SHUTDOWN_WAIT)
        say(f"the orderly stop took over {SHUTDOWN_WAIT:g} s: leaving now")
        with contextlib.suppress(OSError):
            socket_path.unlink()
        os._exit(0)

    threading.Thread(target=cut, name="stop-watchdog", daemon=True).start()


def _keepalive_said(inv: Inventory) -> str:
    cfg = inv.keepalive
    return (
        f"keepalive ON: a site whose health check does not answer within {cfg.limit:g} s "
        f"for {cfg.probes} probes in a row is drained and restarted (one node at a time, "
        f"never the last ready one, at most once per node in {cfg.min_interval:g} s)"
    )


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """Whether the peer runs as this process's user (SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _, uid, _ = struct.unpack("3i", raw)
    return bool(uid == os.getuid())
