"""The monitor: box links -> probe results -> ClusterState snapshots.

Each box is refreshed on its own: one slow or dead box never delays another.
A box's data is kept when a refresh fails, but the snapshot marks it stale
with the reason, so nothing old is ever shown as current.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from console.inventory import Database, Inventory
from console.probes.haproxy import BalancerProbeError, probe_balancer
from console.probes.node import probe_node
from console.probes.patroni import (
    CLUSTER_TIMEOUT,
    PatroniProbeError,
    probe_patroni,
    unreachable,
)
from console.probes.runtime import runtime
from console.ssh import BoxError, BoxLink, RemoteFailed
from console.state import model
from console.state.patroni import PatroniView
from console.state.verdicts import judge

if TYPE_CHECKING:
    from console import dbconn

DEFAULT_INTERVAL = 2.0
PROBE_TIMEOUT = 5.0


@dataclass
class _BoxRecord:
    """What the monitor knows of one box's last refresh (internal, mutable)."""

    ok: bool = False
    last_ok: float | None = None
    rtt_ms: float | None = None
    reason: str | None = "not probed yet"


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
        self._clock = clock
        self.links = {box.name: BoxLink(inv, box.name) for box in inv.boxes}
        self._records = {box.name: _BoxRecord() for box in inv.boxes}
        self._balancer: model.BalancerState | None = None
        self._nodes: dict[str, model.NodeState] = {}
        self._databases: dict[str, model.DatabaseState] = {}
        self._pg: dbconn.Connections | None = None  # made at first use: psycopg loads late
        self._patroni_dbs = tuple(d for d in inv.databases if d.manager == "patroni")
        self._patroni: PatroniView | None = None
        self._patroni_reason = "not read yet"
        self._patroni_failed: set[str] = set()

    # One refresh --------------------------------------------------------------

    async def refresh_box(self, box: str) -> None:
        """Probe everything on BOX once; record success or the reason it failed."""
        record = self._records[box]
        try:
            shell = await self.links[box].shell()
            rtt = await shell.ping(self.probe_timeout)
            parts = [self._probe_node(node.name) for node in self.inv.web_nodes if node.box == box]
            parts += [self._probe_db(db) for db in self.inv.databases if db.box == box]
            if self.inv.balancer is not None and self.inv.balancer.box == box:
                parts.append(self._probe_balancer())
            results = await asyncio.gather(*parts, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        except BoxError as exc:
            if isinstance(exc, RemoteFailed):
                self.links[box].fail(exc.reason)
            record.ok, record.reason = False, exc.reason
            return
        except BalancerProbeError as exc:
            record.ok, record.reason = False, f"HAProxy: {exc}"
            return
        record.ok, record.reason = True, None
        record.last_ok, record.rtt_ms = self._clock(), round(rtt, 2)
        if self._patroni_dbs and box == self._patroni_reader():
            await self._probe_patroni(box)

    async def refresh_all(self, deadline: float | None = None) -> None:
        """Refresh every box concurrently; a box not done by DEADLINE s is failed."""
        limit = deadline or self.probe_timeout * 2
        if self.inv.databases:
            preload_database_code()

        async def bounded(box: str) -> None:
            try:
                await asyncio.wait_for(self.refresh_box(box), limit)
            except TimeoutError:
                record = self._records[box]
                record.ok, record.reason = False, f"no answer within {limit:g} s"

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
            return await runtime(link, cfg.socket, command, self.probe_timeout)

        self._balancer = await probe_balancer(ask, cfg, self._clock())

    def _patroni_reader(self) -> str | None:
        """The box that reads Patroni's view: the first database box whose Patroni answers.

        Boxes are tried in cluster.yaml's order, skipping those whose SSH link or
        Patroni failed last time; when every one has failed, all are tried again.
        """
        answering = [d.box for d in self._patroni_dbs if self._records[d.box].ok]
        for box in answering:
            if box not in self._patroni_failed:
                return box
        self._patroni_failed.clear()
        return answering[0] if answering else None

    async def _probe_patroni(self, box: str) -> None:
        """Read Patroni's view on BOX; a failure is kept as the reason, never the box's."""
        # curl gives up after CLUSTER_TIMEOUT; this only bounds a hung shell.
        timeout = min(self.probe_timeout, CLUSTER_TIMEOUT + 1.0)

        async def run(command: str) -> str:
            shell = await self.links[box].shell()
            return await shell.ask(command, timeout)

        for db in self._patroni_dbs:
            if db.box != box or db.patroni_url is None:
                continue
            try:
                self._patroni = await probe_patroni(run, db.patroni_url, self._clock())
            except BoxError as exc:
                self._patroni_reason = f"{db.name}: {exc.reason}"
            except PatroniProbeError as exc:
                self._patroni_reason = f"{db.name}: {exc}"
            else:
                self._patroni_reason = "no database box has answered since"
                self._patroni_failed.discard(box)
                return
        self._patroni_failed.add(box)

    async def _probe_db(self, db: Database) -> None:
        from console import dbconn
        from console.probes.postgres import probe_database, unreachable

        if self._pg is None:
            self._pg = dbconn.Connections(self.links, self.probe_timeout)
        now = self._clock()
        try:
            self._databases[db.name] = await self._pg.use(
                db, lambda conn: probe_database(conn, db, now, self.probe_timeout), retry=True
            )
        except dbconn.FAILURES as exc:
            reason = f"PostgreSQL does not answer: {dbconn.first_line(exc)}"
            self._databases[db.name] = unreachable(db, now, reason)

    # Snapshots ----------------------------------------------------------------

    def snapshot(self) -> model.ClusterState:
        """The current picture of the site, with every box's freshness."""
        now = self._clock()
        boxes = tuple(self._freshness(name, now) for name in self.links)
        nodes = tuple(self._nodes[n.name] for n in self.inv.web_nodes if n.name in self._nodes)
        dbs = tuple(
            self._databases[d.name] for d in self.inv.databases if d.name in self._databases
        )
        verdicts, alarms = judge(self.inv, boxes, self._balancer, nodes, dbs)
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
            patroni=self._patroni_view(now),
        )

    def _patroni_view(self, now: float) -> PatroniView | None:
        """Patroni's view, with a problem once no box has read it for `stale_after` s."""
        if not self._patroni_dbs:
            return None
        view = self._patroni
        if view is None:
            return unreachable(now, f"Patroni's view: {self._patroni_reason}")
        age = now - view.observed_at
        if age <= self.stale_after:
            return view
        return replace(view, problem=f"no answer for {age:.0f} s ({self._patroni_reason})")

    def _freshness(self, name: str, now: float) -> model.BoxFreshness:
        record = self._records[name]
        age = round(now - record.last_ok, 3) if record.last_ok is not None else None
        stale = not record.ok or age is None or age > self.stale_after
        reason = record.reason
        if record.ok and stale:
            reason = f"no good probe for {age:.0f} s"
        return model.BoxFreshness(
            box=name,
            connected=self.links[name].state.connected,
            last_ok=record.last_ok,
            age=age,
            rtt_ms=record.rtt_ms,
            stale=stale,
            reason=reason,
        )

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
                record.ok, record.reason = False, "no answer within the probe timeout"
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def close(self) -> None:
        """Close every database connection and SSH link."""
        if self._pg is not None:
            await self._pg.close()
        await asyncio.gather(*(link.close() for link in self.links.values()))
