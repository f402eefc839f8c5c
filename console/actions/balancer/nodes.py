"""A node on the balancer: drain, ready, maint, weight.

Each goes through HAProxy's runtime API, is verified by reading the
server's state back, and is then saved to the server-state file, so a
HAProxy reload keeps it (`load-server-state-from-file`). A drain is done
only once the server's current sessions have reached zero.
"""

from __future__ import annotations

from console.actions.context import Context
from console.actions.plan import Check, Plan, Probe, Step, poll
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes.haproxy import admin_state, parse_servers_state, parse_stat
from console.state.model import ClusterState

DRAIN_TIMEOUT = 120.0


def web_node(inv: Inventory, name: str) -> WebNode:
    """The web node NAME. Raises ActionError naming the nodes that exist."""
    for node in inv.web_nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in inv.web_nodes) or "none"
    raise ActionError(f"no web node named {name!r}; the web nodes are: {known}")


def _backend(inv: Inventory) -> str:
    if inv.balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    return inv.balancer.backend


async def admin_of(ctx: Context, server: str) -> str:
    """The server's admin state as HAProxy has it now: ready, drain or maint."""
    backend = _backend(ctx.inv)
    states = parse_servers_state(await ctx.haproxy(f"show servers state {backend}"))
    if server not in states:
        raise ActionError(f"HAProxy has no server {server!r} in backend {backend!r}")
    return admin_state(states[server])


async def stat_of(ctx: Context, server: str) -> dict[str, str]:
    """The server's `show stat` row."""
    backend = _backend(ctx.inv)
    for row in parse_stat(await ctx.haproxy("show stat")):
        if row.get("pxname") == backend and row.get("svname") == server:
            return row
    raise ActionError(f"HAProxy shows no server {server!r} in backend {backend!r}")


def _state_probe(server: str, wanted: str) -> Probe:
    async def probe(ctx: Context) -> Check:
        now = await admin_of(ctx, server)
        if now == wanted:
            return Check(True, f"{server} is {wanted.upper()}")
        return Check(False, f"{server} is {now.upper()}, not {wanted.upper()}")

    return probe


def _set_state(node: WebNode, backend: str, wanted: str, box: str) -> Step:
    command = f"set server {backend}/{node.server} state {wanted}"

    async def act(ctx: Context) -> str:
        await ctx.haproxy_change(command)
        return "accepted"

    return Step(
        title=f"{wanted.capitalize()} {node.name} in HAProxy",
        where=f"HAProxy runtime API on {box}",
        command=command,
        expects=f"{node.server} is a server of backend {backend}",
        proves=f"its admin state reads {wanted.upper()}",
        act=act,
        verify=_state_probe(node.server, wanted),
    )


def _wait_sessions(node: WebNode, timeout: float) -> Step:
    async def act(ctx: Context) -> str:
        last = None

        async def probe(ctx: Context) -> Check:
            nonlocal last
            count = int((await stat_of(ctx, node.server)).get("scur") or 0)
            if count != last:
                ctx.say(f"{node.name}: {count} current sessions")
                last = count
            return Check(count == 0, f"{node.name} has {count} current sessions")

        check = await poll(ctx, probe, timeout, every=0.5)
        if not check.ok:
            raise ActionError(f"{check.detail} after {timeout:g} s; it stays DRAIN")
        return check.detail

    async def verify(ctx: Context) -> Check:
        count = int((await stat_of(ctx, node.server)).get("scur") or 0)
        return Check(count == 0, f"{node.name} has {count} current sessions")

    return Step(
        title=f"Wait for {node.name}'s sessions to end",
        where="HAProxy runtime API",
        command="show stat (every 0.5 s)",
        expects=f"{node.name} is DRAIN: no new sessions reach it",
        proves=f"its current sessions reach 0 within {timeout:g} s",
        act=act,
        verify=verify,
    )


def _save_states(inv: Inventory, node: WebNode, wanted: str) -> Step:
    balancer = inv.balancer
    if balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    path, box = balancer.state_file, balancer.box

    async def act(ctx: Context) -> str:
        states = await ctx.haproxy("show servers state")
        parse_servers_state(states)  # refuses an answer that is not the state format
        await ctx.write_file(box, path, states)
        return f"{len(states.splitlines())} lines written"

    async def verify(ctx: Context) -> Check:
        saved = parse_servers_state(await ctx.read_file(box, path))
        now = admin_state(saved[node.server]) if node.server in saved else "missing"
        return Check(now == wanted, f"{path} has {node.server} {now.upper()}")

    return Step(
        title="Save the server states for a reload",
        where=f"HAProxy runtime API, then SFTP on {box}",
        command=f"show servers state > {path}",
        expects="HAProxy answers in the version 1 format",
        proves=f"the file holds {node.server} as {wanted.upper()}",
        act=act,
        verify=verify,
    )


