"""What `p` means for the selected database member, decided from one snapshot.

A standby while a primary answers: a switchover to it, the old primary
rejoined after. A standby while no primary answers: a failover. An old
primary (a primary on an older timeline than another), or a standby that
follows no one while a primary answers: a rejoin, never a promotion. The
current primary: a switchover plan that refuses and says why.
"""

from __future__ import annotations

from typing import Literal

import console.actions.database.checks as promote_checks
from console.inventory import Inventory
from console.state.model import ClusterState

Choice = Literal["promote", "failover", "rejoin"]


def choice(inv: Inventory, state: ClusterState, name: str) -> Choice:
    """Which of promote, failover and rejoin `p` means for member NAME now."""
    found = promote_checks.members(inv, state)
    me = found.seen.get(name)
    if name in promote_checks.stale_primaries(inv, state):
        return "rejoin"
    others = [d for d in found.primaries if d.name != name]
    if not found.primaries and me is not None and me.role == "standby":
        return "failover"
    lost = (
        me is not None
        and me.role == "standby"
        and me.receiver_status != "streaming"
        and me.replay_paused is not True
    )
    if lost and others:
        return "rejoin"
    return "promote"


def means_promote(inv: Inventory, state: ClusterState, name: str) -> bool:
    return choice(inv, state, name) == "promote"


def means_failover(inv: Inventory, state: ClusterState, name: str) -> bool:
    return choice(inv, state, name) == "failover"


def means_rejoin(inv: Inventory, state: ClusterState, name: str) -> bool:
    return choice(inv, state, name) == "rejoin"
