"""What the monitor keeps of Patroni between refreshes.

Patroni's last view and why it is missing, the boxes whose Patroni failed
to answer last time, each etcd member's health as its box last saw it,
since when Patroni and PostgreSQL have disagreed about a member, and what
a change of leader needs to be told: the leader before it, and where and
until when each primary was last seen writing. The monitor owns the SSH
links and passes a `run` for one box; this owns the state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace

from console.inventory import Database
from console.probes import etcd
from console.probes.patroni import PatroniProbeError, probe_dcs, probe_patroni, unreachable
from console.probes.patroni_api import patroni_api
from console.probes.patroni_rest import probe_history
from console.ssh import BoxError
from console.state.model import Alarm, DatabaseState
from console.state.patroni import DcsMember, PatroniView
from console.state.patroni_alarms import disagreements, patroni_alarms
from console.state.patroni_leader import LeaderKey, Takeover
from console.units import lsn_text

Run = Callable[[str], Awaitable[str]]


Fork = tuple[int | None, str | None, str | None]
"""A new timeline, the WAL position it began at, and when (Patroni's words)."""
FORK_PATIENCE = 60.0
"""Seconds after a change of leader to keep asking Patroni's history where it forked."""


async def _fork(db: Database, run: Run, leader: str, after: int | None) -> Fork:
    """Where LEADER's timeline began (the end of timeline AFTER or a later one), that
    timeline and when, from Patroni's history; all None until the history has it."""
    if db.patroni_url is None:
        return None, None, None
    try:
        history = await probe_history(run, patroni_api(db))
    except PatroniProbeError:
        return None, None, None
    ended = [h for h in history if after is None or h.timeline >= after]
    ours = [h for h in ended if h.new_leader == leader] or [h for h in ended if not h.new_leader]
    if not ours:
        return None, None, None
    line = ours[-1]
    return line.timeline + 1, lsn_text(line.lsn), line.timestamp or None


def _newer(timeline: int | None, ended: int | None) -> int | None:
    """TIMELINE if it is past ENDED (the old leader's), else None: not known yet."""
    if timeline is None or (ended is not None and timeline <= ended):
        return None
    return timeline


class PatroniWatch:
    """Patroni's view across refreshes, for the databases cluster.yaml says it manages."""

    def __init__(self, dbs: tuple[Database, ...]) -> None:
        self.dbs = dbs
        self._view: PatroniView | None = None
        self._reason = "not read yet"
        self._failed: set[str] = set()
        self._dcs: dict[str, DcsMember] = {}  # database -> its box's etcd member's health
        self._disagree_since: dict[str, float] = {}  # member -> first seen disagreeing
        self._read_once = False
        self._leader: str | None = None  # the last leader Patroni named
        self._timeline: int | None = None  # and its timeline
        self._writing: dict[str, tuple[str, float]] = {}  # primary -> its last LSN, when read
        self._gone: dict[str, float] = {}  # such a primary -> when it first did not answer
        self._takeover: Takeover | None = None

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
                view = await probe_patroni(run, patroni_api(db), now, True)
                view = replace(view, leader_key=await self._leader_key(db, view, run, now))
                await self._note_leader(db, view, run, now)
                self._view = view
            except BoxError as exc:
                self._reason = f"{db.name}: {exc.reason}"
            except PatroniProbeError as exc:
                self._reason = f"{db.name}: {exc}"
            else:
                self._reason = "no database box has answered since"
                self._failed.discard(box)
                return
        self._failed.add(box)

    async def _leader_key(
        self, db: Database, view: PatroniView, run: Run, now: float
    ) -> LeaderKey | None:
        """The leader lock as DB's etcd member holds it; None without a dcs_url or scope."""
        if db.dcs_url is None or view.scope is None:
            return None
        key = etcd.leader_key(db.patroni_namespace, view.scope)
        return await etcd.probe_leader_key(run, db.dcs_url, key, now)

    async def _note_leader(self, db: Database, view: PatroniView, run: Run, now: float) -> None:
        """A leader other than the last one seen: remember it as a Takeover, with where its
        timeline began (Patroni's history, which has it a moment after the promotion)."""
        first, self._read_once = not self._read_once, True
        leaders = view.leaders
        if len(leaders) != 1:
            return
        new, old = leaders[0], self._leader
        known = self._takeover
        if new.name == old:
            self._timeline = new.timeline or self._timeline
            waiting = known is not None and known.new == old and known.fork_lsn is None
            if known is not None and waiting and now - known.seen_at < FORK_PATIENCE:
                timeline, fork, elected = await _fork(db, run, new.name, known.ended)
                if fork is not None:
                    self._takeover = replace(
                        known, timeline=timeline, fork_lsn=fork, elected=elected
                    )
            return
        ended, self._leader, self._timeline = self._timeline, new.name, new.timeline
        if first:
            return  # the leader found on starting: no change was seen
        timeline, fork, elected = await _fork(db, run, new.name, ended)
        written = self._writing.get(old) if old else None
        self._takeover = Takeover(
            new=new.name,
            old=old,
            # Patroni's /cluster names the new timeline a loop after the promotion.
            timeline=timeline or _newer(new.timeline, ended),
            fork_lsn=fork,
            elected=elected,
            demoted=old is not None and view.member(old) is not None,
            old_lsn=written[0] if written else None,
            old_seen_at=written[1] if written else None,
            old_gone_at=self._gone.get(old) if old else None,
            seen_at=now,
            ended=ended,
        )

    def observe(self, dbs: tuple[DatabaseState, ...]) -> None:
        """Remember where each primary was last seen writing, and when one stopped answering."""
        if not self.dbs:
            return
        for db in dbs:
            if db.role == "primary" and db.current_lsn is not None:
                self._writing[db.name] = (db.current_lsn, db.observed_at)
                self._gone.pop(db.name, None)
            elif db.role is None and db.name in self._writing:
                self._gone.setdefault(db.name, db.observed_at)
            elif db.role == "standby":
                self._writing.pop(db.name, None)
                self._gone.pop(db.name, None)

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
        view = replace(self._view, dcs=self._dcs_seen(stale), takeover=self._takeover)
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
