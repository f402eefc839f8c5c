"""The stages of an A/B rollover that have no action of their own: each a plan from a snapshot.

Side A is live; side B is a second set of web nodes in its own HAProxy
backend. The stages, each run again finding what already holds:

- detach: A's nodes pinned to A's primary; once no transaction that wrote
  is still open there, B's database (A's standby) replays up to A's WAL
  position and is promoted on its own timeline, then takes writes; B's
  nodes are pinned to it. A's primary stays read-only: the way back.
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
  writes were counted.

The pins are the role file's `database` key (console/node_role.py): while
two primaries exist, no node may pick one by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from console.actions.balancer import nodes
from console.actions.context import Context
from console.actions.database import steps as pgsteps
from console.actions.plan import Check, Plan, Probe, Step, poll
from console.actions.roles.hot_warm import health_up
from console.actions.roles.rolefile import Flags, site_took, write_role
from console.actions.site import checks, modes
from console.actions.site import steps as site_steps
from console.errors import ActionError
from console.inventory import Balancer, Database, Inventory, WebNode
from console.runbook.node import answers, smoke
from console.state.model import ClusterState

CATCH_UP = 60.0  # s for B's database to replay what A's wrote
WRITERS_GONE = 30.0  # s for transactions that wrote on A to end once it is read-only
LIVE = "live"
BASELINE = "b_writes_at_switch:"
_WRITERS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)
_WRITTEN = (
    "SELECT schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del "
    "FROM pg_stat_user_tables"
)


def names(args: Mapping[str, Any], key: str) -> list[str]:
    value = args.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def side(inv: Inventory, args: Mapping[str, Any], key: str) -> list[WebNode]:
    return [nodes.web_node(inv, name) for name in names(args, key)]


def balancer(inv: Inventory) -> Balancer:
    if inv.balancer is None:
        raise ActionError("cluster.yaml declares no balancer: an A/B rollover switches at it")
    return inv.balancer


def pin_of(inv: Inventory, db: Database) -> str:
    """What a role file's `database` says to use DB: HOST:PORT."""
    return f"{db.host}:{db.port}"


def pin(inv: Inventory, node: WebNode, db: Database | None) -> list[Step]:
    """NODE's role file pinned to DB (None: the pin lifted), and its site taking it."""
    value = pin_of(inv, db) if db is not None else ""
    change: Flags = {"database": value}
    return [write_role(node, change), site_took(node, change)]


def roles(node: WebNode, change: Flags) -> list[Step]:
    return [write_role(node, change), site_took(node, change)]


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


async def _in_recovery(ctx: Context, db: Database) -> bool:
    rows = await ctx.sql(db, "SELECT pg_is_in_recovery()")
    return bool(rows and rows[0][0])


def caught_up(a_db: Database, b_db: Database) -> Step:
    """Once no transaction that wrote is open on A, B replays up to A's WAL position."""
    said: list[str] = []

    async def writers(ctx: Context) -> Check:
        rows = await ctx.sql(a_db, _WRITERS)
        count = int(rows[0][0]) if rows else -1
        return Check(count == 0, f"{count} transaction(s) that wrote are open on {a_db.name}")

    async def act(ctx: Context) -> str:
        if not await _in_recovery(ctx, b_db):
            said[:] = [f"{b_db.name} is already out of recovery: detached before"]
            return said[0]
        gone = await poll(ctx, writers, WRITERS_GONE)
        if not gone.ok:
            raise ActionError(f"{gone.detail} after {WRITERS_GONE:g} s: A still takes writes")
        rows = await ctx.sql(a_db, "SELECT pg_current_wal_lsn()::text")
        target = str(rows[0][0])

        async def replayed(ctx: Context) -> Check:
            got = await ctx.sql(b_db, "SELECT pg_last_wal_replay_lsn()::text")
            at = str(got[0][0]) if got and got[0][0] is not None else "0/0"
            return Check(
                _lsn(at) >= _lsn(target), f"{b_db.name} replayed to {at}, A is at {target}"
            )

        check = await poll(ctx, replayed, CATCH_UP, every=0.05)
        if not check.ok:
            raise ActionError(f"{check.detail} after {CATCH_UP:g} s")
        said[:] = [check.detail]
        return check.detail

    async def verify(ctx: Context) -> Check:
        return Check(bool(said), said[0] if said else "not checked")

    return Step(
        title=f"Wait until {b_db.name} has replayed everything {a_db.name} wrote",
        where=f"SQL on {a_db.name} and {b_db.name}",
        command=f"{_WRITERS} (until 0); SELECT pg_current_wal_lsn(); "
        "then pg_last_wal_replay_lsn() on the standby, every 50 ms",
        expects=f"{a_db.name} is read-only; {b_db.name} streams from it",
        proves=f"{b_db.name}'s replay position reaches {a_db.name}'s WAL position after its last "
        f"writing transaction ended (within {CATCH_UP:g} s): every committed write is on B",
        act=act,
        verify=verify,
    )


def detach(b_db: Database) -> Step:
    """B's database promoted on its own timeline (nothing sent if it already is)."""
    promote = pgsteps.promote(b_db)
    done: list[bool] = []

    async def act(ctx: Context) -> str:
        done[:] = [not await _in_recovery(ctx, b_db)]
        if done[0]:
            return f"{b_db.name} is already a primary; nothing sent"
        return await promote.act(ctx)

    return Step(
        title=f"Detach {b_db.name} as B's database (promote it on its own timeline)",
        where=promote.where,
        command=promote.command,
        expects=f"{b_db.name} replayed everything A wrote",
        proves=promote.proves,
        act=act,
        verify=promote.verify,
        no_return=True,
    )


