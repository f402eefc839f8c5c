"""A web node's role: hot (in the balancer, logging as hot) or warm (out of it, mail to a log).

`node warm` takes the node out of the balancer first (drain, sessions waited
out, then maintenance; a node already in MAINT is not drained), and only then
rewrites its role file, so a node that still takes traffic never logs under
the warm name, and a warm node never logs under the hot one. `node hot`
first checks that HAProxy can bring the node in (before anything changes),
rewrites the role file and puts the node back in the balancer only once its
site is healthy. Each role file change is proven on the node itself: its
site's GET /role shows the new flags, and a request made there lands in the
access log of the new role. Run again, each step finds what already holds
and says so.

The role file, the site's view of it and the hooks: console/actions/roles/rolefile.py.
"""

from __future__ import annotations

import dataclasses

from console.actions.balancer import nodes, servers
from console.actions.context import Context
from console.actions.plan import Check, Plan, Probe, Step
from console.actions.roles.rolefile import (
    ROLE_MAX_TIME,
    ROLE_TIMEOUT,
    Flags,
    live_node,
    polled,
    read_role,
    run_hook,
    site_took,
    write_role,
)
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes import http
from console.state.model import ClusterState, NodeState

UP_TIMEOUT = 30.0  # HAProxy's rise checks after `ready`; the lab needs about 2 s


def _site_healthy(node: WebNode) -> Step:
    request = http.Request("GET", node.health_url, ROLE_MAX_TIME)

    async def probe(ctx: Context) -> Check:
        answer = await ctx.fetch(node.box, request)
        problem = answer.problem(request.url, f"{node.name}'s site")
        if problem is not None:
            return Check(False, f"{node.name}'s health URL: {problem}")
        return Check(answer.status == 200, f"{node.name}'s health URL answers {answer.status}")

    return Step(
        title=f"Check that {node.name}'s site is healthy",
        where=f"ssh {node.box}",
        command=request.command(),
        expects="the site runs and reaches the primary",
        proves="its health URL answers 200",
        act=polled(probe, ROLE_TIMEOUT),
        verify=probe,
    )


def health_up(node: WebNode) -> Step:
    """Wait for NODE's health check to be UP on the balancer (after `ready`)."""

    async def probe(ctx: Context) -> Check:
        row = await nodes.stat_of(ctx, node)
        status, check = row.get("status", "?"), row.get("check_status") or "no check"
        return Check(status == "UP", f"{node.server} is {status} ({check})")

    return Step(
        title=f"Wait for {node.name}'s health check to be UP",
        where="HAProxy runtime API",
        command="show stat (every 0.5 s)",
        expects=f"{node.server} is READY",
        proves=f"HAProxy reads it UP within {UP_TIMEOUT:g} s",
        act=polled(probe, UP_TIMEOUT),
        verify=probe,
    )


def plan_hot(inv: Inventory, state: ClusterState, node: str) -> Plan:
    """Log NODE as hot, then put it in the balancer once its health check passes."""
    return plan_role(inv, state, node, "hot")


def plan_warm(
    inv: Inventory,
    state: ClusterState,
    node: str,
    timeout: float = nodes.DRAIN_TIMEOUT,
    force: bool = False,
) -> Plan:
    """Take NODE out of the balancer, then log it as warm with its mail kept in its log."""
    return plan_role(inv, state, node, "warm", timeout, force)


def plan_role(
    inv: Inventory,
    state: ClusterState,
    name: str,
    wanted: str,
    timeout: float = nodes.DRAIN_TIMEOUT,
    force: bool = False,
) -> Plan:
    """The plan to make node NAME hot or warm (WANTED)."""
    if wanted not in ("hot", "warm"):
        raise ActionError(f"a node is made hot or warm, not {wanted!r}")
    node = nodes.web_node(inv, name)
    live = live_node(state, name)
    refusals: tuple[str, ...] = ()
    if live is None:
        refusals = (
            f"{name}'s role is not known now (its box does not answer or its role file is "
            f"unreadable); to take it out of the balancer anyway: hotspare maint {name}",
        )
    if wanted == "warm":
        return _plan_warm(inv, state, node, live, refusals, timeout, force)
    return _plan_hot(inv, state, node, live, refusals)


