"""Moving the scheduler: the one node that runs scheduled jobs and sends real mail.

Never two at any moment. The old scheduler is turned off first (scheduler=no,
mail=log) and proven off: its site's GET /role says so and, where the site
records its runs in the database (the demo site's `sweep_runs` table), the
watch lasts until the sweep's next run was due and none came from it. That
wait also keeps the runs an interval apart across the move. Just before the new node is
turned on, every node's /role is read again: none may be scheduling. Then
exactly one must be: the new one. A warm node may be made scheduler only with
its name typed, and its mail stays in its log.

Before the first change, every /role is read too: the schedulers must still
be the ones the plan saw, or nothing is done. A move to the node that is
already the only scheduler does nothing but check that it still is.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from console.actions.balancer import nodes
from console.actions.context import Context
from console.actions.plan import Check, Plan, Probe, Step
from console.actions.roles.rolefile import (
    CURL,
    ROLE_TIMEOUT,
    Flags,
    live_node,
    polled,
    run_hook,
    site_role,
    site_took,
    write_role,
)
from console.errors import ActionError
from console.inventory import Database, Inventory, WebNode
from console.state.model import ClusterState

RECORDS = "sweep_runs"  # where the demo site records each scheduled run: (id, node, ran_at)
GRACE = 0.15  # seconds past a run's due time before its absence counts
HISTORY = 200  # recent runs read to learn the sweep's interval
MAX_WATCH = 120.0  # the longest interval watched for; longer ones rely on /role alone


@dataclass
class _Watch:
    """What the watch of an old scheduler's runs found, for the checks after it."""

    node: str
    db: Database | None = None
    since: float = 0.0
    waited: bool = False


def plan_move_scheduler(inv: Inventory, state: ClusterState, node: str) -> Plan:
    """The plan to make node NAME the scheduler."""
    name = node
    new = nodes.web_node(inv, name)
    roles = _roles(inv, state)
    refusals, olds = _who(inv, state, name)
    if refusals == () and not olds and _scheduling(inv, state) == [name]:
        return _already(inv, new)
    warm = roles[name] == "warm"
    mail = "log" if warm else "real"
    steps: list[Step] = []
    watches = [_Watch(old.name) for old in olds]
    for old, watch in zip(olds, watches, strict=True):
        steps += _turn_off(inv, old, roles[old.name], watch)
    change: Flags = {"scheduler": True, "mail": mail}
    free = f"no other node runs scheduled jobs (every /role read again); {name} is {roles[name]}"
    steps.append(write_role(new, change, _none_scheduling(inv, new, roles[name]), free))
    steps += run_hook(inv, new, "after_role_change", roles[name])
    steps += run_hook(inv, new, "after_scheduler_move", roles[name])
    steps.append(site_took(new, {**change, "effective_mail": mail}))
    steps.append(_exactly_one(inv, new, watches))
    if olds:  # judged on every /role just before the first change, not on the snapshot
        steps[0] = nodes.also_pre(steps[0], _as_planned(inv, olds))
    off = " and ".join(o.name for o in olds) or "no node"
    summary = f"{off} stops running scheduled jobs and real mail, then {name} starts"
    if warm:
        summary += " (warm: its mail stays in its log)"
    way_back = ""
    if olds:
        back = olds[0].name
        way_back = f"hotspare scheduler move {back}"
        way_back += f" --confirm {back}" if roles[back] == "warm" else ""
    return Plan(
        "scheduler move",
        name,
        summary,
        tuple(steps),
        refusals,
        name if warm else None,
        way_back,
    )


def _roles(inv: Inventory, state: ClusterState) -> dict[str, str]:
    """Each node's role: as its role file says now, else as cluster.yaml has it."""
    roles: dict[str, str] = {}
    for node in inv.web_nodes:
        live = live_node(state, node.name)
        roles[node.name] = live.role if live is not None and live.role else node.role
    return roles


def _who(inv: Inventory, state: ClusterState, name: str) -> tuple[tuple[str, ...], list[WebNode]]:
    """Refusals, and the nodes that run scheduled jobs now (NAME left out)."""
    unknown = [w.name for w in inv.web_nodes if live_node(state, w.name) is None]
    if unknown:
        return (
            f"not known now whether {', '.join(unknown)} run(s) scheduled jobs (box not "
            "answering or role file unreadable), so a move could make two schedulers. Bring "
            "it back; if it is down for good, take it out of cluster.yaml and plan again",
        ), []
    current = [w for w in inv.web_nodes if w.name in _scheduling(inv, state)]
    return (), [w for w in current if w.name != name]


