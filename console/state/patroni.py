"""PatroniView: Patroni's own view of the cluster, as observed by its probe.

The probe (console/probes/patroni.py) reads and checks Patroni's REST answer
and builds these; the snapshot, the screens and the Patroni plans read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.state.patroni_leader import LeaderKey, Takeover

LEADER_ROLES = ("leader", "standby_leader")
MIN_TTL = 20  # Patroni raises a smaller ttl to this, without saying so in its config
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
        noloadbalance: the member's noloadbalance tag: its /replica check fails.
        pending_restart: a changed setting takes effect only once it restarts.
    """

    name: str
    role: str
    state: str
    host: str | None
    port: int | None
    timeline: int | None
    lag: int | None
    nofailover: bool = False
    noloadbalance: bool = False
    pending_restart: bool = False


@dataclass(frozen=True)
class ScheduledSwitchover:
    """A switchover Patroni will run by itself at ``at`` (from ``leader`` to ``candidate``)."""

    at: str
    leader: str | None
    candidate: str | None


@dataclass(frozen=True)
class DcsMember:
    """The health of the etcd member a database's box asks (its ``dcs_url``).

    Attributes:
        name: the database whose box asked.
        healthy: etcd's own /health word; None when it did not answer.
        detail: why not healthy, in an operator's words ("" when healthy).
    """

    name: str
    url: str
    healthy: bool | None
    detail: str = ""


@dataclass(frozen=True)
class PatroniView:
    """Patroni's view of the cluster at ``observed_at`` (epoch seconds).

    ``problem`` says why the view is missing or old (Patroni did not answer);
    None when it was read cleanly. ``reader`` is the member whose Patroni
    answered; ``dcs_last_seen`` (epoch seconds) when that Patroni last
    reached the DCS (etcd); ``ttl`` and ``loop_wait`` the DCS settings as
    configured (None when they could not be read), ``failsafe`` Patroni's
    failsafe_mode; ``dcs`` the etcd members' health as each db box saw it;
    ``scope`` the cluster's name in Patroni; ``leader_key`` the leader lock as
    etcd holds it; ``takeover`` the last change of leader the console saw.
    """

    members: tuple[PatroniMember, ...]
    paused: bool
    scheduled_switchover: ScheduledSwitchover | None
    observed_at: float
    problem: str | None = None
    reader: str | None = None
    dcs_last_seen: float | None = None
    ttl: int | None = None
    loop_wait: int | None = None
    failsafe: bool = False
    dcs: tuple[DcsMember, ...] = ()
    scope: str | None = None
    leader_key: LeaderKey | None = None
    takeover: Takeover | None = None

    @property
    def effective_ttl(self) -> int | None:
        """The leader key's time to live as Patroni runs it: never below MIN_TTL."""
        return None if self.ttl is None else max(self.ttl, MIN_TTL)

    @property
    def dcs_quorum(self) -> bool | None:
        """Whether a majority of the etcd members asked are healthy; None if none is asked."""
        if not self.dcs:
            return None
        return sum(1 for m in self.dcs if m.healthy) > len(self.dcs) // 2

    @property
    def pending_restart(self) -> tuple[str, ...]:
        """The members with a setting waiting for a restart."""
        return tuple(m.name for m in self.members if m.pending_restart)

    @property
    def leaders(self) -> tuple[PatroniMember, ...]:
        """The members holding the leader lock (more than one is never right)."""
        return tuple(m for m in self.members if m.role in LEADER_ROLES)

    def member(self, name: str) -> PatroniMember | None:
        """The member called NAME, if Patroni has one."""
        return next((m for m in self.members if m.name == name), None)