def still_read_only(a_db: Database) -> Step:
    """A's primary is still a primary, and read-only: the way back is intact."""

    async def probe(ctx: Context) -> Check:
        if await _in_recovery(ctx, a_db):
            return Check(False, f"{a_db.name} is in recovery, not A's primary")
        rows = await ctx.sql(a_db, "SHOW default_transaction_read_only")
        now = str(rows[0][0]) if rows else "?"
        return Check(now == "on", f"{a_db.name} is a primary, default_transaction_read_only {now}")

    return checks.checked(
        title=f"Check {a_db.name} stays A's read-only primary",
        where=f"SQL on {a_db.name}",
        command="SELECT pg_is_in_recovery(); SHOW default_transaction_read_only",
        expects=f"{a_db.name} was made read-only with the site",
        proves="it is a primary that refuses writes by default: the way back",
        probe=probe,
        settle=site_steps.SETTLE,
    )


def plan_detach(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    a_db, b_db = inv.database(str(args["a_db"])), inv.database(str(args["b_db"]))
    steps: list[Step] = []
    for node in side(inv, args, "a"):
        steps += pin(inv, node, a_db)
    steps += [
        caught_up(a_db, b_db),
        detach(b_db),
        still_read_only(a_db),
        site_steps.db_flag(b_db, on=False, standby=False),
        checks.write_probe(b_db, blocked=False),
    ]
    for node in side(inv, args, "b"):
        steps += pin(inv, node, b_db)
    return Plan(
        "copy A's database",
        b_db.name,
        f"{b_db.name} replays everything {a_db.name} wrote, then is promoted as B's database; "
        f"{a_db.name} stays A's primary, read-only",
        tuple(steps),
        way_back=f"{a_db.name} is untouched: `hotspare upgrade rollback`",
    )


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


def remember_writes(b_db: Database) -> Step:
    """B's write counters now, table by table, remembered in the runbook's notes."""
    seen: list[int] = []

    async def act(ctx: Context) -> str:
        now = await counters(ctx, b_db)
        for table, rows in now.items():
            ctx.remember(BASELINE + table, rows)
        seen[:] = [sum(now.values())]
        return f"{seen[0]} rows written on {b_db.name} so far (migration, tests), {len(now)} tables"

    async def verify(ctx: Context) -> Check:
        return Check(bool(seen), f"remembered: {seen[0]} rows" if seen else "not read")

    return Step(
        title=f"Remember {b_db.name}'s write counters",
        where=f"SQL on {b_db.name}",
        command=_WRITTEN,
        expects=f"{b_db.name} answers",
        proves="the runbook's record holds them: a rollback counts B's writes from here",
        act=act,
        verify=verify,
    )


async def counters(ctx: Context, db: Database) -> dict[str, int]:
    """Rows inserted, updated and deleted in each table of DB, as its statistics count them."""
    rows = await ctx.sql(db, _WRITTEN)
    return {str(table): int(count) for table, count in rows}


def baseline(notes: Mapping[str, Any]) -> list[str]:
    """The counters remembered at the switch, as `table=rows` (a stage's args keep lists)."""
    return [f"{k.removeprefix(BASELINE)}={v}" for k, v in notes.items() if k.startswith(BASELINE)]


async def written_since(ctx: Context, db: Database, at_switch: list[str]) -> dict[str, int]:
    """The rows each table of DB has written since the switch (only tables that did)."""
    before = {t: int(n) for t, _, n in (item.rpartition("=") for item in at_switch)}
    now = await counters(ctx, db)
    return {t: n - before.get(t, 0) for t, n in sorted(now.items()) if n - before.get(t, 0) > 0}


def told(counts: Mapping[str, int]) -> str:
    """'9 in public.notes, 1 in public.sweeps', or 'none'."""
    return ", ".join(f"{n} in {t}" for t, n in counts.items()) or "none"


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


def count_writes(b_db: Database, at_switch: list[str], shown: int) -> Step:
    """B's writes since the switch, counted once none is open; more than SHOWN stops here."""
    said: list[str] = []

    async def act(ctx: Context) -> str:
        async def settled(ctx: Context) -> Check:
            rows = await ctx.sql(b_db, _WRITERS)
            return Check(bool(rows) and int(rows[0][0]) == 0, "writers open on B")

        await poll(ctx, settled, WRITERS_GONE)
        # Counters reach the statistics when a backend commits or ends: two equal reads.
        first = await written_since(ctx, b_db, at_switch)
        while True:
            await asyncio.sleep(1.0)
            again = await written_since(ctx, b_db, at_switch)
            if again == first:
                break
            first = again
        total = sum(first.values())
        if total > shown:
            raise ActionError(
                f"B wrote {total} rows since the switch ({told(first)}), {shown} were shown: "
                "B is read-only now, nothing is lost; `hotspare upgrade rollback` shows the "
                "count to type again"
            )
        said[:] = [f"{total} rows written on {b_db.name} only ({told(first)}); shown: {shown}"]
        return said[0]

    async def verify(ctx: Context) -> Check:
        return Check(bool(said), said[0] if said else "not counted")

    return Step(
        title=f"Count the writes only {b_db.name} has",
        where=f"SQL on {b_db.name}",
        command=f"{_WRITTEN} (minus the counters at the switch)",
        expects="B is read-only: no transaction that writes is open",
        proves=f"no more than the {shown} shown and typed: those are left on B only",
        act=act,
        verify=verify,
    )


def plan_count(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    b_db = inv.database(str(args["b_db"]))
    at_switch = [str(v) for v in args.get("baseline") or []]
    step = count_writes(b_db, at_switch, int(args.get("shown") or 0))
    return Plan("count B's writes", b_db.name, "what B alone has, left on B", (step,))


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
