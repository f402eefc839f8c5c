"""Who holds Patroni's leader lock, and what a change of leader may have cost.

The leader key is the lock in etcd that makes one member the leader: its
lease runs out unless the leader renews it every loop. A leader whose
Patroni has died stops renewing; the key expires and the replicas elect one
of themselves. A Takeover is what the console saw of a change of leader:
who, on which timeline and from which WAL position (Patroni's history), and
how the old leader went: demoted by Patroni (a clean stop that sends its WAL
on first), or gone (what it acknowledged after the console last saw it is
at risk). The monitor builds these (console/patroni_watch.py); events and
screens put them in words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from console.units import lsn, size

SLACK = 2
"""Seconds a leader may renew its key late before it counts as not renewing."""


@dataclass(frozen=True)
class LeaderKey:
    """Patroni's leader lock in etcd, as a database's box read it at ``observed_at``.

    Attributes:
        holder: the member the key names; None when there is none (it expired,
            or no leader was elected yet) or it could not be read.
        expires_in: seconds left on the key's lease; None when unknown.
        granted: the lease's full time to live.
        problem: why the key could not be read; None when it was.
    """

    holder: str | None
    expires_in: int | None
    granted: int | None
    observed_at: float
    problem: str | None = None

    def unrenewed(self, loop_wait: int | None) -> int | None:
        """Seconds since the holder last renewed the key, once that is longer than its
        loop (LOOP_WAIT; Patroni's default 10 when unknown) and SLACK; else None."""
        if self.holder is None or self.expires_in is None or self.granted is None:
            return None
        since = self.granted - self.expires_in
        return since if since > (loop_wait or 10) + SLACK else None


@dataclass(frozen=True)
class Takeover:
    """A new leader as the console saw it come, and what the old one's end may have cost.

    Attributes:
        new: the member that leads now, on ``timeline``, which began at
            ``fork_lsn`` at ``elected`` (Patroni's history; None when unread).
        old: the leader before it (None: the console saw none).
        demoted: the old leader was still a Patroni member when the new one led:
            Patroni stopped it itself (a switchover, or a failover it was asked
            for). False when its member key had expired: its Patroni was gone.
        old_lsn, old_seen_at: the old leader's last written position the console
            read, and when (None: it never read one).
        old_gone_at: the first refresh after that in which the old leader did
            not answer; None if it answered until the change.
        seen_at: when the console first saw NEW lead.
        ended: the old leader's timeline, as last seen (the new one forked from it
            or from a later one).
    """

    new: str
    old: str | None
    timeline: int | None
    fork_lsn: str | None
    elected: str | None
    demoted: bool
    old_lsn: str | None
    old_seen_at: float | None
    old_gone_at: float | None
    seen_at: float
    ended: int | None = None

    @property
    def unreceived(self) -> int | None:
        """Bytes of WAL the old leader was seen writing past the fork (0 if none)."""
        if self.old_lsn is None or self.fork_lsn is None:
            return None
        return max(0, lsn(self.old_lsn) - lsn(self.fork_lsn))

    @property
    def at_risk_from(self) -> float | None:
        """From when commits the old leader acknowledged may be lost: the console's last
        sight of it, for a leader that was not demoted; None when nothing is at risk."""
        return None if self.demoted or self.old is None else self.old_seen_at


def told(t: Takeover) -> str:
    """TAKEOVER in words, for the timeline and the record."""
    fork = f" from {t.fork_lsn}" if t.fork_lsn else ""
    said = f"leads timeline {t.timeline}{fork}" if t.timeline else "leads a new timeline"
    if t.old is None:
        return said
    if t.demoted:
        return (
            f"{said}; Patroni demoted {t.old} itself (a clean stop sends its WAL on before "
            "it ends): nothing it acknowledged is lost"
        )
    said += f"; {t.old}'s Patroni had stopped renewing its keys and the replicas elected {t.new}"
    if t.old_lsn is None or t.old_seen_at is None:
        return said + f": what {t.old} wrote last is unknown, and may be lost"
    seen = _clock(t.old_seen_at)
    said += f". {t.old} was last seen writing at {t.old_lsn} ({seen}){_reached(t)}"
    gone = f"it stopped answering at {_clock(t.old_gone_at)}" if t.old_gone_at else "it went"
    return (
        f"{said}. Commits {t.old} acknowledged after {seen} may be lost ({gone}; a dying "
        "primary's backends can acknowledge a moment longer): Patroni rewinds it when it "
        "returns"
    )


def forked(t: Takeover) -> str:
    """Where TAKEOVER's timeline began, once Patroni's history says, against the old leader."""
    said = f"timeline {t.timeline or '?'} began at {t.fork_lsn or '?'}"
    if t.elected:
        said += f" ({t.elected})"
    if t.old is None or t.old_lsn is None:
        return said
    return f"{said}; {t.old} was last seen writing at {t.old_lsn}{_reached(t)}"


def _reached(t: Takeover) -> str:
    missing = t.unreceived
    if missing:
        return f": {size(missing)} of that never reached {t.new}"
    if missing == 0:
        return f": all of that is in {t.new}'s history"
    return ""


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 10)}"
