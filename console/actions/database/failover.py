"""Failover: the primary is gone; promote a standby, fencing the old primary first.

Only when the primary answers neither the console nor the standby (its
WAL receiver has lost the connection). The old primary is fenced before
anything is promoted: stopped over SSH if its box answers, with a
standby.signal left in its data directory so that a restart brings it back
read-only, never as a second primary. If its box does not answer, the
operator must type that it is off. What the standby had received is
recorded: commits after that are not on it.
"""

from __future__ import annotations

import shlex
import time

import console.actions.database.checks as promote_checks
import console.actions.database.server as server
import console.actions.database.steps as pgsteps
from console.actions.context import Context
from console.actions.database.page import hot_nodes
from console.actions.plan import Check, Condition, Plan, Step, failed, refused
from console.actions.site import checks
from console.inventory import Database, Inventory
from console.state.model import ClusterState, DatabaseState


def conditions(
    inv: Inventory, state: ClusterState, cfg: Database
) -> tuple[list[Condition], list[Database]]:
    """The preconditions of failing over to CFG, and the members that may be the old primary."""
    found = promote_checks.members(inv, state)
    me = found.seen.get(cfg.name)
    others = [db for db in inv.databases if db.name != cfg.name]
    gone = [db for db in others if db.name in found.unseen]
    primaries = ", ".join(d.name for d in found.primaries)
    conds = [
        Condition(
            "no primary answers the console",
            not found.primaries,
            f"{primaries} answers as primary: use `hotspare promote {cfg.name}` (switchover)"
            if found.primaries
            else f"not answering: {', '.join(d.name for d in gone) or 'none'}",
        ),
        Condition(
            f"{cfg.name} is a standby that answers",
            me is not None and me.role == "standby",
            "it does not answer" if me is None else f"it is a {me.role}",
        ),
    ]
    if me is not None and me.role == "standby":
        conds += [
            Condition(
                f"{cfg.name} has lost its primary too",
                me.receiver_status != "streaming",
                f"its WAL receiver is {me.receiver_status or 'not running'}"
                + (
                    ": the primary is alive and only the console cannot reach it"
                    if me.receiver_status == "streaming"
                    else ""
                ),
            ),
            Condition(
                "replay is not paused",
                me.replay_paused is False,
                "paused: pg_wal_replay_resume() on it first" if me.replay_paused else "replaying",
            ),
        ]
    return conds, gone


def fence(db: Database) -> Step:
    """Stop DB if it runs and leave standby.signal, so a restart cannot make it a primary."""
    signal_file = f"{db.data_dir}/standby.signal"
    stop = (
        f"{server.program(db, 'pg_ctl')} -D {shlex.quote(db.data_dir)} stop -m immediate -w -t 30"
    )

    async def act(ctx: Context) -> str:
        said = "it was not running"
        if await server.running(ctx, db):
            await ctx.forget(db)
            result = await ctx.run(db.box, server.as_owner(db, stop), 45)
            said = f"stopped (exit {result.exit_status})"
        touch = await ctx.run(db.box, server.as_owner(db, f"touch {shlex.quote(signal_file)}"))
        if touch.exit_status != 0:
            said += f"; standby.signal NOT written: {touch.stderr.strip()[:200]}"
        return said

    async def verify(ctx: Context) -> Check:
        runs = await server.running(ctx, db)
        marked = (await ctx.run(db.box, f"test -f {shlex.quote(signal_file)}")).exit_status == 0
        said = f"{db.name} {'STILL RUNS' if runs else 'is stopped'}, standby.signal "
        return Check(not runs and marked, said + ("in place" if marked else "MISSING"))

    return Step(
        title=f"Fence {db.name}: stop it and keep it from coming back as a primary",
        where=f"ssh {db.box}",
        command=f"{stop} (if it runs); touch {signal_file}",
        expects=f"{db.box} answers over SSH",
        proves="pg_ctl status says no server runs, and standby.signal is in its data directory",
        act=act,
        verify=verify,
    )