def _scheduling(inv: Inventory, state: ClusterState) -> list[str]:
    """The nodes whose role file said scheduler=yes at the snapshot."""
    return [w.name for w in inv.web_nodes if (n := live_node(state, w.name)) and n.scheduler]


def _already(inv: Inventory, new: WebNode) -> Plan:
    """NEW is the only scheduler already: one check that it still is, nothing changed."""
    return Plan(
        "scheduler move",
        new.name,
        f"{new.name} is already the scheduler: nothing to move; one check that it still is the "
        "only one",
        (_exactly_one(inv, new, [], wait=False),),
    )


def _as_planned(inv: Inventory, olds: list[WebNode]) -> Probe:
    planned = [old.name for old in olds]

    async def pre(ctx: Context) -> Check:
        found = await all_roles(ctx, inv)
        if silent := _silent(found):
            return Check(False, "cannot read every node's /role: " + "; ".join(silent))
        busy = [name for name, f in found.items() if isinstance(f, dict) and f.get("scheduler")]
        if sorted(busy) != sorted(planned):
            return Check(
                False,
                f"the scheduler now: {', '.join(busy) or 'none'}, not {', '.join(planned)} as "
                "when planned: plan again",
            )
        return Check(True, f"{' and '.join(planned)} runs scheduled jobs, as when planned")

    return pre


def _turn_off(inv: Inventory, old: WebNode, role: str, watch: _Watch) -> list[Step]:
    change: Flags = {"scheduler": False, "mail": "log"}
    return [
        write_role(old, change),
        *run_hook(inv, old, "after_role_change", role),
        site_took(old, {"scheduler": False, "effective_mail": "log"}),
        _no_new_run(inv, old, watch),
    ]


async def all_roles(ctx: Context, inv: Inventory) -> dict[str, Flags | str]:
    """Every node's /role, read at once; a node that cannot answer gives the reason instead."""
    answers = await asyncio.gather(
        *(site_role(ctx, n) for n in inv.web_nodes), return_exceptions=True
    )
    found: dict[str, Flags | str] = {}
    for node, answer in zip(inv.web_nodes, answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, Exception):
                raise answer
            found[node.name] = getattr(answer, "reason", None) or str(answer)
        else:
            found[node.name] = answer
    return found


def _silent(found: dict[str, Flags | str]) -> list[str]:
    return [f"{name}: {why}" for name, why in found.items() if isinstance(why, str)]


def _none_scheduling(inv: Inventory, new: WebNode, role: str) -> Probe:
    async def pre(ctx: Context) -> Check:
        found = await all_roles(ctx, inv)
        if silent := _silent(found):
            return Check(False, "cannot read every node's /role: " + "; ".join(silent))
        busy = [
            name
            for name, f in found.items()
            if isinstance(f, dict) and f.get("scheduler") and name != new.name
        ]
        if busy:
            return Check(False, f"{' and '.join(busy)} run(s) scheduled jobs now: not two")
        now = found[new.name]
        if isinstance(now, dict) and now.get("role") != role:
            return Check(False, f"{new.name} is {now.get('role')} now, not {role}: plan again")
        return Check(True, f"no other node runs scheduled jobs; {new.name} is {role}")

    return pre


def _exactly_one(inv: Inventory, new: WebNode, watches: list[_Watch], wait: bool = True) -> Step:
    async def probe(ctx: Context) -> Check:
        found = await all_roles(ctx, inv)
        if silent := _silent(found):
            return Check(False, "cannot read every node's /role: " + "; ".join(silent))
        flags = {name: f for name, f in found.items() if isinstance(f, dict)}
        busy = [name for name, f in flags.items() if f.get("scheduler")]
        loud = [
            n
            for n, f in flags.items()
            if f.get("role") == "warm" and f.get("effective_mail") != "log"
        ]
        if loud:
            return Check(False, f"warm {' and '.join(loud)} would send real mail")
        if busy != [new.name]:
            return Check(False, f"schedulers now: {', '.join(busy) or 'none'}; wanted {new.name}")
        return Check(True, f"{new.name} is the only scheduler of {len(flags)} nodes")

    async def verify(ctx: Context) -> Check:
        check = await probe(ctx)
        for watch in watches if check.ok else []:
            if watch.db is not None:
                count = await _count(ctx, watch.db, f"node = {_literal(watch.node)}", watch.since)
                if count:
                    return Check(False, f"{watch.node} recorded {count} run(s) after it stopped")
                check = Check(True, f"{check.detail}; no run from {watch.node} since it stopped")
        return check

    return Step(
        title="Check that exactly one node is the scheduler",
        where="ssh to every web node",
        command=f"{CURL} <its /role> on " + ", ".join(n.name for n in inv.web_nodes),
        expects=f"{new.name}'s site took scheduler=yes",
        proves=f"only {new.name} says scheduler=true; no warm node sends real mail"
        + ("; the old scheduler has recorded no run since it stopped" if watches else ""),
        act=polled(probe, ROLE_TIMEOUT) if wait else _once(probe),
        verify=verify,
    )


