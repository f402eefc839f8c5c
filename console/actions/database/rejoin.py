"""Rejoin: turn an old primary into a standby of the new one.

It is stopped (if it runs), what it has past the fork of the timelines is
measured and its WAL from there is copied aside (nothing is deleted), a
slot is made for it on the new primary, pg_rewind brings its files onto the
new timeline (its own configuration files are kept: pg_rewind copies the
source's), it is configured as a standby of the new primary, started, and
proved to stream.
"""

from __future__ import annotations

import re
import shlex

import console.actions.database.server as server
from console.actions.context import Context
from console.actions.database.checks import database, members, newest_timeline
from console.actions.database.replication import conf_string, standby_settings
from console.actions.database.steps import TIMELINE
from console.actions.plan import Check, Condition, Plan, Step, failed, refused
from console.actions.site.checks import checked
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.state.model import ClusterState
from console.units import lsn

STREAM_WAIT = 30.0
REWIND_TIMEOUT = 1800.0
SEGMENT = 16 * 1024 * 1024


def keep_dir(db: Database) -> str:
    """Where the old primary's diverged WAL and its own configuration are kept."""
    return f"{db.data_dir.rstrip('/')}.hotspare-kept"


def parse_history(text: str) -> dict[int, str]:
    """A timeline history file: parent timeline -> the WAL position where it forked."""
    forks = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and "/" in parts[1]:
            forks[int(parts[0])] = parts[1]
    return forks


def segment_name(timeline: int, position: int, size: int = SEGMENT) -> str:
    """The WAL file that holds POSITION on TIMELINE."""
    per_id = 0x100000000 // size
    return f"{timeline:08X}{position // size // per_id:08X}{position // size % per_id:08X}"


async def _new_timeline(ctx: Context, new: Database) -> int:
    standby, timeline = (await ctx.sql(new, TIMELINE))[0]
    if standby:
        raise ActionError(f"{new.name} is in recovery: it is not the primary to follow")
    return int(timeline)


def stop_old(old: Database) -> Step:
    async def act(ctx: Context) -> str:
        if not await server.running(ctx, old):
            return f"{old.name} is not running"
        return await server.pg_ctl_run(ctx, old, "stop")

    async def verify(ctx: Context) -> Check:
        runs = await server.running(ctx, old)
        return Check(not runs, f"{old.name} {'still runs' if runs else 'is stopped'}")

    return Step(
        title=f"Make sure {old.name} is stopped",
        where=f"ssh {old.box}",
        command=server.as_owner(old, server.stop_and_wait(old)) + "  (if it runs)",
        expects=f"{old.name} is not the primary the site uses",
        proves="pg_ctl status says no server runs",
        act=act,
        verify=verify,
    )


