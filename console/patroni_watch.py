"""What the monitor keeps of Patroni between refreshes.

Patroni's last view and why it is missing, the boxes whose Patroni failed
to answer last time, each etcd member's health as its box last saw it, and
since when Patroni and PostgreSQL have disagreed about a member. The monitor
owns the SSH links and passes a `run` for one box; this owns the state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace

from console.inventory import Database
from console.probes.patroni import PatroniProbeError, probe_dcs, probe_patroni, unreachable
from console.ssh import BoxError
from console.state.model import Alarm, DatabaseState
from console.state.patroni import DcsMember, PatroniView
from console.state.patroni_alarms import disagreements, patroni_alarms

Run = Callable[[str], Awaitable[str]]


class PatroniWatch:
    """Patroni's view across refreshes, for the databases cluster.yaml says it manages."""

    def __init__(self, dbs: tuple[Database, ...]) -> None:
        self.dbs = dbs
        self._view: PatroniView | None = None
        self._reason = "not read yet"
        self._failed: set[str] = set()
        self._dcs: dict[str, DcsMember] = {}  # database -> its box's etcd member's health
        self._disagree_since: dict[str, float] = {}  # member -> first seen disagreeing

    def reader(self, answering: list[str]) -> str | None:
        """The box that reads Patroni's view, of the ANSWERING boxes (cluster.yaml's order):
        the first whose Patroni did not fail last time; when every one has, all again."""
        for box in answering:
            if box not in self._failed:
                return box
        self._failed.clear()
        return answering[0] if answering else None

    async def read(self, box: str, run: Run, now: float) -> None:
        """Read Patroni's view on BOX; a failure is kept as the reason, never the box's."""
        for db in self.dbs:
            if db.box != box or db.patroni_url is None:
                continue
            try:
                self._view = await probe_patroni(run, db.patroni_url, now, True)
            except BoxError as exc:
                self._reason = f"{db.name}: {exc.reason}"
            except PatroniProbeError as exc:
                self._reason = f"{db.name}: {exc}"
            else:
                self._reason = "no database box has answered since"
                self._failed.discard(box)
                return
        self._failed.add(box)

    async def read_dcs(self, db: Database, run: Run) -> None:
        """Ask the etcd member DB's box uses (its dcs_url) for its health."""
        if db.dcs_url is not None:
            self._dcs[db.name] = await probe_dcs(run, db.name, db.dcs_url)

    def current(self, now: float, stale_after: float, stale: Collection[str]) -> PatroniView | None:
        """Patroni's view for a snapshot: with each etcd member's health (unknown where the
        box is in STALE), and a problem once no box has read it for STALE_AFTER s."""
        if not self.dbs:
            return None
        if self._view is None:
            return unreachable(now, f"Patroni's view: {self._reason}")
        view = replace(self._view, dcs=self._dcs_seen(stale))
        age = now - view.observed_at
        if age <= stale_after:
            return view
        return replace(view, problem=f"no answer for {age:.0f} s ({self._reason})")

    def alarms(
        self, view: PatroniView, dbs: tuple[DatabaseState, ...], now: float, grace: float
    ) -> list[Alarm]:
        """VIEW's alarms against DBS; a disagreement only once it has lasted GRACE s: one
        refresh apart, a switchover in progress may look like one."""
        found = disagreements(view, dbs)
        self._disagree_since = {m: self._disagree_since.get(m, now) for m in found}
        held = {m: said for m, said in found.items() if now - self._disagree_since[m] >= grace}
        return patroni_alarms(view, dbs, now, held)

    def _dcs_seen(self, stale: Collection[str]) -> tuple[DcsMember, ...]:
        seen = []
        for db in self.dbs:
            member = self._dcs.get(db.name)
            if member is None:
                continue
            if db.box in stale:
                member = replace(member, healthy=None, detail=f"its box {db.box} does not answer")
            seen.append(member)
        return tuple(seen)