def _once(probe: Probe) -> Callable[[Context], Awaitable[str]]:
    async def act(ctx: Context) -> str:
        check = await probe(ctx)
        if not check.ok:
            raise ActionError(check.detail)
        return check.detail

    return act


def _no_new_run(inv: Inventory, old: WebNode, watch: _Watch) -> Step:
    mine = f"node = {_literal(old.name)}"

    async def act(ctx: Context) -> str:
        watch.db = await _records_db(ctx, inv)
        if watch.db is None:
            return f"no {RECORDS} table on the primary: {old.name}'s /role is the proof"
        watch.since = await _db_now(ctx, watch.db)
        runs = await ctx.sql(
            watch.db,
            f"SELECT node, extract(epoch FROM ran_at)::float8 FROM {RECORDS}"
            f" ORDER BY id DESC LIMIT {HISTORY}",
        )
        interval = _interval(runs)
        if interval is None:
            return "too few runs recorded to know when the next one is due"
        # The next run was due one interval after the last one, whichever node ran it:
        # a new scheduler started before then could run the job twice in one interval.
        due = float(runs[0][1]) + min(interval, MAX_WATCH) + GRACE
        while (now := await _db_now(ctx, watch.db)) < due:
            if await _count(ctx, watch.db, mine, watch.since):
                break
            await asyncio.sleep(min(0.5, due - now))
        watch.waited = due > watch.since
        return f"watched until the next run was due (the sweep runs every {interval:.1f} s)"

    async def verify(ctx: Context) -> Check:
        if watch.db is None:
            return Check(True, f"{old.name}'s /role says it stopped (no run records to watch)")
        count = await _count(ctx, watch.db, mine, watch.since)
        if count:
            return Check(
                False, f"{old.name} recorded {count} run(s) after its /role said it stopped"
            )
        due = ", not even when the next was due" if watch.waited else ""
        return Check(True, f"no run from {old.name} since its /role said it stopped{due}")

    return Step(
        title=f"Check that {old.name} starts no new scheduled run",
        where="SQL on the primary",
        command=f"SELECT node, ran_at FROM {RECORDS} (until the next run was due)",
        expects=f"{old.name}'s /role says scheduler false",
        proves=f"no row from {old.name} after that, not even when the next run was due",
        act=act,
        verify=verify,
    )


async def _records_db(ctx: Context, inv: Inventory) -> Database | None:
    """The primary, if it has the run records; None if not (or no primary answers)."""
    probe = f"SELECT pg_is_in_recovery(), to_regclass({_literal(RECORDS)}) IS NOT NULL"
    for db in inv.databases:
        try:
            rows = await ctx.sql(db, probe)
        except ActionError:
            continue
        if rows and not rows[0][0]:
            return db if rows[0][1] else None
    return None


async def _db_now(ctx: Context, db: Database) -> float:
    rows = await ctx.sql(db, "SELECT extract(epoch FROM clock_timestamp())::float8")
    return float(rows[0][0])


async def _count(ctx: Context, db: Database, where: str, since: float) -> int:
    sql = f"SELECT count(*) FROM {RECORDS} WHERE {where} AND ran_at > to_timestamp({since!r})"
    return int((await ctx.sql(db, sql))[0][0])


def _interval(runs: list[tuple[Any, ...]]) -> float | None:
    """The sweep's interval, from its runs (node, epoch), newest first.

    The median gap between one node's consecutive runs; when the scheduler
    moved after every run, the shortest gap of all (a hand-over gap is never
    shorter than the interval, unless jobs already ran twice).
    """
    pairs = [(n1 == n2, float(t1) - float(t2)) for (n1, t1), (n2, t2) in itertools.pairwise(runs)]
    same = [gap for alike, gap in pairs if alike]
    if same:
        return statistics.median(same)
    return min((gap for _, gap in pairs), default=None)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
