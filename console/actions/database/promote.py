"""Switchover: hand the primary to a streaming standby with the site read-only meanwhile.

The order is what keeps both promises (never two writable members, never a
lost commit): the balancer turns writes away with the friendly page; the
old primary checkpoints while it still takes writes, then stops cleanly,
its walsender sending everything up to the shutdown checkpoint; only once
the standby has received and replayed past that checkpoint is it promoted. Until the
promotion, every step is put back if a later one fails (the old primary is
started again as it was); from the promotion on, nothing is.

Running `promote` again after a run was interrupted finishes it from where
the site is (console/actions/database/resume.py): the run's memo, kept in
the cluster's action lock, names the old primary and whether the run put
the read-only page up, so the page is taken down at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import console.actions.database.checks as promote_checks
import console.actions.database.page as page
import console.actions.database.steps as pgsteps
from console.actions.database.rejoin import rejoin_steps
from console.actions.database.resume import plan_finish
from console.actions.plan import Plan, failed, refused
from console.inventory import Inventory
from console.state.model import ClusterState


def plan_promote(
    inv: Inventory,
    state: ClusterState,
    standby: str,
    rejoin: bool = False,
    resume: Mapping[str, Any] | None = None,
) -> Plan:
    """Switch over to STANDBY; with REJOIN the old primary then follows it.

    RESUME is the memo of an interrupted promotion of STANDBY this run finishes.
    """
    return plan_switchover(inv, state, standby, rejoin, resume)


def plan_switchover(
    inv: Inventory,
    state: ClusterState,
    candidate: str,
    rejoin: bool = False,
    resume: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan to make CANDIDATE the primary while the current primary is healthy."""
    cfg = promote_checks.database(inv, candidate)
    if cfg.manager == "patroni":
        import console.actions.database.patroni as patroni

        return patroni.plan_switchover(inv, state, candidate)
    found = promote_checks.members(inv, state)
    if resume and resume.get("old") and [p.name for p in found.primaries] != [resume["old"]]:
        return plan_finish(inv, state, cfg, rejoin, resume)
    if [p.name for p in found.primaries] == [candidate] and not found.unseen:
        return Plan("promote", candidate, f"{candidate} is already the primary: nothing to do", ())
    conds = promote_checks.switchover(inv, state, cfg)
    refusals = failed(conds)
    if refusals or len(found.primaries) != 1:
        return refused("promote", candidate, conds, refusals)
    old = inv.database(found.primaries[0].name)
    handover = pgsteps.Handover()
    guard = page.guard_of(inv, state, resume)
    plan_steps = [
        *([] if guard is None else page.read_only_on(guard, _mode(state))),
        pgsteps.checkpoint(old),
        pgsteps.stop(old, handover, cfg),
        pgsteps.caught_up(old, cfg, handover),
        pgsteps.promote(cfg),
        pgsteps.accepts_writes(cfg, handover),
        *page.site_back(page.hot_nodes(inv, state, healthy=True), guard),
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
        memo={"old": old.name, "guard": guard is not None},
    )


def _mode(state: ClusterState) -> str:
    return state.balancer.flags.mode if state.balancer is not None else "normal"