def _plan_warm(
    inv: Inventory,
    state: ClusterState,
    node: WebNode,
    live: NodeState | None,
    refusals: tuple[str, ...],
    timeout: float,
    force: bool,
) -> Plan:
    balancer = nodes.plan_state(inv, state, node.name, "drain", timeout, True, force)
    if live is not None and live.scheduler:
        other = next((n.name for n in state.nodes if n.name != node.name and n.role == "hot"), "")
        refusals += (
            f"{node.name} is the scheduler, and a warm node must not run scheduled jobs. "
            f"Move it first: hotspare scheduler move {other or 'NODE'}",
        )
    change: Flags = {"role": "warm", "scheduler": False, "mail": "log"}
    free = f"{node.name} is not the scheduler"
    # Checked before the node leaves the balancer too: the scheduler may have moved since planning.
    first, *rest = balancer.steps
    first = nodes.also_pre(first, _not_scheduler(node))
    steps = [
        dataclasses.replace(first, expects=f"{first.expects}; {free}"),
        *rest,
        write_role(node, change, _not_scheduler(node), free),
    ]
    steps += run_hook(inv, node, "after_role_change", "warm")
    steps.append(site_took(node, {**change, "effective_mail": "log"}, "warm"))
    summary = f"take {node.name} out of the balancer, then log as warm and mail only to its log"
    out = _seen(state, node).startswith("MAINT")
    if live is not None and live.role == "warm" and out:
        summary += f" ({node.name} is already warm and in MAINT: each step checks again)"
    elif out:
        summary += f" ({node.name} is in MAINT already: it is not drained)"
    return Plan(
        "node warm",
        node.name,
        summary,
        tuple(steps),
        refusals + balancer.refusals,
        balancer.confirm,
        f"hotspare node hot {node.name}",
    )


def _plan_hot(
    inv: Inventory,
    state: ClusterState,
    node: WebNode,
    live: NodeState | None,
    refusals: tuple[str, ...],
) -> Plan:
    scheduler = bool(live and live.scheduler)
    mail = "real" if scheduler else "log"
    change: Flags = {"role": "hot", "scheduler": scheduler, "mail": mail}
    balancer = nodes.plan_state(inv, state, node.name, "ready")
    same = f"{node.name} is {'' if scheduler else 'not '}the scheduler, as when planned"
    first = write_role(node, change, _same_scheduler(node, scheduler), same)
    # Checked before the role file changes: a node HAProxy cannot bring in is refused here.
    first = nodes.also_pre(first, servers.can_bring_in(node))
    steps = [
        dataclasses.replace(first, expects=f"HAProxy can make {node.server} READY; {same}"),
    ]
    steps += run_hook(inv, node, "after_role_change", "hot")
    steps += [site_took(node, {**change, "effective_mail": mail}, "hot"), _site_healthy(node)]
    steps += [*balancer.steps, health_up(node)]
    summary = f"log {node.name} as hot (mail {mail}), then put it in the balancer once healthy"
    if live is not None and live.role == "hot" and _seen(state, node).startswith("UP"):
        summary += f" ({node.name} is already hot and UP: each step checks again)"
    return Plan(
        "node hot",
        node.name,
        summary,
        tuple(steps),
        refusals + balancer.refusals,
        None,
        f"hotspare node warm {node.name}",
    )


def _seen(state: ClusterState, node: WebNode) -> str:
    """HAProxy's status word for NODE's server at the snapshot (UP, DRAIN, MAINT...), or ""."""
    seen = state.balancer.servers if state.balancer else ()
    return next((s.operational for s in seen if s.name == node.server), "")


def _not_scheduler(node: WebNode) -> Probe:
    async def pre(ctx: Context) -> Check:
        if (await read_role(ctx, node)).scheduler:
            return Check(False, f"{node.name} is the scheduler now: move it first")
        return Check(True, f"{node.name} is not the scheduler")

    return pre


def _same_scheduler(node: WebNode, planned: bool) -> Probe:
    async def pre(ctx: Context) -> Check:
        now = (await read_role(ctx, node)).scheduler
        if now != planned:
            return Check(False, f"{node.name}'s scheduler flag changed since planning: plan again")
        return Check(True, f"{node.name} is {'' if now else 'not '}the scheduler, as planned")

    return pre
