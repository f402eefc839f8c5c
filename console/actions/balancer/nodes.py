"""A node on the balancer: drain, ready, maint, weight.

Each goes through HAProxy's runtime API, is verified by reading the
server's state back, and is then saved to the server-state file, so a
HAProxy reload keeps it (`load-server-state-from-file`). A drain is done
only once the server's current sessions have reached zero.

Run again, each notices what already holds: a server already in the
wanted state is sent nothing, and the step says so. Taking a node out
re-reads HAProxy just before it acts: it refuses to leave no server
ready, whatever the plan's snapshot said.
"""

from __future__ import annotations

from dataclasses import replace

from console.actions.balancer import servers
from console.actions.balancer.servers import admin_of, backend_of, stat_of
from console.actions.context import Context
from console.actions.plan import Check, Plan, Probe, Step, poll
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes.haproxy import admin_state, parse_servers_state
from console.ssh import BoxError
from console.state.model import ClusterState

DRAIN_TIMEOUT = 120.0
ALREADY = "already so: nothing sent"

__all__ = ["DRAIN_TIMEOUT", "admin_of", "stat_of", "web_node"]


def web_node(inv: Inventory, name: str) -> WebNode:
    """The web node NAME. Raises ActionError naming the nodes that exist."""
    for node in inv.web_nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in inv.web_nodes) or "none"
    raise ActionError(f"no web node named {name!r}; the web nodes are: {known}")


def also_pre(step: Step, probe: Probe) -> Step:
    """STEP with PROBE checked first, then its own precondition, if it has one."""
    first = step.pre

    async def pre(ctx: Context) -> Check:
        check = await probe(ctx)
        if not check.ok or first is None:
            return check
        then = await first(ctx)
        return Check(then.ok, f"{check.detail}; {then.detail}")

    return replace(step, pre=pre)


def _state_probe(node: WebNode, wanted: str) -> Probe:
    async def probe(ctx: Context) -> Check:
        bits = await servers.bits_of(ctx, node)
        now = admin_state(bits)
        if now != wanted:
            return Check(False, f"{node.server} is {now.upper()}, not {wanted.upper()}")
        note = servers.configured_off(bits, node) if wanted == "ready" else ""
        return Check(True, f"{node.server} is {wanted.upper()}{note}")

    return probe


def _holds(now: str, wanted: str) -> bool:
    # MAINT is further out than DRAIN: a drain leaves a server in MAINT as it is.
    return now == wanted or (wanted == "drain" and now == "maint")


def _set_state(node: WebNode, name: str, wanted: str, box: str) -> Step:
    command = f"set server {name}/{node.server} state {wanted}"
    found: list[str] = []  # the state it already had, when nothing was sent

    async def act(ctx: Context) -> str:
        bits = await servers.bits_of(ctx, node)
        now = admin_state(bits)
        found[:] = [now] if _holds(now, wanted) else []
        if found:
            return f"already {now.upper()}; nothing sent"
        await ctx.haproxy_change(command)
        return "accepted"

    async def verify(ctx: Context) -> Check:
        check = await _state_probe(node, found[0] if found else wanted)(ctx)
        return replace(check, detail=f"{check.detail}, {ALREADY}") if found else check

    return Step(
        title=f"{wanted.capitalize()} {node.name} in HAProxy",
        where=f"HAProxy runtime API on {box}",
        command=command,
        expects=f"{node.server} is a server of backend {name}"
        + ("; MAINT is left as it is" if wanted == "drain" else ""),
        proves=f"its admin state reads {wanted.upper()} (nothing is sent if it already does)",
        act=act,
        verify=verify,
    )


def _wait_sessions(node: WebNode, timeout: float) -> Step:
    out: list[str] = []  # set when the server is in MAINT: there is no drain to wait for

    async def count(ctx: Context) -> Check:
        sessions = int((await stat_of(ctx, node)).get("scur") or 0)
        return Check(sessions == 0, f"{node.name} has {sessions} current sessions")

    async def act(ctx: Context) -> str:
        if await admin_of(ctx, node) == "maint":
            out[:] = [f"{node.name} is MAINT: no drain to wait for"]
            return out[0]
        last = None

        async def probe(ctx: Context) -> Check:
            nonlocal last
            check = await count(ctx)
            if check.detail != last:
                ctx.say(check.detail)
                last = check.detail
            return check

        check = await poll(ctx, probe, timeout, every=0.5)
        if not check.ok:
            raise ActionError(f"{check.detail} after {timeout:g} s; it stays DRAIN")
        return check.detail

    async def verify(ctx: Context) -> Check:
        return Check(True, out[0]) if out else await count(ctx)

    return Step(
        title=f"Wait for {node.name}'s sessions to end",
        where="HAProxy runtime API",
        command="show stat (every 0.5 s)",
        expects=f"{node.name} is DRAIN: no new sessions reach it",
        proves=f"its current sessions reach 0 within {timeout:g} s",
        act=act,
        verify=verify,
    )


