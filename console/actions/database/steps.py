"""The steps that hand the primary over: checkpoint, stop, catch-up check, promote, writes.

A ``Handover`` carries what one run learns between its steps (the old
primary's shutdown checkpoint, when writes stopped and came back), so the
outcome can say how long writes were stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import console.actions.database.server as server
from console.actions.context import Context
from console.actions.plan import Check, Step, poll
from console.actions.site.checks import checked
from console.errors import ActionError
from console.inventory import Database
from console.units import lsn

CATCH_UP = 5.0  # the old primary's walsender sends everything before its shutdown ends
PROMOTE_WAIT = 30
WRITE_CHECK = "BEGIN READ WRITE; SELECT pg_current_xact_id(); COMMIT"
# A promoted primary's pg_control keeps the old timeline until its next
# checkpoint; the name of the WAL file it writes has the new one at once.
TIMELINE = """SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() THEN
  ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"""


@dataclass
class Handover:
    """What one run has learnt so far (scratch for its steps; not shared between runs)."""

    shutdown_lsn: str | None = None
    stop_began: float | None = None
    writable_at: float | None = None

    def writes_stopped(self) -> float | None:
        if self.stop_began is None or self.writable_at is None:
            return None
        return self.writable_at - self.stop_began


def checkpoint(db: Database) -> Step:
    """CHECKPOINT while writes still flow, so the shutdown checkpoint has little to write."""
    before: list[int] = []

    async def act(ctx: Context) -> str:
        rows = await ctx.sql(db, "SELECT pg_current_wal_lsn()::text")
        before[:] = [lsn(str(rows[0][0]))]
        started = time.monotonic()
        await ctx.sql(db, "CHECKPOINT")
        return f"checkpoint in {time.monotonic() - started:.2f} s"

    async def verify(ctx: Context) -> Check:
        rows = await ctx.sql(db, "SELECT redo_lsn::text FROM pg_control_checkpoint()")
        redo = str(rows[0][0])
        ok = lsn(redo) >= before[0]
        return Check(ok, f"{db.name}'s last checkpoint starts at {redo}")

    return Step(
        title=f"Checkpoint {db.name}",
        where=f"SQL on {db.name}",
        command="CHECKPOINT",
        expects=f"{db.name} is the primary",
        proves="pg_control_checkpoint() starts at or after the WAL position taken before",
        act=act,
        verify=verify,
    )


def start_primary_again(db: Database) -> Step:
    """The undo of stopping the old primary: start it as it was, and prove it takes writes."""

    async def act(ctx: Context) -> str:
        if await server.running(ctx, db):
            return f"{db.name} runs"
        return await server.pg_ctl_run(ctx, db, "start")

    return Step(
        title=f"Start {db.name} again as the primary it was",
        where=f"ssh {db.box}",
        command=server.pg_ctl(db, "start"),
        expects=f"{db.name} was stopped by this run and nothing was promoted",
        proves=f"{db.name} is out of recovery and commits a write",
        act=act,
        verify=lambda ctx: _accepts_writes(ctx, db),
    )


def stop(db: Database, handover: Handover, standby: Database) -> Step:
    """Fast-stop the old primary; its controldata gives the shutdown checkpoint."""

    async def still_streaming(ctx: Context) -> Check:
        rows = await ctx.sql(standby, "SELECT status FROM pg_stat_wal_receiver")
        status = str(rows[0][0]) if rows else "not running"
        return Check(status == "streaming", f"{standby.name}'s WAL receiver is {status}")

    async def act(ctx: Context) -> str:
        handover.stop_began = time.monotonic()
        return await server.pg_ctl_run(ctx, db, "stop")

    async def verify(ctx: Context) -> Check:
        control = await server.controldata(ctx, db)
        state = control.get("Database cluster state", "?")
        handover.shutdown_lsn = control.get("Latest checkpoint location")
        if state != "shut down":
            return Check(False, f"{db.name}'s cluster state is {state!r}, not 'shut down'")
        return Check(True, f"shut down cleanly; shutdown checkpoint at {handover.shutdown_lsn}")

    return Step(
        title=f"Stop {db.name} (fast shutdown)",
        where=f"ssh {db.box}",
        command=server.as_owner(db, server.stop_and_wait(db)),
        expects=f"{standby.name} still streams (checked just before)",
        proves="pg_controldata reads 'shut down' and gives the shutdown checkpoint",
        act=act,
        verify=verify,
        pre=still_streaming,
        undo=start_primary_again(db),
    )


def caught_up(old: Database, standby: Database, handover: Handover) -> Step:
    """The standby has received and replayed WAL past the old primary's shutdown checkpoint."""
    statement = (
        "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
        "pg_is_in_recovery()"
    )

    async def probe(ctx: Context) -> Check:
        received, replayed, recovering = (await ctx.sql(standby, statement))[0]
        if not recovering:
            return Check(False, f"{standby.name} is out of recovery: nothing may be promoted")
        if replayed is None or handover.shutdown_lsn is None:
            return Check(False, f"{standby.name} has replayed nothing from a primary")
        edge = lsn(handover.shutdown_lsn)
        ok = lsn(str(replayed)) > edge
        return Check(
            ok,
            f"{standby.name} received up to {received} and replayed up to {replayed}, "
            f"{'past' if ok else 'NOT past'} {old.name}'s shutdown checkpoint at "
            f"{handover.shutdown_lsn}",
        )

    return checked(
        title=f"Check {standby.name} has every committed transaction",
        where=f"SQL on {standby.name}",
        command=statement + "  -- compared with the shutdown checkpoint",
        expects=f"{old.name} is shut down cleanly",
        proves=f"{standby.name} replayed WAL past {old.name}'s shutdown checkpoint "
        f"(within {CATCH_UP:g} s); if not, {old.name} is started again as it was",
        probe=probe,
        settle=CATCH_UP,
        every=0.05,
    )


