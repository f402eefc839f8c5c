"""What `p` means for the selected database member, decided from one snapshot.

A standby while a primary answers: a switchover to it, the old primary
rejoined after. A standby while no primary answers: a failover. An old
primary (a primary on an older timeline than another), or a standby that
follows no one while a primary answers: a rejoin, never a promotion. The
current primary: a switchover plan that refuses and says why.
"""

from __future__ import annotations

from console.actions import failover, promote, promote_checks, rejoin
from console.actions.plan import Plan
from console.inventory import Inventory
from console.state.model import ClusterState


def plan_for(inv: Inventory, state: ClusterState, name: str) -> Plan:
    """The plan `p` opens for member NAME."""
    found = promote_checks.members(inv, state)
    me = found.seen.get(name)
    if name in promote_checks.stale_primaries(inv, state):
        return rejoin.plan_rejoin(inv, state, name)
    others = [d for d in found.primaries if d.name != name]
    if not found.primaries and me is not None and me.role == "standby":
        return failover.plan_failover(inv, state, name)
    lost = (
        me is not None
        and me.role == "standby"
        and me.receiver_status != "streaming"
        and me.replay_paused is not True
    )
    if lost and others:
        return rejoin.plan_rejoin(inv, state, name)
    return promote.plan_switchover(inv, state, name, rejoin=True)
