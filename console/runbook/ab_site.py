"""The A/B rollover's stages on the nodes and the balancer: test, switch, warm, settle, back.

- test: B's nodes answer their health and version URLs with the release,
  the smoke URLs straight to them, and a write on B's database is taken
  (and rolled back).
- switch: B's nodes hot and writable, ready and UP in their backend; then
  one `set map` makes B's backend the live one (every new request goes to
  B, none to a mix), then the site takes writes again. The write counters
  of B's database are remembered at that moment, for a rollback to count.
- a warm: A's nodes become warm (mail to the log); they stay ready in their
  backend, so a rollback is one `set map` away.
- settle (finish): A's old primary is a standby again; the pins are lifted.
- back (rollback): the mirror of switch, after B went read-only and its
  writes were counted; then A takes writes and B's servers go out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.actions.balancer import nodes
from console.actions.context import Context
from console.actions.plan import Check, Plan, Probe, Step
from console.actions.roles.hot_warm import health_up
from console.actions.site import checks, modes
from console.actions.site import steps as site_steps
from console.inventory import Balancer, Inventory, WebNode
from console.runbook.ab_database import remember_writes
from console.runbook.node import answers, smoke
from console.runbook.sides import balancer, names, pin, roles, side
from console.state.model import ClusterState

LIVE = "live"


def plan_test(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    release = str(args["release"])
    b_db = inv.database(str(args["b_db"]))
    box = balancer(inv).box
    steps: list[Step] = []
    for node in side(inv, args, "b"):
        steps.append(
            checks.checked(
                title=f"Check {node.name} answers on {release}",
                where=f"curl on {node.box}",
                command=f"GET {node.health_url}; GET {node.version_url or '(no version_url)'}",
                expects=f"{node.name} was restarted on {release}",
                proves=f"health 200 and the version URL names {release}",
                probe=answers(node, release),
                settle=5.0,
            )
        )
        tried = smoke(inv, node, box)
        if tried is not None:
            steps.append(tried)
    steps.append(checks.write_probe(b_db, blocked=False))
    return Plan(
        "test B",
        ", ".join(names(args, "b")),
        f"B's nodes straight (not through the balancer), and a write on {b_db.name} rolled back",
        tuple(steps),
    )


def switch_live(lb: Balancer, backend: str) -> Step:
    """One `set map FLAGS live BACKEND`, then the map file, so every new request goes there."""
    path = lb.flags_map
    command = site_steps.map_command("set", path, LIVE, backend)
    kept: list[bool] = []

    async def act(ctx: Context) -> str:
        present = await site_steps.runtime_map(ctx, path)
        kept[:] = [present.get(LIVE) == backend]
        if not kept[0]:
            verb = "set" if LIVE in present else "add"
            await ctx.haproxy_change(site_steps.map_command(verb, path, LIVE, backend))
        text = await ctx.read_file(lb.box, path)
        if site_steps.parse_map_file(text).get(LIVE) != backend:
            await ctx.write_file(lb.box, path, site_steps.edit_map_file(text, {LIVE: backend}))
        return f"already live: {backend}; nothing sent" if kept[0] else f"live: {backend}"

    async def verify(ctx: Context) -> Check:
        now = (await site_steps.runtime_map(ctx, path)).get(LIVE)
        saved = site_steps.parse_map_file(await ctx.read_file(lb.box, path)).get(LIVE)
        ok = now == backend and saved == backend
        return Check(ok, f"HAProxy's map says live {now}, {path} says live {saved}")

    return Step(
        title=f"Make backend {backend} the live one",
        where=f"HAProxy runtime API on {lb.box}, then SFTP",
        command=f"{command}; the same in {path}",
        expects=f"{backend}'s servers are UP; haproxy.cfg picks the backend with "
        f"map({path}) on the key {LIVE}",
        proves="`show map` and the file both say it: each new request goes there, whole",
        act=act,
        verify=verify,
    )


def up_in(node: WebNode) -> Probe:
    """At least NODE's server is UP in its backend (a precondition of the switch)."""

    async def probe(ctx: Context) -> Check:
        row = await nodes.stat_of(ctx, node)
        status = row.get("status", "?")
        return Check(status.startswith("UP"), f"{node.server} is {status}")

    return probe


def writes(lb: Balancer, state: ClusterState, mode: str) -> list[Step]:
    """The site flags switched to MODE (from what the snapshot shows), saved, checked outside."""
    was = modes.mode(state)
    flags = site_steps.Flags(mode)
    if mode == "read-only":
        flags = site_steps.Flags(mode, modes.READ_ONLY_MESSAGE, modes.NO_UNTIL)
    return [
        site_steps.set_flags(lb, flags, was),
        site_steps.save_flags(lb, mode),
        checks.check_site(lb, mode, settle=checks.BACK_IN),
    ]