def keep_diverged(old: Database, new: Database) -> Step:
    """Measure what the old primary has past the fork, and copy its WAL from there aside."""
    kept = keep_dir(old)
    counted: list[int] = []

    async def act(ctx: Context) -> str:
        control = await server.controldata(ctx, old)
        old_tli = int(control.get("Latest checkpoint's TimeLineID", "0"))
        last = control.get("Latest checkpoint location", "0/0")
        size = int(control.get("Bytes per WAL segment", str(SEGMENT)))
        tli = await _new_timeline(ctx, new)
        history = await ctx.run(
            new.box,
            server.as_owner(new, f"cat {shlex.quote(new.data_dir)}/pg_wal/{tli:08X}.history"),
        )
        forks = parse_history(history.stdout)
        if old_tli not in forks:
            # The old one may have forked from the new one's timeline instead: a
            # standby promoted on its own (an A/B rollover's B) going back to follow.
            own = await ctx.run(
                old.box,
                server.as_owner(
                    old, f"cat {shlex.quote(old.data_dir)}/pg_wal/{old_tli:08X}.history"
                ),
            )
            forks = {old_tli: f} if (f := parse_history(own.stdout).get(tli)) else {}
        if old_tli not in forks:
            raise ActionError(
                f"{new.name}'s timeline {tli} and {old.name}'s timeline {old_tli} do not fork "
                "from one another: pg_rewind cannot bring it over; rebuild it with pg_basebackup"
            )
        fork = forks[old_tli]
        first = segment_name(old_tli, lsn(fork), size)
        pattern = f"{old_tli:08X}" + "?" * 16
        command = (
            f"mkdir -p {shlex.quote(kept)}/pg_wal && cd {shlex.quote(old.data_dir)}/pg_wal && "
            "n=0 && "
            f'for f in {pattern}; do [ -f "$f" ] || continue; [ "$f" \\< {first} ] && continue; '
            f'cp -p "$f" {shlex.quote(kept)}/pg_wal/ && n=$((n+1)); done; echo $n'
        )
        result = await ctx.run(old.box, server.as_owner(old, command), 120)
        if result.exit_status != 0:
            raise ActionError(f"{old.box}: copying WAL aside failed: {result.stderr.strip()[:200]}")
        counted[:] = [int(result.stdout.split()[-1])]
        past = lsn(last) - lsn(fork)
        said = (
            f"{old.name}'s last checkpoint {last} is {past} bytes past the fork at {fork} "
            "(transactions there are not on " + new.name + ")"
            if past > 0
            else f"nothing past the fork at {fork} ({old.name}'s last checkpoint {last})"
        )
        return f"{said}; {counted[0]} WAL files from {first} kept in {kept}/pg_wal"

    async def verify(ctx: Context) -> Check:
        result = await ctx.run(old.box, f"ls {shlex.quote(kept)}/pg_wal | wc -l")
        have = int(result.stdout.strip() or 0)
        return Check(have >= counted[0], f"{have} files in {kept}/pg_wal")

    return Step(
        title=f"Keep what only {old.name} has",
        where=f"ssh {new.box} and {old.box}",
        command=f"cat pg_wal/TIMELINE.history on {new.name}; "
        f"cp {old.name}'s WAL from the fork on to {kept}/pg_wal",
        expects=f"one of {new.name}'s and {old.name}'s timelines forked from the other",
        proves="its WAL files from the fork on are copied aside; the bytes past the fork recorded",
        act=act,
        verify=verify,
    )


def make_slot(old: Database, new: Database) -> Step:
    name = old.name
    statement = (
        f"SELECT pg_create_physical_replication_slot('{name}', true) "
        f"WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{name}')"
    )

    async def act(ctx: Context) -> str:
        rows = await ctx.sql(new, statement)
        return "created" if rows else "it was there"

    async def verify(ctx: Context) -> Check:
        rows = await ctx.sql(
            new, f"SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = '{name}'"
        )
        return Check(
            bool(rows), f"slot {name} on {new.name} keeps WAL from {rows[0][0] if rows else '-'}"
        )

    return Step(
        title=f"Make a replication slot for {old.name} on {new.name}",
        where=f"SQL on {new.name}",
        command=statement,
        expects=f"{new.name} is the primary",
        proves=f"pg_replication_slots lists {name}: {new.name} keeps the WAL {old.name} needs",
        act=act,
        verify=verify,
    )


