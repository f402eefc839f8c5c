"""The two sides of an A/B rollover: which nodes, the pins, and B's write counters.

Side A is live; side B is a second set of web nodes in its own HAProxy
backend. The stages are planned in console/runbook/ab_database.py (detach,
count) and console/runbook/ab_site.py (test, switch, warm, settle, back);
this module holds what both read.

The pins are the role file's `database` key (console/node_role.py): while
two primaries exist, no node may pick one by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.actions.balancer import nodes
from console.actions.context import Context
from console.actions.plan import Step
from console.actions.roles.rolefile import Flags, site_took, write_role
from console.errors import ActionError
from console.inventory import Balancer, Database, Inventory, WebNode

BASELINE = "b_writes_at_switch:"
WRITTEN = (
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


async def counters(ctx: Context, db: Database) -> dict[str, int]:
    """Rows inserted, updated and deleted in each table of DB, as its statistics count them."""
    rows = await ctx.sql(db, WRITTEN)
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
