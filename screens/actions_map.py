"""Which core plan each action key builds: for the selected node or database, or the site."""

from __future__ import annotations

from collections.abc import Callable

from console.actions import member, nodes, roles, scheduler, site
from console.actions.plan import Plan
from console.actions.site_input import parse_until
from console.inventory import Inventory
from console.state.model import ClusterState

NodeBuild = Callable[[Inventory, ClusterState, str], Plan]
SiteBuild = Callable[[Inventory, ClusterState, str | None], Plan]

NODE_PLANS: dict[str, NodeBuild] = {
    # Forcing in the console is typing the node's name, which the plan then asks for.
    "drain": lambda inv, state, node: nodes.plan_state(inv, state, node, "drain", force=True),
    "ready": lambda inv, state, node: nodes.plan_state(inv, state, node, "ready"),
    "maint": lambda inv, state, node: nodes.plan_state(inv, state, node, "maint", force=True),
    "make_hot": lambda inv, state, node: roles.plan_role(inv, state, node, "hot"),
    "make_warm": lambda inv, state, node: roles.plan_role(inv, state, node, "warm", force=True),
    "move_scheduler": lambda inv, state, node: scheduler.plan_move(inv, state, node),
}


def _mode(state: ClusterState) -> str:
    return state.balancer.flags.mode if state.balancer is not None else "normal"


def _read_only(inv: Inventory, state: ClusterState, answer: str | None) -> Plan:
    if _mode(state) == "read-only":
        return site.plan_read_only_off(inv, state)
    return site.plan_read_only_on(inv, state, None, None)


def _maintenance(inv: Inventory, state: ClusterState, answer: str | None) -> Plan:
    if _mode(state) == "maintenance":
        return site.plan_maintenance_off(inv, state)
    return site.plan_maintenance_on(inv, state, parse_until(answer or ""), None)


# On a standby: switchover with rejoin (failover when no primary answers); on an
# old primary: rejoin. The core decides from the snapshot (console/actions/member.py).
DB_PLANS: dict[str, NodeBuild] = {"promote": member.plan_for}

SITE_PLANS: dict[str, SiteBuild] = {
    "read_only": _read_only,
    "maintenance_page": _maintenance,
}


def question(action: str, state: ClusterState) -> str | None:
    """What to ask before planning ACTION, if anything (the time the site is back)."""
    if action == "maintenance_page" and _mode(state) != "maintenance":
        return "Back at what time? (03:30, 2026-11-26 03:30, 45m)"
    return None