def _ready_servers(state: ClusterState) -> list[str]:
    if state.balancer is None:
        return []
    return [
        s.name
        for s in state.balancer.servers
        if s.admin == "ready" and s.operational.startswith("UP")
    ]


def _last_ready(
    state: ClusterState, node: WebNode, force: bool
) -> tuple[tuple[str, ...], str | None]:
    """Refusals and the confirm word for taking NODE out of service."""
    ready = _ready_servers(state)
    if ready != [node.server]:
        return (), None
    if not force:
        return (
            f"{node.name} is the last ready server: the site would have none. "
            f"Use --force (and type {node.name!r}) if you mean it",
        ), None
    return (), node.name


def plan_state(
    inv: Inventory,
    state: ClusterState,
    name: str,
    wanted: str,
    timeout: float = DRAIN_TIMEOUT,
    then_maint: bool = False,
    force: bool = False,
) -> Plan:
    """The plan to put node NAME in WANTED (ready, drain or maint) on the balancer."""
    node = web_node(inv, name)
    backend = _backend(inv)
    refusals: tuple[str, ...] = ()
    confirm = None
    if wanted in ("drain", "maint"):
        refusals, confirm = _last_ready(state, node, force)
    box = inv.balancer.box if inv.balancer else "?"
    if state.balancer is None or not state.answers(box):
        refusals += ("the balancer's state is not known now: its box does not answer",)
    steps = [_set_state(node, backend, wanted, box)]
    if wanted == "drain":
        steps.append(_wait_sessions(node, timeout))
        if then_maint:
            steps.append(_set_state(node, backend, "maint", box))
    final = "maint" if then_maint else wanted
    steps.append(_save_states(inv, node, final))
    action = "drain" if wanted == "drain" else wanted
    summary = {
        "drain": f"stop new sessions to {node.name}, wait for its sessions to end"
        + (", then maintenance" if then_maint else ""),
        "ready": f"let {node.name} take traffic again (its health check decides when)",
        "maint": f"take {node.name} out of the balancer now (its sessions are cut)",
    }[wanted]
    way_back = f"hotspare ready {node.name}" if final != "ready" else f"hotspare drain {node.name}"
    return Plan(action, node.name, summary, tuple(steps), refusals, confirm, way_back)


def plan_drain(
    inv: Inventory,
    state: ClusterState,
    node: str,
    timeout: float = DRAIN_TIMEOUT,
    then_maint: bool = False,
    force: bool = False,
) -> Plan:
    """Stop new sessions to NODE and wait up to TIMEOUT s for its sessions to end."""
    return plan_state(inv, state, node, "drain", timeout, then_maint, force)


def plan_ready(inv: Inventory, state: ClusterState, node: str) -> Plan:
    """Let NODE take traffic again (its health check decides when)."""
    return plan_state(inv, state, node, "ready")


def plan_maint(inv: Inventory, state: ClusterState, node: str, force: bool = False) -> Plan:
    """Take NODE out of the balancer now, cutting its sessions."""
    return plan_state(inv, state, node, "maint", force=force)


def plan_weight(inv: Inventory, state: ClusterState, node: str, weight: int) -> Plan:
    """The plan to set NODE's weight on the balancer (0 to 256)."""
    found = web_node(inv, node)
    backend = _backend(inv)
    refusals = () if 0 <= weight <= 256 else (f"weight {weight} is outside 0..256",)
    command = f"set server {backend}/{found.server} weight {weight}"

    async def act(ctx: Context) -> str:
        await ctx.haproxy_change(command)
        return "accepted"

    async def verify(ctx: Context) -> Check:
        now = (await stat_of(ctx, found.server)).get("weight", "?")
        return Check(now == str(weight), f"{found.name}'s weight is {now}")

    step = Step(
        f"Set {found.name}'s weight to {weight}",
        "HAProxy runtime API",
        command,
        f"{found.server} is a server of backend {backend}",
        f"`show stat` reads weight {weight}",
        act,
        verify,
    )
    old = next(
        (
            s.weight
            for s in (state.balancer.servers if state.balancer else ())
            if s.name == found.server
        ),
        None,
    )
    way_back = f"hotspare weight {found.name} {old}" if old is not None else ""
    return Plan(
        "weight", found.name, f"weight {weight} for {found.name}", (step,), refusals, None, way_back
    )
