"""The A/B rollover's stages on the database side: B's copy detached, B's writes counted.

- detach: A's nodes pinned to A's primary; once no transaction that wrote
  is still open there, B's database (A's standby) replays up to A's WAL
  position and is promoted on its own timeline, then takes writes; B's
  nodes are pinned to it. A's primary stays read-only: the way back.
- count (rollback): once B is read-only, the rows B alone has written since
  the switch are counted against the counters remembered at the switch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from console.actions.context import Context
from console.actions.database import steps as pgsteps
from console.actions.plan import Check, Plan, Step, poll
from console.actions.site import checks
from console.actions.site import steps as site_steps
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.runbook.sides import BASELINE, WRITTEN, counters, pin, side, told, written_since
from console.state.model import ClusterState
from console.units import lsn

CATCH_UP = 60.0  # s for B's database to replay what A's wrote
WRITERS_GONE = 30.0  # s for transactions that wrote on A to end once it is read-only
_WRITERS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)


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
            return Check(lsn(at) >= lsn(target), f"{b_db.name} replayed to {at}, A is at {target}")

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
        command=WRITTEN,
        expects=f"{b_db.name} answers",
        proves="the runbook's record holds them: a rollback counts B's writes from here",
        act=act,
        verify=verify,
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
        command=f"{WRITTEN} (minus the counters at the switch)",
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