def promote(db: Database) -> Step:
    """pg_promote, then watch recovery end: the point of no return.

    pg_promote's own wait looks every 100 ms; asking every 10 ms takes that
    off the time writes are stopped.
    """
    statement = "SELECT pg_promote(wait => false)"

    async def out_of_recovery(ctx: Context) -> Check:
        rows = await ctx.sql(db, TIMELINE)
        standby, timeline = bool(rows[0][0]), rows[0][1]
        if standby:
            return Check(False, f"{db.name} is still in recovery after {PROMOTE_WAIT} s")
        return Check(True, f"{db.name} is the primary, on timeline {timeline}")

    async def act(ctx: Context) -> str:
        rows = await ctx.sql(db, statement)
        if not rows or rows[0][0] is not True:
            raise ActionError(f"{db.name}: pg_promote refused to signal the promotion")
        return "promotion signalled"

    async def verify(ctx: Context) -> Check:
        return await poll(ctx, out_of_recovery, PROMOTE_WAIT, every=0.01)

    return Step(
        title=f"Promote {db.name}",
        where=f"SQL on {db.name}",
        command=statement,
        expects=f"{db.name} is a standby with everything received",
        proves=f"pg_is_in_recovery() is false within {PROMOTE_WAIT} s (asked every 10 ms)",
        act=act,
        verify=verify,
        no_return=True,
    )


async def _accepts_writes(ctx: Context, db: Database) -> Check:
    try:
        await ctx.sql(db, WRITE_CHECK)
    except ActionError as exc:
        return Check(False, f"{db.name} did not commit a write: {exc}")
    return Check(True, f"{db.name} committed a write")


def accepts_writes(db: Database, handover: Handover | None = None) -> Step:
    """A read-write transaction that takes a transaction id commits on DB."""

    async def act(ctx: Context) -> str:
        check = await _accepts_writes(ctx, db)
        if not check.ok:
            raise ActionError(check.detail)
        if handover is not None:
            handover.writable_at = time.monotonic()
        stopped = handover.writes_stopped() if handover is not None else None
        return check.detail + (
            f", {stopped:.2f} s after the old primary began to stop" if stopped else ""
        )

    async def verify(ctx: Context) -> Check:
        rows = await ctx.sql(db, "SELECT pg_is_in_recovery()")
        primary = not (rows and rows[0][0])
        stopped = handover.writes_stopped() if handover is not None else None
        said = f"; writes were stopped for {stopped:.2f} s" if stopped is not None else ""
        return Check(primary, f"{db.name} committed a write and is the primary{said}")

    return Step(
        title=f"Check {db.name} takes writes",
        where=f"SQL on {db.name}",
        command=WRITE_CHECK,
        expects=f"{db.name} is out of recovery",
        proves="a transaction with a transaction id commits",
        act=act,
        verify=verify,
    )