def rewind(inv: Inventory, old: Database, new: Database) -> Step:
    kept = shlex.quote(keep_dir(old))
    data = shlex.quote(old.data_dir)

    async def act(ctx: Context) -> str:
        source = await standby_settings(ctx, inv, old, new, for_rewind=True)
        # A just-promoted primary's control file names its new timeline only
        # after a checkpoint, and pg_rewind reads the timeline from there.
        await ctx.sql(new, "CHECKPOINT", timeout=REWIND_TIMEOUT)
        # A fenced member (standby.signal, stopped uncleanly) needs pg_rewind's own crash
        # recovery, which single-user mode refuses in standby mode: the signal is set
        # aside for that moment only, and back in the same shell line.
        signal = f"{data}/standby.signal"
        command = (
            f"mkdir -p {kept}/conf && cp -p {data}/*.conf {kept}/conf/ && "
            f"had=; if [ -f {signal} ]; then mv {signal} {signal}.hotspare && had=1; fi; "
            f"{server.program(old, 'pg_rewind')} -D {data} --source-server={shlex.quote(source)}; "
            f'rc=$?; [ -n "$had" ] && mv {signal}.hotspare {signal}; '
            f"cp -p {kept}/conf/*.conf {data}/; exit $rc"
        )
        result = await ctx.run(old.box, server.as_owner(old, command), REWIND_TIMEOUT)
        said = (result.stdout + result.stderr).strip()
        if result.exit_status != 0:
            raise ActionError(f"pg_rewind exited {result.exit_status}: {said[-300:]}")
        return said.splitlines()[-1] if said else "done"

    async def verify(ctx: Context) -> Check:
        control = await server.controldata(ctx, old)
        state = control.get("Database cluster state", "?")
        ok = state in ("shut down", "in archive recovery", "shut down in recovery")
        return Check(ok, f"{old.name}'s cluster state is {state!r}")

    return Step(
        title=f"Rewind {old.name} onto {new.name}'s timeline",
        where=f"ssh {old.box}",
        command=f"pg_rewind -D {old.data_dir} "
        f"--source-server='host={server.reachable_host(inv, new)} ...' "
        f"({old.name}'s own *.conf kept in {keep_dir(old)}/conf and put back)",
        expects=f"{old.name} is stopped; wal_log_hints or data checksums on; "
        f"{new.name} is checkpointed first (pg_rewind reads its timeline from pg_control)",
        proves="pg_rewind finishes ('Done!' or 'no rewind required') and the cluster is shut down",
        act=act,
        verify=verify,
    )


def configure(inv: Inventory, old: Database, new: Database) -> Step:
    auto = f"{old.data_dir}/postgresql.auto.conf"
    wanted: list[str] = []

    async def act(ctx: Context) -> str:
        conninfo = await standby_settings(ctx, inv, old, new, for_rewind=False)
        text = (await ctx.run(old.box, server.as_owner(old, f"cat {shlex.quote(auto)}"))).stdout
        kept = [
            line
            for line in text.splitlines()
            if not re.match(r"\s*(primary_conninfo|primary_slot_name)\s*=", line)
        ]
        wanted[:] = [
            f"primary_conninfo = {conf_string(conninfo)}",
            f"primary_slot_name = {conf_string(old.name)}",
        ]
        body = "\n".join([*kept, *wanted]) + "\n"
        quoted = shlex.quote(auto)
        command = (
            f"printf '%s' {shlex.quote(body)} > {quoted}.hotspare-new && mv {quoted}.hotspare-new "
            f"{quoted} && touch {shlex.quote(old.data_dir)}/standby.signal"
        )
        result = await ctx.run(old.box, server.as_owner(old, command))
        if result.exit_status != 0:
            raise ActionError(f"{old.box}: cannot write {auto}: {result.stderr.strip()[:200]}")
        return f"primary_conninfo host={server.reachable_host(inv, new)}, slot {old.name}"

    async def verify(ctx: Context) -> Check:
        text = (await ctx.run(old.box, server.as_owner(old, f"cat {shlex.quote(auto)}"))).stdout
        signal = await ctx.run(old.box, f"test -f {shlex.quote(old.data_dir)}/standby.signal")
        ok = all(line in text.splitlines() for line in wanted) and signal.exit_status == 0
        return Check(
            ok,
            "standby.signal and the settings are in place"
            if ok
            else f"{auto} or standby.signal is not as written",
        )

    return Step(
        title=f"Configure {old.name} as a standby of {new.name}",
        where=f"ssh {old.box}",
        command=f"{auto}: primary_conninfo (host {server.reachable_host(inv, new)}, "
        f"application_name {old.name}), primary_slot_name '{old.name}'; touch standby.signal",
        expects=f"{old.name} is stopped",
        proves="the file reads back with those settings and standby.signal exists",
        act=act,
        verify=verify,
    )


def start_standby(old: Database) -> Step:
    async def act(ctx: Context) -> str:
        return await server.pg_ctl_run(ctx, old, "start")

    async def verify(ctx: Context) -> Check:
        standby = await server.in_recovery(ctx, old)
        return Check(
            standby, f"{old.name} is {'in recovery (a standby)' if standby else 'NOT in recovery'}"
        )

    return Step(
        title=f"Start {old.name} as a standby",
        where=f"ssh {old.box}",
        command=server.as_owner(old, server.pg_ctl(old, "start")),
        expects="standby.signal is in place",
        proves="pg_is_in_recovery() is true",
        act=act,
        verify=verify,
    )