def plan_switch(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    lb = balancer(inv)
    b_db = inv.database(str(args["b_db"]))
    b_nodes = side(inv, args, "b")
    steps: list[Step] = []
    for node in b_nodes:
        steps += roles(
            node,
            {"role": "hot", "read_only": False, "read_only_message": "", "read_only_until": ""},
        )
    for node in b_nodes:
        steps += [*nodes.plan_state(inv, state, node.name, "ready").steps, health_up(node)]
    steps.append(remember_writes(b_db))
    live = switch_live(lb, str(args["b_backend"]))
    steps.append(nodes.also_pre(live, up_in(b_nodes[0])))
    steps += writes(lb, state, "normal")
    return Plan(
        "replace A with B",
        str(args["b_backend"]),
        f"{', '.join(n.name for n in b_nodes)} hot and ready in {args['b_backend']}; one "
        "`set map` makes it live; then the site takes writes again, on B",
        tuple(steps),
        way_back="`hotspare upgrade rollback` (counts B's writes first)",
    )


def plan_warm(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """A side's nodes warm (mail to the log), left ready in their backend."""
    key = str(args.get("side") or "a")
    steps: list[Step] = []
    for node in side(inv, args, key):
        steps += roles(node, {"role": "warm", "mail": "log", "scheduler": False})
    return Plan(
        f"{key.upper()} warm",
        ", ".join(names(args, key)),
        "warm spares: no scheduled jobs, mail to the log; still ready in their backend, not live",
        tuple(steps),
    )


def plan_settle(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """One primary again: the follower's read-only flag reset, the pins lifted, no node
    left read-only in its role file (a spare made hot later must take writes)."""
    follower = inv.database(str(args["follower"]))
    steps: list[Step] = [site_steps.db_flag(follower, on=False, standby=True)]
    hook = inv.hooks.after_role_change
    for node in side(inv, args, "b") + side(inv, args, "a"):
        steps += pin(inv, node, None)
    for node in side(inv, args, "a") + side(inv, args, "b"):
        address = inv.box(node.box).address
        steps.append(site_steps.tell_node(node, False, "", "", hook, address))
    return Plan(
        "lift the pins",
        "the site",
        f"{follower.name} is a standby now: every node finds the one primary by itself",
        tuple(steps),
    )


def plan_back_read_only(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """Rollback, first: B read-only (its writes get the polite page), so its count stands still."""
    lb = balancer(inv)
    b_db = inv.database(str(args["b_db"]))
    hook = inv.hooks.after_role_change
    steps = writes(lb, state, "read-only")[:2]
    for node in side(inv, args, "b"):
        address = inv.box(node.box).address
        steps.append(site_steps.tell_node(node, True, modes.READ_ONLY_MESSAGE, "", hook, address))
    steps += [site_steps.db_flag(b_db, on=True, standby=False), checks.write_probe(b_db, True)]
    return Plan(
        "B read-only",
        "the site",
        "writes get the read-only page while the site goes back to A",
        tuple(steps),
    )


def plan_back(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """Rollback: A hot, ready, UP, then one `set map` makes A's backend live again."""
    lb = balancer(inv)
    a_nodes = side(inv, args, "a")
    steps: list[Step] = []
    for node in a_nodes:
        steps += roles(node, {"role": "hot"})  # mail comes with the scheduler, moved next
    for node in a_nodes:
        steps += [*nodes.plan_state(inv, state, node.name, "ready").steps, health_up(node)]
    live = switch_live(lb, str(args["a_backend"]))
    steps.append(nodes.also_pre(live, up_in(a_nodes[0])))
    return Plan(
        "A live again",
        str(args["a_backend"]),
        "A's nodes hot and UP; one `set map` makes A's backend live (read-only still)",
        tuple(steps),
    )


def plan_a_writes(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """Rollback: A's database and nodes take writes, then the site; B's nodes out, warm."""
    lb = balancer(inv)
    a_db = inv.database(str(args["a_db"]))
    hook = inv.hooks.after_role_change
    steps: list[Step] = [
        site_steps.db_flag(a_db, on=False, standby=False),
        checks.write_probe(a_db, blocked=False),
    ]
    for node in side(inv, args, "a"):
        address = inv.box(node.box).address
        steps.append(site_steps.tell_node(node, False, "", "", hook, address))
    steps += writes(lb, state, "normal")
    for node in side(inv, args, "b"):
        steps += nodes.plan_state(inv, state, node.name, "maint").steps
    return Plan(
        "A takes writes",
        str(args["a_db"]),
        f"{a_db.name} and A's nodes take writes, then the balancer lets them through; "
        "B's servers out (maint)",
        tuple(steps),
    )
