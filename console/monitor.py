"""The monitor: box links -> probe results -> ClusterState snapshots.

Each box is refreshed on its own: one slow or dead box never delays another.
A box's data is kept when a refresh fails, but the snapshot marks it stale
with the reason, so nothing old is ever shown as current. A service that
fails on a box that answers (PostgreSQL, HAProxy, sshd to a new connection)
is that service's problem, within SERVICE_TIMEOUT, and the box stays fresh;
PostgreSQL is read on a new connection each time, as a new client would.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from console.answering import BoxRecord, freshness
from console.inventory import Database, Inventory
from console.patroni_watch import PatroniWatch
from console.probes import lock as lock_probe
from console.probes import runbook as runbook_probe
from console.probes import sshd as sshd_probe
from console.probes.haproxy import BalancerProbeError, probe_balancer
from console.probes.node import probe_node
from console.probes.patroni import CLUSTER_TIMEOUT, DCS_TIMEOUT
from console.probes.runtime import runtime
from console.ssh import BoxError, BoxLink, RemoteFailed
from console.state import model, planned
from console.state.lock import ActionLock
from console.state.runbook import Runbook
from console.state.verdicts import action_alarms, judge, runbook_alarms

if TYPE_CHECKING:
    from console import dbconn

DEFAULT_INTERVAL = 2.0
PROBE_TIMEOUT = 5.0
# How long PostgreSQL, HAProxy or a new SSH greeting may take, at most. It is
# well inside a box's own deadline, so that a hung service is said to be that
# service, on a box that answers, and not the box timing out as a whole.
SERVICE_TIMEOUT = 3.0


_preloaded = threading.Event()


def preload_database_code() -> None:
    """Import psycopg and the database probe in a thread, once per process.

    They take ~50 ms to import; done while the SSH connections are being set
    up, that time is hidden behind network waits instead of added to them.
    """
    if _preloaded.is_set():
        return
    _preloaded.set()

    def load() -> None:
        for module in ("psycopg", "console.dbconn", "console.probes.postgres"):
            importlib.import_module(module)

    threading.Thread(target=load, name="preload-psycopg", daemon=True).start()


class Monitor:
    """Probes every box of an inventory and hands out snapshots."""

    def __init__(
        self,
        inv: Inventory,
        interval: float = DEFAULT_INTERVAL,
        probe_timeout: float = PROBE_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inv = inv
        self.interval = interval
        self.probe_timeout = probe_timeout
        self.stale_after = max(3 * interval, probe_timeout + interval)
        self.service_timeout = min(SERVICE_TIMEOUT, round(probe_timeout * 0.6, 1))
        self._clock = clock
        self.links = {box.name: BoxLink(inv, box.name) for box in inv.boxes}
        self._records = {box.name: BoxRecord() for box in inv.boxes}
        self._balancer: model.BalancerState | None = None
        self._balancer_problem: str | None = None
        self._nodes: dict[str, model.NodeState] = {}
        self._databases: dict[str, model.DatabaseState] = {}
        self._pg: dbconn.Connections | None = None  # made at first use: psycopg loads late
        self._patroni = PatroniWatch(tuple(d for d in inv.databases if d.manager == "patroni"))
        self._lock_at = lock_probe.where(inv)
        self._lock: ActionLock | None = None
        self._runbook_at = runbook_probe.where(inv)
        self._runbook: Runbook | None = None
        self._runbook_stamp = ""
        self._runbook_broken = ""  # why the record beside the lock is not a runbook
        self.keepalive = False  # the shared monitor sets it when it runs keepalive

    # One refresh --------------------------------------------------------------

    async def refresh_box(self, box: str) -> None:
        """Probe everything on BOX once; record success or the reason it failed.

        Its sshd is asked for a greeting meanwhile: a new connection is what an
        operator, or `hotspare status`, would need. A service that fails while
        the box answers (PostgreSQL, HAProxy) is said on its own part.
        """
        sshd = asyncio.create_task(self._check_sshd(box))
        try:
            await self._refresh_parts(box)
            await sshd
        finally:
            sshd.cancel()  # a refresh cut short does not leave it behind

    async def _refresh_parts(self, box: str) -> None:
        record = self._records[box]
        try:
            shell = await self.links[box].shell()
            rtt = await shell.ping(self.probe_timeout)
            parts = [self._probe_node(node.name) for node in self.inv.web_nodes if node.box == box]
            parts += [self._probe_db(db) for db in self.inv.databases if db.box == box]
            parts += [self._probe_dcs(db) for db in self._patroni.dbs if db.box == box]
            if self.inv.balancer is not None and self.inv.balancer.box == box:
                parts.append(self._probe_balancer())
            if self._lock_at is not None and box == self._lock_at[0]:
                parts.append(self._probe_lock(*self._lock_at))
            results = await asyncio.gather(*parts, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        except BoxError as exc:
            if isinstance(exc, RemoteFailed):
                self.links[box].fail(exc.reason)
            record.ok, record.reason = False, exc.reason
            return
        record.ok, record.reason = True, None
        record.last_ok, record.rtt_ms = self._clock(), round(rtt, 2)
        if self._patroni.dbs and box == self._patroni_reader():
            await self._probe_patroni(box)

    async def refresh_all(self, deadline: float | None = None) -> None:
        """Refresh every box concurrently; a box not done by DEADLINE s is failed.

        A box that just gave no answer in the whole time gets less now
        (console/answering.py).
        """
        limit = deadline or self.probe_timeout * 2
        if self.inv.databases:
            preload_database_code()

        async def bounded(box: str) -> None:
            record = self._records[box]
            mine = record.limit(limit, time.monotonic())
            try:
                await asyncio.wait_for(self.refresh_box(box), mine)
            except TimeoutError:
                record.missed(mine, limit, time.monotonic())
            else:
                record.answered()

        await asyncio.gather(*(bounded(box) for box in self.links))

    async def _probe_node(self, name: str) -> None:
        node = self.inv.web_node(name)
        shell = await self.links[node.box].shell()
        self._nodes[name] = await probe_node(shell, node, self._clock(), self.probe_timeout)

    async def _probe_balancer(self) -> None:
        cfg = self.inv.balancer
        assert cfg is not None
        link = self.links[cfg.box]

        async def ask(command: str) -> str:
            # The deadline below decides; this one only backs it up.
            return await runtime(link, cfg.socket, command, self.service_timeout + 1)

        said = f"HAProxy on {cfg.box}"
        try:
            async with asyncio.timeout(self.service_timeout):
                self._balancer = await probe_balancer(ask, cfg, self._clock())
            self._balancer_problem = None
            return
        except TimeoutError:
            said += f" does not answer within {self.service_timeout:g} s"
        except RemoteFailed as exc:  # the socket refused: HAProxy's trouble, not the box's
            # sshd says no more than "open failed": stopped, hung with a full backlog...
            said += f" takes no new connection ({exc.reason}): it is hung or not running"
        except BalancerProbeError as exc:
            said += f": {exc}"
        self._balancer_problem = f"{said}; its box answers over SSH"
        if self._balancer is not None:
            self._balancer = replace(self._balancer, problem=self._balancer_problem)

    async def _check_sshd(self, box: str) -> None:
        """Record whether BOX's sshd greets a new connection (see console.probes.sshd)."""
        cfg, chain = self.inv.box(box), self.inv.jump_chain(box)
        opener: sshd_probe.Opener = sshd_probe.direct
        if chain:
            if chain[-1] not in self.links:  # a jump host outside cluster.yaml: no link to it
                return
            try:
                opener = sshd_probe.through(await self.links[chain[-1]].connection())
            except BoxError:
                return  # the jump box's own record says why
        self._records[box].sshd_problem = await sshd_probe.check(
            box, cfg.address, cfg.port or 22, self.service_timeout, opener
        )

    async def _probe_lock(self, box: str, path: str) -> None:
        """The cluster's action lock (which action runs, or was interrupted), and the runbook."""
        shell = await self.links[box].shell()
        place = self._runbook_at
        if place is None:
            self._lock = await lock_probe.read(
                lambda command: shell.ask(command, self.probe_timeout), path
            )
            return
        command = runbook_probe.read_command(place, self._runbook_stamp)
        read = runbook_probe.parse(await shell.ask(command, self.probe_timeout))
        self._lock = lock_probe.parse(read.lock_text)
        if not read.unchanged:
            self._runbook = read.runbook
            self._runbook_stamp = read.stamp if read.runbook is not None else ""
            self._runbook_broken = (
                f"{place.record} on {place.box}: {read.broken}" if read.broken else ""
            )
        self._runbook = runbook_probe.with_request(self._runbook, read.request)

    def _patroni_reader(self) -> str | None:
        """The box that reads Patroni's view: of the database boxes whose link is up, in
        cluster.yaml's order, the first whose Patroni answered last time."""
        return self._patroni.reader([d.box for d in self._patroni.dbs if self._records[d.box].ok])

    async def _probe_patroni(self, box: str) -> None:
        # curl gives up after CLUSTER_TIMEOUT; this only bounds a hung shell.
        run = self._asker(box, min(self.probe_timeout, CLUSTER_TIMEOUT + 1.0))
        await self._patroni.read(box, run, self._clock())

    async def _probe_dcs(self, db: Database) -> None:
        await self._patroni.read_dcs(
            db, self._asker(db.box, min(self.probe_timeout, DCS_TIMEOUT + 1.0))
        )

    def _asker(self, box: str, timeout: float) -> Callable[[str], Awaitable[str]]:
        """Runs one command on BOX's probe shell, bounded by TIMEOUT."""

        async def run(command: str) -> str:
            shell = await self.links[box].shell()
            return await shell.ask(command, timeout)

        return run

    async def _probe_db(self, db: Database) -> None:
        """Probe DB on a NEW connection: an old one answers while the postmaster is hung."""
        from console import dbconn
        from console.probes import postgres

        limit = self.service_timeout
        if self._pg is None:  # its timeouts, and libpq's, start later than the deadline below
            self._pg = dbconn.Connections(self.links, limit + 1)
        now = self._clock()
        try:
            async with asyncio.timeout(limit):
                state = await self._pg.fresh(
                    db, lambda conn: postgres.probe_database(conn, db, now, limit + 1)
                )
        except TimeoutError:
            state = postgres.unreachable(db, now, postgres.not_answering(db, limit))
        except dbconn.DatabaseUnreachable as exc:
            state = postgres.unreachable(db, now, postgres.refusing(db, exc.reason))
        except dbconn.FAILURES as exc:
            said = f"PostgreSQL at {db.host}:{db.port} fails the probe: {dbconn.first_line(exc)}"
            state = postgres.unreachable(db, now, said)
        self._databases[db.name] = state

    # Snapshots ----------------------------------------------------------------

    def snapshot(self) -> model.ClusterState:
        """The current picture of the site, with every box's freshness."""
        now = self._clock()
        boxes = tuple(self._freshness(name, now) for name in self.links)
        # What was never probed stays in the tables, unknown: never dropped.
        nodes = tuple(
            self._nodes.get(n.name) or model.unknown_node(n.name, n.box, n.role, now)
            for n in self.inv.web_nodes
        )
        dbs = tuple(
            self._databases.get(d.name)
            or model.unknown_member(d.name, d.box, now, self._never(d.box))
            for d in self.inv.databases
        )
        verdicts, alarms = judge(
            self.inv,
            boxes,
            self._balancer,
            nodes,
            dbs,
            balancer_problem=self._balancer_problem,
            action=self._lock,
            now=now,
        )
        runbook = self._runbook.judged(self._lock) if self._runbook is not None else None
        alarms = planned.second_primary(runbook, alarms)
        alarms = (*action_alarms(self._lock), *runbook_alarms(self._runbook_broken), *alarms)
        self._patroni.observe(dbs)
        patroni = self._patroni.current(now, self.stale_after, {b.box for b in boxes if b.stale})
        if patroni is not None:
            alarms = (*alarms, *self._patroni.alarms(patroni, dbs, now, self.stale_after))
        return model.ClusterState(
            cluster=self.inv.name,
            environment=self.inv.environment.label,
            colour=self.inv.environment.colour,
            taken_at=now,
            boxes=boxes,
            balancer=self._balancer,
            nodes=nodes,
            databases=dbs,
            verdicts=verdicts,
            alarms=alarms,
            patroni=patroni,
            action=self._lock,
            runbook=runbook,
            keepalive=self._keepalive_mode(),
        )

    def _keepalive_mode(self) -> model.KeepaliveMode:
        if self.keepalive:
            return "on"
        return "not running" if self.inv.keepalive.enabled else "off"

    def _never(self, box: str) -> str:
        reason = self._records[box].reason
        return f"never probed: its box {box} has not answered" + (f" ({reason})" if reason else "")

    def _freshness(self, name: str, now: float) -> model.BoxFreshness:
        return freshness(name, self._records[name], self.links[name], now, self.stale_after)

    # Running ------------------------------------------------------------------

    async def once(self, deadline: float | None = None) -> model.ClusterState:
        """Refresh every box once and return the snapshot."""
        await self.refresh_all(deadline)
        return self.snapshot()

    async def run(self) -> None:
        """Refresh each box every `interval` seconds, never overlapping, until cancelled."""
        await asyncio.gather(*(self._loop(box) for box in self.links))

    async def _loop(self, box: str) -> None:
        while True:
            started = time.monotonic()
            try:
                await asyncio.wait_for(self.refresh_box(box), self.probe_timeout * 2)
            except TimeoutError:
                record = self._records[box]
                record.missed(self.probe_timeout * 2, self.probe_timeout * 2, time.monotonic())
            else:
                self._records[box].answered()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def close(self) -> None:
        """Close every database connection and SSH link."""
        if self._pg is not None:
            await self._pg.close()
        await asyncio.gather(*(link.close() for link in self.links.values()))