def streams(old: Database, new: Database) -> Step:
    async def probe(ctx: Context) -> Check:
        rows = await ctx.sql(
            new, f"SELECT state FROM pg_stat_replication WHERE application_name = '{old.name}'"
        )
        state = str(rows[0][0]) if rows else "not connected"
        return Check(state == "streaming", f"{new.name} lists {old.name} as {state}")

    return checked(
        title=f"Check {old.name} streams from {new.name}",
        where=f"SQL on {new.name}",
        command=f"SELECT state FROM pg_stat_replication WHERE application_name = '{old.name}'",
        expects=f"{old.name} runs as a standby",
        proves=f"the state is streaming within {STREAM_WAIT:g} s",
        probe=probe,
        settle=STREAM_WAIT,
        every=0.25,
    )


def drop_stale_slots(inv: Inventory, old: Database) -> Step:
    names = [db.name for db in inv.databases if db.name != old.name]
    listed = ", ".join(f"'{n}'" for n in names) or "''"
    where = f"NOT active AND slot_name IN ({listed})"
    statement = (
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE {where}"
    )

    async def act(ctx: Context) -> str:
        rows = await ctx.sql(old, statement)
        return f"{len(rows)} dropped"

    async def verify(ctx: Context) -> Check:
        rows = await ctx.sql(old, f"SELECT slot_name FROM pg_replication_slots WHERE {where}")
        left = ", ".join(str(r[0]) for r in rows)
        return Check(not rows, f"left: {left}" if rows else "no slot of its primary days is left")

    return Step(
        title=f"Drop {old.name}'s slots from its primary days",
        where=f"SQL on {old.name}",
        command=statement,
        expects=f"{old.name} is a standby",
        proves="no inactive slot named after a member is left (it would keep WAL forever)",
        act=act,
        verify=verify,
    )


def rejoin_steps(inv: Inventory, old: Database, new: Database, failed_over: bool) -> list[Step]:
    """The steps that make OLD a streaming standby of NEW."""
    return [
        stop_old(old),
        *([keep_diverged(old, new)] if failed_over else []),
        make_slot(old, new),
        rewind(inv, old, new),
        configure(inv, old, new),
        start_standby(old),
        streams(old, new),
        drop_stale_slots(inv, old),
    ]


def plan_rejoin(inv: Inventory, state: ClusterState, name: str) -> Plan:
    """The plan to make NAME (an old primary, or a standby that lost its way) follow the primary."""
    old = database(inv, name)
    found = members(inv, state)
    newest = newest_timeline(list(found.primaries))
    leaders = [d for d in found.primaries if d.name != name and d.timeline == newest]
    me = found.seen.get(name)
    streaming = me is not None and me.role == "standby" and me.receiver_status == "streaming"
    if me is None:
        said = f"{name} does not answer (it is rejoined stopped, as it is)"
    else:
        said = f"{name} is a {me.role} on timeline {me.timeline}"
    conds = (
        Condition(
            "one primary to follow",
            len(leaders) == 1,
            f"{leaders[0].name} on timeline {newest}" if len(leaders) == 1 else "none answers",
        ),
        Condition(
            f"{name} is not the primary the site uses",
            me is None
            or me.role == "standby"
            or (newest is not None and (me.timeline or 0) < newest),
            said,
        ),
        Condition(f"{name} is not streaming already", not streaming, said),
    )
    if streaming and len(leaders) == 1 and me is not None and me.timeline == newest:
        summary = f"{name} already streams from {leaders[0].name}: nothing to do"
        return Plan("rejoin", name, summary, (), (), None, "", conds[:1])
    refusals = failed(conds)
    if refusals:
        return refused("rejoin", name, conds, refusals)
    new = inv.database(leaders[0].name)
    summary = (
        f"{name} becomes a standby of {new.name}: pg_rewind, with its WAL past the fork "
        f"and its own settings kept in {keep_dir(old)}"
    )
    plan_steps = tuple(rejoin_steps(inv, old, new, failed_over=True))
    return Plan("rejoin", name, summary, plan_steps, (), name, "", conds)
