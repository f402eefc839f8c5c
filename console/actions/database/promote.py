"""Switchover: hand the primary to a streaming standby with the site read-only meanwhile.

The order is what keeps both promises (never two writable members, never a
lost commit): the balancer turns writes away with the friendly page; the
old primary checkpoints while it still takes writes, then stops cleanly,
its walsender sending everything up to the shutdown checkpoint; only once
the standby has received and replayed past that checkpoint is it promoted. Until the
promotion, every step is put back if a later one fails (the old primary is
started again as it was); from the promotion on, nothing is.
"""

from __future__ import annotations

from dataclasses import replace

import console.actions.database.checks as promote_checks
import console.actions.database.lock as promotion_lock
import console.actions.database.steps as pgsteps
from console.actions.context import Context
from console.actions.database.rejoin import rejoin_steps
from console.actions.plan import Check, Plan, Step, failed, refused
from console.actions.site import checks, steps
from console.inventory import Balancer, Inventory, WebNode
from console.state.model import ClusterState

MESSAGE = "The database is switching over. You can save changes again in a moment"


def plan_promote(inv: Inventory, state: ClusterState, standby: str, rejoin: bool = False) -> Plan:
    """Switch over to STANDBY; with REJOIN the old primary then follows it."""
    return plan_switchover(inv, state, standby, rejoin)


def plan_switchover(
    inv: Inventory, state: ClusterState, candidate: str, rejoin: bool = False
) -> Plan:
    """The plan to make CANDIDATE the primary while the current primary is healthy."""
    cfg = promote_checks.database(inv, candidate)
    if cfg.manager == "patroni":
        import console.actions.database.patroni as patroni

        return patroni.plan_switchover(inv, state, candidate)
    conds = promote_checks.switchover(inv, state, cfg)
    found = promote_checks.members(inv, state)
    refusals = failed(conds)
    if refusals or len(found.primaries) != 1:
        return refused("promote", candidate, conds, refusals)
    old = inv.database(found.primaries[0].name)
    handover = pgsteps.Handover()
    lock_box, lock_path = promotion_lock.where(inv, cfg)
    mine = promotion_lock.token("promote", candidate)
    guard = _guard(inv, state)
    plan_steps = [
        promote_checks.rechecked(
            promotion_lock.take(lock_box, lock_path, mine),
            lambda fresh: promote_checks.switchover(inv, fresh, cfg),
        ),
        *([] if guard is None else _read_only_on(guard)),
        pgsteps.checkpoint(old),
        pgsteps.stop(old, handover, cfg),
        pgsteps.caught_up(old, cfg, handover),
        pgsteps.promote(cfg),
        pgsteps.accepts_writes(cfg, handover),
        *_site_back(hot_nodes(inv, state, healthy=True), guard),
    ]
    if rejoin:
        plan_steps += rejoin_steps(inv, old, cfg, failed_over=False)
    summary = (
        f"{old.name} hands the primary to {cfg.name}: "
        + ("writes get the read-only page meanwhile; " if guard else "")
        + f"{old.name} stops cleanly, {cfg.name} is promoted once it has every commit"
        + (f"; {old.name} then follows {cfg.name} as a standby" if rejoin else "")
    )
    if guard is None and inv.balancer is not None:
        summary += "; the site is already read-only or in maintenance: left as it is"
    back = f"hotspare promote {old.name}" + (
        "" if rejoin else f" (after `hotspare rejoin {old.name}`)"
    )
    return Plan(
        "promote",
        candidate,
        summary,
        tuple(plan_steps),
        (),
        candidate,
        back,
        tuple(conds),
        (promotion_lock.release(lock_box, lock_path, mine),),
    )


def _guard(inv: Inventory, state: ClusterState) -> Balancer | None:
    """The balancer to put in read-only mode, or None (none declared, or not in normal mode)."""
    if inv.balancer is None or state.balancer is None:
        return None
    return inv.balancer if state.balancer.flags.mode == "normal" else None


def _lift(balancer: Balancer) -> Step:
    """Back to normal mode, at run time and in the map file."""
    normal = steps.Flags("normal")
    set_normal = steps.set_flags(balancer, normal)
    save_normal = steps.save_flags(balancer, "normal")

    async def act(ctx: Context) -> str:
        return f"{await set_normal.act(ctx)}; {await save_normal.act(ctx)}"

    async def verify(ctx: Context) -> Check:
        runtime, saved = await set_normal.verify(ctx), await save_normal.verify(ctx)
        return Check(runtime.ok and saved.ok, f"{runtime.detail}; {saved.detail}")

    return Step(
        title="Lift the read-only mode on the balancer",
        where=f"HAProxy runtime API and SFTP on {balancer.box}",
        command=f"set map {balancer.flags_map} mode normal; save the map file",
        expects="the balancer answers",
        proves="`show map` and the map file both read mode normal",
        act=act,
        verify=verify,
    )


def _read_only_on(balancer: Balancer) -> list[Step]:
    flags = steps.Flags("read-only", MESSAGE, steps.UNSET)
    on = steps.set_flags(balancer, flags)
    return [
        replace(
            on, title="Turn writes away at the balancer (read-only page)", undo=_lift(balancer)
        ),
        steps.save_flags(balancer, "read-only"),
        *([checks.check_site(balancer, "read-only")] if balancer.site_url else []),
    ]


def _site_back(hot: tuple[WebNode, ...], guard: Balancer | None) -> list[Step]:
    """Each serving node finds the new primary; then writes are let through again."""
    found = [checks.check_nodes(hot)] if hot else []
    if guard is not None:
        found.append(_lift(guard))
        if guard.site_url:
            found.append(checks.check_site(guard, "normal"))
    return found


def hot_nodes(inv: Inventory, state: ClusterState, healthy: bool) -> tuple[WebNode, ...]:
    """The nodes that are hot now, and answer their health URL if HEALTHY (it touches the
    database: each must find the new primary)."""
    live = {
        n.name for n in state.nodes if n.role == "hot" and (not healthy or n.health_status == 200)
    }
    return tuple(n for n in inv.web_nodes if n.name in live)
