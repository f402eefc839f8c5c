"""`hotspare restart NODE`: drain, restart through the supervisor, healthy, ready, each proven.

The node is drained like `hotspare drain` (never the last ready node: the
plan refuses it, and the drain step checks HAProxy again before it acts),
its site restarted through its supervisor (`sv restart`, forced when the
site does not stop in time) or, without one, cluster.yaml's restart hook;
its health URL must answer, and a node that was ready is made ready again
and its health check seen UP. A node found out of the balancer (warm, in
maintenance) is restarted and left out as it was.

`restart_steps` is the restart alone (the supervisor's step and the health
check), for a caller that drains and readies by itself, such as keepalive.
"""

from __future__ import annotations

from dataclasses import replace

from console.actions.balancer import nodes
from console.actions.plan import Plan, Step
from console.actions.roles.hot_warm import health_up
from console.actions.supervisor.sv import healthy, restart_step
from console.inventory import Inventory, WebNode
from console.state.model import ClusterState

HEALTH_TIMEOUT = 30.0


def restart_steps(
    inv: Inventory, node: WebNode, timeout: float = HEALTH_TIMEOUT
) -> tuple[Step, ...]:
    """Restart NODE's site and wait up to TIMEOUT s for its health URL; () if it cannot be.

    It cannot be when cluster.yaml names neither a supervisor for NODE nor a
    restart hook (`missing` says which key to add).
    """
    step = restart_step(inv, node, timeout)
    return () if step is None else (step, healthy(node, timeout))


def _admin_ready(state: ClusterState, node: WebNode) -> bool:
    """Whether NODE's server was READY at the snapshot, even while its health check fails.

    A site that hangs fails its check (DOWN) but stays READY: it is made ready again.
    """
    seen = state.balancer.servers if state.balancer else ()
    server = next((s for s in seen if s.name == node.server), None)
    if server is None:
        return False
    return server.admin == "ready" or server.operational.startswith("UP")


def missing(node: WebNode) -> str:
    """Why NODE cannot be restarted, naming the cluster.yaml key that would let it."""
    return (
        f"cluster.yaml names no supervisor for {node.name} and no restart hook: add "
        f"`supervisor: runit:/path/to/service` to web_nodes.{node.name} (or web_defaults), "
        "or hooks.restart (docs/inventory.md)"
    )


def plan_restart(
    inv: Inventory, state: ClusterState, node: str, timeout: float = nodes.DRAIN_TIMEOUT
) -> Plan:
    """Drain NODE (sessions waited out up to TIMEOUT s), restart its site, prove it, ready it."""
    web = nodes.web_node(inv, node)
    drain = nodes.plan_state(inv, state, web.name, "drain", timeout)
    was_ready = _admin_ready(state, web)
    restart = restart_steps(inv, web, max(HEALTH_TIMEOUT, inv.upgrade.check_timeout))
    refusals = drain.refusals + (() if restart else (missing(web),))
    steps = [*drain.steps, *restart]
    how = "through runit" if web.supervisor is not None else "with the restart hook"
    if was_ready:
        steps += [*nodes.plan_state(inv, state, web.name, "ready").steps, health_up(web)]
        summary = f"drain {web.name}, restart its site {how}, prove it healthy, then ready again"
    else:
        summary = (
            f"drain {web.name}, restart its site {how} and prove it healthy; it was not "
            "ready at the last look, so it is left out of the balancer as it was"
        )
    way_back = f"hotspare ready {web.name}" if was_ready else ""
    return replace(
        drain,
        action="restart",
        target=web.name,
        summary=summary,
        steps=tuple(steps),
        refusals=refusals,
        confirm=None,
        way_back=way_back,
    )