def save_states(inv: Inventory, node: WebNode) -> Step:
    """Write `show servers state` to the state file, unless it already holds every state."""
    balancer = inv.balancer
    if balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    path, box, name = balancer.state_file, balancer.box, backend_of(inv, node)
    kept: list[bool] = []

    async def act(ctx: Context) -> str:
        states = await ctx.haproxy("show servers state")
        parse_servers_state(states)  # refuses an answer that is not the state format
        try:
            saved = servers.saved_fields(await ctx.read_file(box, path))
        except BoxError:
            saved = {}  # no file yet, or unreadable: it is written
        kept[:] = [bool(saved) and saved == servers.saved_fields(states)]
        if kept[0]:
            return f"{path} already holds every server's state and weight; left as it is"
        await ctx.write_file(box, path, states)
        return f"{len(states.splitlines())} lines written"

    async def verify(ctx: Context) -> Check:
        saved = servers.saved_fields(await ctx.read_file(box, path))
        now = servers.saved_fields(await ctx.haproxy(f"show servers state {name}"))
        key = (name, node.server)
        if key not in saved:
            return Check(False, f"{path} has no line for {node.server}")
        bits, weight = saved[key]
        said = f"{path} has {node.server} {admin_state(bits).upper()}, weight {weight}"
        if saved[key] != now.get(key):
            return Check(False, f"{said}; HAProxy has admin bits and weight {now.get(key)}")
        return Check(True, f"{said}, as HAProxy has" + (" (already saved)" if kept[0] else ""))

    return Step(
        title="Save the server states for a reload",
        where=f"HAProxy runtime API, then SFTP on {box}",
        command=f"show servers state > {path}",
        expects="HAProxy answers in the version 1 format",
        proves=f"the file holds {node.server}'s state and weight as HAProxy has them",
        act=act,
        verify=verify,
    )


def _last_ready(
    state: ClusterState, node: WebNode, force: bool
) -> tuple[tuple[str, ...], str | None]:
    """Refusals and the confirm word for taking NODE out of service, judged on the snapshot."""
    if servers.ready_in(state) != [node.server]:
        return (), None
    if not force:
        return (
            f"{node.name} is the last ready server: the site would have none. "
            f"Use --force (and type {node.name!r}) if you mean it",
        ), None
    return (), node.name


def _already(state: ClusterState, node: WebNode, final: str) -> str:
    """A note for the summary when the snapshot shows NODE already as FINAL."""
    servers_now = state.balancer.servers if state.balancer else ()
    seen = next((s for s in servers_now if s.name == node.server), None)
    if seen is None or not _holds(_seen_admin(seen.operational, seen.admin), final):
        return ""
    return f" ({node.name} is already {final.upper()} at the last look: each step checks again)"


def _seen_admin(operational: str, admin: str) -> str:
    # HAProxy's status word reads admin states as HAProxy acts on them (a `disabled`
    # server made ready shows UP); the admin column may count bit 0x04 as MAINT.
    if operational.startswith(("MAINT", "DRAIN")):
        return operational.split()[0].lower()
    return "ready" if operational.startswith("UP") else admin


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
    backend_name = backend_of(inv, node)
    refusals: tuple[str, ...] = ()
    confirm = None
    box = inv.balancer.box if inv.balancer else "?"
    first = _set_state(node, backend_name, wanted, box)
    if wanted in ("drain", "maint"):
        refusals, confirm = _last_ready(state, node, force)
        first = also_pre(first, servers.keeps_one_ready(node, typed=confirm is not None))
    else:
        first = also_pre(first, servers.can_bring_in(node))
    if state.balancer is None or not state.answers(box):
        refusals += ("the balancer's state is not known now: its box does not answer",)
    steps = [first]
    if wanted == "drain":
        steps.append(_wait_sessions(node, timeout))
        if then_maint:
            steps.append(_set_state(node, backend_name, "maint", box))
    final = "maint" if then_maint else wanted
    steps.append(save_states(inv, node))
    action = "drain" if wanted == "drain" else wanted
    summary = {
        "drain": f"stop new sessions to {node.name}, wait for its sessions to end"
        + (", then maintenance" if then_maint else ""),
        "ready": f"let {node.name} take traffic again (its health check decides when)",
        "maint": f"take {node.name} out of the balancer now (its sessions are cut)",
    }[wanted] + _already(state, node, final)
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


def plan_weight(
    inv: Inventory, state: ClusterState, node: str, weight: int, force: bool = False
) -> Plan:
    """The plan to set NODE's weight on the balancer (0 to 256), saved for a reload.

    Weight 0 takes a node out of service as surely as a drain: it is refused
    for the last ready server unless forced (and its name typed).
    """
    found = web_node(inv, node)
    backend_name = backend_of(inv, found)
    refusals: tuple[str, ...] = (
        () if 0 <= weight <= 256 else (f"weight {weight} is outside 0..256",)
    )
    confirm = None
    if weight == 0:
        out, confirm = _last_ready(state, found, force)
        refusals += out
    command = f"set server {backend_name}/{found.server} weight {weight}"
    same: list[bool] = []

    async def act(ctx: Context) -> str:
        same[:] = [await servers.weight_of(ctx, found) == weight]
        if same[0]:
            return f"already {weight}; nothing sent"
        await ctx.haproxy_change(command)
        return "accepted"

    async def verify(ctx: Context) -> Check:
        now = await servers.weight_of(ctx, found)
        said = f"{found.name}'s weight is {now}" + (f", {ALREADY}" if same and same[0] else "")
        return Check(now == weight, said)

    step = Step(
        f"Set {found.name}'s weight to {weight}",
        "HAProxy runtime API",
        command,
        f"{found.server} is a server of backend {backend_name}",
        f"`show servers state` reads weight {weight} (nothing is sent if it already does)",
        act,
        verify,
    )
    if weight == 0:
        step = also_pre(step, servers.keeps_one_ready(found, typed=confirm is not None))
    seen = state.balancer.servers if state.balancer else ()
    old = next((s.weight for s in seen if s.name == found.server), None)
    way_back = f"hotspare weight {found.name} {old}" if old is not None else ""
    summary = f"weight {weight} for {found.name}"
    if old == weight:
        summary += f" (already {weight} at the last look: the step checks again)"
    steps = (step, save_states(inv, found))
    return Plan("weight", found.name, summary, steps, refusals, confirm, way_back)
