"""Whether each box answers in time: its last refresh, and how long to wait for it next.

The monitor keeps one BoxRecord per box. A box that gave no answer in the
whole time moments ago is given only AGAIN_LIMIT s at the next read: an
action reads the site twice (to plan, then under the lock) and must not wait
the whole deadline twice for the same hung box. Never twice in a row: the
read after a short one has the whole time again, so a slow box that does
answer is never kept from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.ssh import BoxLink
from console.state import model

MISSED_RECENTLY = 30.0  # seconds a box that gave no answer in time counts as hung
AGAIN_LIMIT = 1.5  # seconds such a box gets at the next read


@dataclass
class BoxRecord:
    """What the monitor knows of one box's last refresh (mutable, the monitor's own)."""

    ok: bool = False
    last_ok: float | None = None
    rtt_ms: float | None = None
    reason: str | None = "not probed yet"
    sshd_problem: str | None = None
    missed_at: float | None = None  # monotonic time it last gave no answer in time
    missed_short: bool = False  # and whether that was at a short wait

    def limit(self, limit: float, now: float) -> float:
        """How long to wait for the box now, at most LIMIT (NOW: monotonic seconds)."""
        recent = self.missed_at is not None and now - self.missed_at < MISSED_RECENTLY
        return min(limit, AGAIN_LIMIT) if recent and not self.missed_short else limit

    def missed(self, waited: float, limit: float, now: float) -> None:
        """It gave no answer in WAITED s (of a read allowed LIMIT s)."""
        short = waited < limit
        self.ok = False
        self.reason = f"no answer within {waited:g} s" + (
            " (nor at the last look)" if short else ""
        )
        self.missed_at, self.missed_short = now, short

    def answered(self) -> None:
        self.missed_at, self.missed_short = None, False


def freshness(
    name: str, record: BoxRecord, link: BoxLink, now: float, stale_after: float
) -> model.BoxFreshness:
    """BOX's freshness in a snapshot taken at NOW (epoch seconds)."""
    age = round(now - record.last_ok, 3) if record.last_ok is not None else None
    stale = not record.ok or age is None or age > stale_after
    reason = record.reason
    if record.ok and stale:
        reason = f"no good probe for {age:.0f} s"
    return model.BoxFreshness(
        box=name,
        connected=link.state.connected,
        last_ok=record.last_ok,
        age=age,
        rtt_ms=record.rtt_ms,
        stale=stale,
        reason=reason,
        sshd_problem=record.sshd_problem,
        host_key_changed=link.state.host_key_changed,
    )
