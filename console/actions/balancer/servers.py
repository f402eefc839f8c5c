"""The backend's servers as HAProxy has them now, read the way HAProxy itself reads them.

srv_admin_state is a set of bits (include/haproxy/server-t.h). HAProxy 2.6
counts a server as in maintenance only for FMAINT, IMAINT or RMAINT (its own
mask, SRV_ADMF_MAINT, is 0x23). CMAINT (0x04) only records that haproxy.cfg
says `disabled`, so that loading the server-state file can tell a changed
configuration from a runtime change: `set server ... state ready` leaves it
set while the server is READY, health-checked and serving (admin 4, status
UP). 0x40 only records that the server's FQDN changed.

The guards here are steps' preconditions: each is judged on what HAProxy
says just before the step acts, not on the snapshot the plan was built from.
"""

from __future__ import annotations

from console.actions.context import Context
from console.actions.plan import Check, Probe
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes.haproxy import (
    CMAINT,
    IMAINT,
    RMAINT,
    admin_state,
    backends_of,
    live_backend,
    parse_map,
    parse_servers_state,
    parse_stat,
)
from console.state.balancer import AdminState
from console.state.model import ClusterState


def backend_of(inv: Inventory, node: WebNode) -> str:
    """NODE's backend (the balancer's, unless cluster.yaml names another).

    Raises ActionError when cluster.yaml declares no balancer.
    """
    if inv.balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    return node.backend or inv.balancer.backend


async def live_of(ctx: Context) -> str:
    """The backend serving the site now: the flags map's `live` entry, else the balancer's."""
    balancer = ctx.inv.balancer
    if balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    if len(backends_of(balancer)) < 2:
        return balancer.backend  # one backend: it serves, whatever the map says
    mapping = parse_map(await ctx.haproxy(f"show map {balancer.flags_map}"))
    return live_backend(mapping, balancer)[0]


