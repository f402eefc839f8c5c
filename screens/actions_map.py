"""Which core plan each action key builds, for the node the operator selected."""

from __future__ import annotations

from collections.abc import Callable

from console.actions import nodes, roles, scheduler
from console.actions.plan import Plan
from console.inventory import Inventory
from console.state.model import ClusterState

Build = Callable[[Inventory, ClusterState, str], Plan]

PLANS: dict[str, Build] = {
    # Forcing in the console is typing the node's name, which the plan then asks for.
    "drain": lambda inv, state, node: nodes.plan_state(inv, state, node, "drain", force=True),
    "ready": lambda inv, state, node: nodes.plan_state(inv, state, node, "ready"),
    "maint": lambda inv, state, node: nodes.plan_state(inv, state, node, "maint", force=True),
    "make_hot": lambda inv, state, node: roles.plan_role(inv, state, node, "hot"),
    "make_warm": lambda inv, state, node: roles.plan_role(inv, state, node, "warm", force=True),
    "move_scheduler": lambda inv, state, node: scheduler.plan_move(inv, state, node),
}
