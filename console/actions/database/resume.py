"""Finishing a switchover that was interrupted: from wherever the site was left.

A promotion killed halfway leaves one of three sites, and the memo in the
action lock (the old primary, whether the run put the read-only page up)
is enough to tell them apart and to go on:

- the old primary still runs as the primary: nothing irreversible was
  done; the switchover is planned as new (plan_switchover does this);
- the old primary is stopped and the candidate is still a standby: the
  old primary's shutdown checkpoint is read from its pg_control (the box
  answers over SSH even with PostgreSQL stopped), the candidate must have
  replayed past it, then it is promoted: no commit is lost;
- the candidate is already the primary (past the point of no return): it
  must take writes, the nodes must find it, and the page comes down.

A rejoin asked for with `--rejoin` follows in the last two cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import console.actions.database.checks as promote_checks
import console.actions.database.server as server
import console.actions.database.steps as pgsteps
from console.actions.context import Context
from console.actions.database.page import guard_of, hot_nodes, site_back
from console.actions.database.rejoin import rejoin_steps
from console.actions.plan import Check, Condition, Plan, Step, failed, refused
from console.inventory import Database, Inventory
from console.state.model import ClusterState


def plan_finish(
    inv: Inventory, state: ClusterState, cfg: Database, rejoin: bool, memo: Mapping[str, Any]
) -> Plan:
    """The rest of an interrupted switchover to CFG, judged from STATE."""
    name = str(memo.get("old") or "")
    if name not in {db.name for db in inv.databases} or name == cfg.name:
        why = f"the interrupted run's memo names no old primary ({name!r})"
        return refused("promote", cfg.name, (), (why,))
    old = inv.database(name)
    found = promote_checks.members(inv, state)
    me = found.seen.get(cfg.name)
    others = [p.name for p in found.primaries if p.name != cfg.name]
    conds = [
        Condition(
            f"no other primary than {cfg.name}",
            not others,
            f"primaries: {', '.join(p.name for p in found.primaries) or 'none'}",
        ),
        Condition(
            f"{cfg.name} answers",
            me is not None,
            f"{cfg.name} is a {me.role}" if me is not None else f"{cfg.name} does not answer",
        ),
    ]
    promoted = me is not None and me.role == "primary"
    if not promoted:
        conds.append(
            Condition(
                f"{old.box} answers over SSH (to read {old.name}'s shutdown checkpoint)",
                state.answers(old.box),
                "it answers" if state.answers(old.box) else "it does not answer",
            )
        )
    refusals = failed(conds)
    if refusals:
        return refused("promote", cfg.name, conds, refusals)
    guard = guard_of(inv, state, memo)
    handover = pgsteps.Handover()
    plan_steps: list[Step] = []
    if promoted:
        summary = f"{cfg.name} was promoted by the interrupted run: finish what came after"
    else:
        summary = (
            f"{old.name} was stopped by the interrupted run and {cfg.name} is still a standby: "
            f"promote it once it has replayed past {old.name}'s shutdown checkpoint"
        )
        plan_steps += [
            shutdown_checkpoint(old, handover),
            pgsteps.caught_up(old, cfg, handover),
            pgsteps.promote(cfg),
        ]
    plan_steps += [
        pgsteps.accepts_writes(cfg, handover),
        *site_back(hot_nodes(inv, state, healthy=True), guard),
    ]
    if rejoin:
        plan_steps += rejoin_steps(inv, old, cfg, failed_over=False)
        summary += f"; {old.name} then follows {cfg.name}"
    elif guard is not None:
        summary += "; the read-only page comes down"
    back = "" if rejoin else f"hotspare rejoin {old.name}"
    return Plan(
        "promote",
        cfg.name,
        summary,
        tuple(plan_steps),
        (),
        cfg.name,
        back,
        tuple(conds),
        memo=dict(memo),
    )


def shutdown_checkpoint(db: Database, handover: pgsteps.Handover) -> Step:
    """Read DB's shutdown checkpoint from pg_control; it must have shut down cleanly."""

    async def act(ctx: Context) -> str:
        if await server.running(ctx, db):
            return f"{db.name} runs again: it was started after the interrupted run"
        return f"{db.name} is stopped"

    async def verify(ctx: Context) -> Check:
        if await server.running(ctx, db):
            return Check(False, f"{db.name} runs: run `hotspare promote` again to plan anew")
        control = await server.controldata(ctx, db)
        state = control.get("Database cluster state", "?")
        handover.shutdown_lsn = control.get("Latest checkpoint location")
        if state != "shut down":
            return Check(
                False,
                f"{db.name}'s cluster state is {state!r}, not 'shut down': commits past its "
                f"last checkpoint may be missing from the standby; start {db.name} again "
                "(it is the primary) or fail over knowing what is lost",
            )
        return Check(True, f"{db.name} shut down cleanly; checkpoint at {handover.shutdown_lsn}")

    return Step(
        title=f"Read {db.name}'s shutdown checkpoint",
        where=f"ssh {db.box}",
        command=server.as_owner(db, f"pg_controldata -D {db.data_dir}"),
        expects=f"{db.name} is stopped",
        proves="pg_controldata reads 'shut down' and gives the shutdown checkpoint",
        act=act,
        verify=verify,
    )
