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
    parse_servers_state,
    parse_stat,
)
from console.state.model import AdminState, ClusterState


def backend(inv: Inventory) -> str:
    """The balancer's backend. Raises ActionError when cluster.yaml declares no balancer."""
    if inv.balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    return inv.balancer.backend


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


async def bits_of(ctx: Context, server: str) -> int:
    """The server's srv_admin_state bits now."""
    name = backend(ctx.inv)
    states = parse_servers_state(await ctx.haproxy(f"show servers state {name}"))
    if server not in states:
        raise ActionError(f"HAProxy has no server {server!r} in backend {name!r}")
    return states[server]


async def admin_of(ctx: Context, server: str) -> AdminState:
    """The server's admin state now: ready, drain or maint."""
    return admin_state(await bits_of(ctx, server))


async def weight_of(ctx: Context, server: str) -> int:
    """The server's weight now, as the operator set it (srv_uweight)."""
    name = backend(ctx.inv)
    found = saved_fields(await ctx.haproxy(f"show servers state {name}"))
    if (name, server) not in found:
        raise ActionError(f"HAProxy has no server {server!r} in backend {name!r}")
    return found[(name, server)][1]


async def rows_of(ctx: Context) -> dict[str, dict[str, str]]:
    """The backend's servers' `show stat` rows, by server name."""
    name = backend(ctx.inv)
    return {
        row["svname"]: row
        for row in parse_stat(await ctx.haproxy("show stat"))
        if row.get("pxname") == name and row.get("svname") not in ("FRONTEND", "BACKEND")
    }


async def stat_of(ctx: Context, server: str) -> dict[str, str]:
    """The server's `show stat` row."""
    rows = await rows_of(ctx)
    if server not in rows:
        raise ActionError(f"HAProxy shows no server {server!r} in backend {backend(ctx.inv)!r}")
    return rows[server]


def takes_traffic(status: str, weight: str | int) -> bool:
    """Whether a server takes new sessions: HAProxy says UP (not DRAIN, MAINT, DOWN), weight > 0."""
    return status.startswith("UP") and str(weight) not in ("", "0")


def ready_in(state: ClusterState) -> list[str]:
    """The servers taking new sessions at the snapshot."""
    servers = state.balancer.servers if state.balancer else ()
    return [s.name for s in servers if takes_traffic(s.operational, s.weight)]


def keeps_one_ready(node: WebNode, typed: bool) -> Probe:
    """A precondition: taking NODE out leaves another server taking new sessions.

    TYPED: the plan asked for the node's name, as the last ready one, and got it.
    """

    async def pre(ctx: Context) -> Check:
        rows = await rows_of(ctx)
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
        name = backend(ctx.inv)
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
