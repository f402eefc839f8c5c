"""PatroniView: Patroni's own view of the cluster, as observed by its probe.

The probe (console/probes/patroni.py) reads and checks Patroni's REST answer
and builds these; the snapshot, the screens and the Patroni plans read them.
"""

from __future__ import annotations

from dataclasses import dataclass

LEADER_ROLES = ("leader", "standby_leader")
REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")


@dataclass(frozen=True)
class PatroniMember:
    """One member as Patroni sees it.

    Attributes:
        name: Patroni's name for it (hotspare expects the database's name in cluster.yaml).
        role: leader, standby_leader, sync_standby, quorum_standby or replica.
        state: running, streaming, "in archive recovery", stopped, starting...
        lag: bytes behind the leader; None for the leader or when Patroni does not know.
        nofailover: the member's nofailover tag: Patroni never promotes it.
    """

    name: str
    role: str
    state: str
    host: str | None
    port: int | None
    timeline: int | None
    lag: int | None
    nofailover: bool = False


@dataclass(frozen=True)
class ScheduledSwitchover:
    """A switchover Patroni will run by itself at ``at`` (from ``leader`` to ``candidate``)."""

    at: str
    leader: str | None
    candidate: str | None


@dataclass(frozen=True)
class PatroniView:
    """Patroni's view of the cluster at ``observed_at`` (epoch seconds).

    ``problem`` says why the view is missing or old (Patroni did not answer);
    None when it was read cleanly.
    """

    members: tuple[PatroniMember, ...]
    paused: bool
    scheduled_switchover: ScheduledSwitchover | None
    observed_at: float
    problem: str | None = None

    @property
    def leaders(self) -> tuple[PatroniMember, ...]:
        """The members holding the leader lock (more than one is never right)."""
        return tuple(m for m in self.members if m.role in LEADER_ROLES)

    def member(self, name: str) -> PatroniMember | None:
        """The member called NAME, if Patroni has one."""
        return next((m for m in self.members if m.name == name), None)