def estimate(cfg: Database, gone: list[Database]) -> Step:
    """What the standby has: the edge of what survives the failover, for the audit log."""
    statement = (
        "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
        "pg_last_xact_replay_timestamp()::text, "
        "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
    )
    old = ", ".join(d.name for d in gone) or "the old primary"

    async def act(ctx: Context) -> str:
        received, replayed, last, age = (await ctx.sql(cfg, statement))[0]
        ago = f" ({age:.0f} s ago)" if age is not None else ""
        return (
            f"{cfg.name} received WAL up to {received}, replayed to {replayed}; its last "
            f"replayed commit was at {last or 'unknown'}{ago}. Commits {old} made after "
            f"what it sent are not on {cfg.name}; `hotspare rejoin` measures them and keeps "
            "its WAL aside"
        )

    async def verify(ctx: Context) -> Check:
        rows = await ctx.sql(cfg, "SELECT pg_is_in_recovery()")
        return Check(bool(rows and rows[0][0]), f"{cfg.name} is still a standby; estimate recorded")

    return Step(
        title="Record what may be lost",
        where=f"SQL on {cfg.name}",
        command=statement,
        expects=f"{cfg.name} is a standby",
        proves="the received and replayed positions and the last commit's time are in the audit",
        act=act,
        verify=verify,
    )


def plan_failover(inv: Inventory, state: ClusterState, standby: str) -> Plan:
    """The plan to promote CANDIDATE because the primary is gone."""
    candidate = standby
    cfg = promote_checks.database(inv, candidate)
    if cfg.manager == "patroni":
        import console.actions.database.patroni as patroni

        return patroni.plan_failover(inv, state, candidate)
    found = promote_checks.members(inv, state)
    if [p.name for p in found.primaries] == [candidate]:
        after = ", ".join(found.unseen)
        summary = f"{candidate} is already the primary: nothing to do" + (
            f" (run `hotspare rejoin {after}` once it answers)" if after else ""
        )
        return Plan("failover", candidate, summary, ())
    conds, gone = conditions(inv, state, cfg)
    refusals = failed(conds)
    if refusals:
        return refused("failover", candidate, conds, refusals)
    reachable = [db for db in gone if state.answers(db.box)]
    cut_off = [db for db in gone if db not in reachable]
    hot = hot_nodes(inv, state, healthy=False)  # they fail their health checks now
    plan_steps = [
        *(fence(db) for db in reachable),
        estimate(cfg, gone),
        pgsteps.promote(cfg),
        pgsteps.accepts_writes(cfg),
        *([checks.check_nodes(hot)] if hot else []),
    ]
    if (
        inv.balancer is not None
        and inv.balancer.site_url
        and state.verdicts.site_mode in (None, "normal")
    ):
        # The nodes' health checks failed while there was no primary: HAProxy
        # takes them back after `rise` good checks, seconds after the promotion.
        plan_steps.append(checks.check_site(inv.balancer, "normal", settle=checks.BACK_IN))
    me = promote_checks.seen(state, candidate)
    summary = f"{candidate} becomes the primary. {_kept(me, state.taken_at)}"
    confirm = candidate
    if cut_off:
        names = ", ".join(db.name for db in cut_off)
        summary += (
            f". {names} does not answer over SSH, so hotspare CANNOT stop it: if it still runs "
            "and the site can reach it, there will be TWO primaries and writes will go to both "
            "(split brain). Go ahead only if it is powered off or cut off from the site"
        )
        confirm = f"{names} is off, promote {candidate}"
    return Plan(
        "failover",
        candidate,
        summary,
        tuple(plan_steps),
        (),
        confirm,
        f"hotspare rejoin {', '.join(d.name for d in gone)} once its box answers",
        tuple(conds),
    )


def _kept(me: DatabaseState | None, now: float) -> str:
    """What the standby has, in words: the edge of what a failover keeps."""
    if me is None:
        return ""
    said = f"It has WAL up to {me.receive_lsn or '?'}"
    if me.last_replayed_commit is not None:
        stamp = time.strftime("%H:%M:%S UTC", time.gmtime(me.last_replayed_commit))
        said += f"; its newest commit is from {stamp} ({now - me.last_replayed_commit:.0f} s ago)"
    return said + ": what the old primary committed after that is lost from the new history"