def saved_fields(text: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(backend, server) -> (admin bits, weight) from `show servers state` or its saved file.

    A file without those columns (an empty one, header only) has no servers.
    """
    lines = text.splitlines()
    if len(lines) < 2 or not lines[1].startswith("# "):
        return {}
    columns = lines[1][2:].split()
    wanted = ("be_name", "srv_name", "srv_admin_state", "srv_uweight")
    if not all(c in columns for c in wanted):
        return {}
    be, name, admin, weight = (columns.index(c) for c in wanted)
    found = {}
    for line in lines[2:]:
        fields = line.split()
        if len(fields) > max(be, name, admin, weight):
            found[(fields[be], fields[name])] = (int(fields[admin]), int(fields[weight]))
    return found


async def bits_of(ctx: Context, node: WebNode) -> int:
    """NODE's server's srv_admin_state bits now."""
    name = backend_of(ctx.inv, node)
    states = parse_servers_state(await ctx.haproxy(f"show servers state {name}"))
    if node.server not in states:
        raise ActionError(f"HAProxy has no server {node.server!r} in backend {name!r}")
    return states[node.server]


async def admin_of(ctx: Context, node: WebNode) -> AdminState:
    """NODE's server's admin state now: ready, drain or maint."""
    return admin_state(await bits_of(ctx, node))


async def weight_of(ctx: Context, node: WebNode) -> int:
    """NODE's server's weight now, as the operator set it (srv_uweight)."""
    name = backend_of(ctx.inv, node)
    found = saved_fields(await ctx.haproxy(f"show servers state {name}"))
    if (name, node.server) not in found:
        raise ActionError(f"HAProxy has no server {node.server!r} in backend {name!r}")
    return found[(name, node.server)][1]


async def rows_of(ctx: Context, backend: str) -> dict[str, dict[str, str]]:
    """BACKEND's servers' `show stat` rows, by server name."""
    return {
        row["svname"]: row
        for row in parse_stat(await ctx.haproxy("show stat"))
        if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND")
    }


async def stat_of(ctx: Context, node: WebNode) -> dict[str, str]:
    """NODE's server's `show stat` row, in its own backend."""
    name = backend_of(ctx.inv, node)
    rows = await rows_of(ctx, name)
    if node.server not in rows:
        raise ActionError(f"HAProxy shows no server {node.server!r} in backend {name!r}")
    return rows[node.server]


def takes_traffic(status: str, weight: str | int) -> bool:
    """Whether a server takes new sessions: HAProxy says UP (not DRAIN, MAINT, DOWN), weight > 0."""
    return status.startswith("UP") and str(weight) not in ("", "0")


def ready_in(state: ClusterState) -> list[str]:
    """The servers of the live backend taking new sessions at the snapshot."""
    servers = state.balancer.serving if state.balancer else ()
    return [s.name for s in servers if takes_traffic(s.operational, s.weight)]


def keeps_one_ready(node: WebNode, typed: bool) -> Probe:
    """A precondition: taking NODE out leaves another server of the live backend serving.

    A node whose backend does not serve the site (the other side of an A/B
    rollover) takes nothing from it. TYPED: the plan asked for the node's
    name, as the last ready one, and got it.
    """

    async def pre(ctx: Context) -> Check:
        name, live = backend_of(ctx.inv, node), await live_of(ctx)
        if name != live:
            return Check(
                True,
                f"{node.name} is in backend {name}, which does not serve the site (live: "
                f"{live}); nothing is taken from the site",
            )
        rows = await rows_of(ctx, name)
        if node.server not in rows:
            return Check(False, f"HAProxy shows no server {node.server!r}")
        others = [s for s, r in rows.items() if s != node.server and _serves(r)]
        if not _serves(rows[node.server]):
            return Check(True, f"{node.name} takes no new sessions now; nothing is taken away")
        if others:
            return Check(True, f"{', '.join(others)} still take(s) new sessions")
        if typed:
            return Check(True, f"{node.name} is the last ready server; its name was typed")
        return Check(
            False,
            f"{node.name} is the last ready server now (it was not when planned): the site "
            f"would have none. Plan again; with --force and {node.name!r} typed if you mean it",
        )

    return pre


def _serves(row: dict[str, str]) -> bool:
    return takes_traffic(row.get("status", ""), row.get("weight", ""))


def why_not_ready(bits: int, node: WebNode, name: str) -> str | None:
    """Why `set server ... state ready` cannot bring NODE in, with what to change; None: it can."""
    if bits & IMAINT:
        return (
            f"{node.server} inherits maintenance from the server it tracks (`track` on its line "
            f"in haproxy.cfg, backend {name}): make that server ready first, or remove `track`"
        )
    if bits & RMAINT:
        return (
            f"{node.server}'s address does not resolve (resolution maintenance): fix its name in "
            f"haproxy.cfg or give it an address: set server {name}/{node.server} addr IP"
        )
    return None


def can_bring_in(node: WebNode) -> Probe:
    """A precondition: HAProxy has NODE's server, and `state ready` can bring it in."""

    async def pre(ctx: Context) -> Check:
        name = backend_of(ctx.inv, node)
        states = parse_servers_state(await ctx.haproxy(f"show servers state {name}"))
        if node.server not in states:
            return Check(
                False,
                f"HAProxy has no server {node.server!r} in backend {name!r}: add `server "
                f"{node.server} ADDRESS:PORT check` to that backend in haproxy.cfg and reload",
            )
        bits = states[node.server]
        why = why_not_ready(bits, node, name)
        if why is not None:
            return Check(False, why)
        return Check(True, f"HAProxy can make {node.server} READY" + configured_off(bits, node))

    return pre


def configured_off(bits: int, node: WebNode) -> str:
    """A note when haproxy.cfg says `disabled` for NODE (CMAINT): what keeps it in."""
    if not bits & CMAINT:
        return ""
    return (
        f" (haproxy.cfg says `disabled` for {node.server}: a start without the saved "
        "server-state file puts it back in MAINT)"
    )
