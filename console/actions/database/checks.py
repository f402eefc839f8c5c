"""What must be true before a promotion, read from one snapshot of the site. Pure.

Each precondition is a Condition, ticked or failed with what was seen, so
the plan shows all of them and a failed one refuses the plan. The same
functions run again on a fresh snapshot just before the first step.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.actions.plan import Condition
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.state.model import ClusterState, DatabaseState


def database(inv: Inventory, name: str) -> Database:
    """The database NAME, or ActionError listing the names there are."""
    try:
        return inv.database(name)
    except KeyError:
        names = ", ".join(db.name for db in inv.databases) or "none"
        raise ActionError(
            f"no database named {name!r} in cluster.yaml (there are: {names})"
        ) from None


@dataclass(frozen=True)
class Members:
    """The databases as one snapshot shows them."""

    seen: dict[str, DatabaseState]  # fresh members that answered SQL, by name
    unseen: tuple[str, ...]  # members whose box is stale or whose PostgreSQL did not answer
    primaries: tuple[DatabaseState, ...]


def members(inv: Inventory, state: ClusterState) -> Members:
    """Who answers, from the inventory's list: a member whose box was never
    reached is not in the snapshot at all, and is unseen all the same."""
    probed = {db.name: db for db in state.databases}
    seen = {}
    for name, db in probed.items():
        if state.answers(db.box) and db.role is not None:
            seen[name] = db
    unseen = tuple(db.name for db in inv.databases if db.name not in seen)
    primaries = tuple(d for d in seen.values() if d.role == "primary")
    return Members(seen, unseen, primaries)


def newest_timeline(dbs: list[DatabaseState]) -> int | None:
    return max((d.timeline for d in dbs if d.timeline is not None), default=None)


def stale_primaries(inv: Inventory, state: ClusterState) -> tuple[str, ...]:
    """Primaries on an older timeline than another primary: old primaries after a failover."""
    found = members(inv, state)
    newest = newest_timeline(list(found.primaries))
    if len(found.primaries) < 2 or newest is None:
        return ()
    return tuple(d.name for d in found.primaries if d.timeline is not None and d.timeline < newest)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def switchover(inv: Inventory, state: ClusterState, cfg: Database) -> list[Condition]:
    """The preconditions of switching over to the standby CFG."""
    found = members(inv, state)
    conds = [
        Condition(
            "every member answers",
            not found.unseen,
            f"{', '.join(found.unseen)} did not answer: it could be a primary"
            if found.unseen
            else ", ".join(sorted(found.seen)),
        )
    ]
    if inv.balancer is not None:
        known = state.balancer is not None and state.answers(inv.balancer.box)
        conds.append(
            Condition(
                "the balancer answers",
                known,
                f"{inv.balancer.box} answers"
                if known
                else f"{inv.balancer.box} does not "
                "answer: the read-only page cannot be put up during the switchover",
            )
        )
    primary = found.primaries[0] if len(found.primaries) == 1 else None
    names = ", ".join(d.name for d in found.primaries) or "none"
    conds.append(
        Condition(
            "exactly one primary",
            primary is not None and primary.name != cfg.name,
            f"{cfg.name} is already the primary"
            if primary is not None and primary.name == cfg.name
            else f"primaries: {names}",
        )
    )
    me = found.seen.get(cfg.name)
    if primary is None or me is None or me.role != "standby":
        said = "it did not answer" if me is None else f"it is a {me.role}"
        conds.append(
            Condition(f"{cfg.name} is a standby", me is not None and me.role == "standby", said)
        )
        return conds
    conds += _standby_conditions(inv, state, cfg, me, primary)
    return conds


def _standby_conditions(
    inv: Inventory, state: ClusterState, cfg: Database, me: DatabaseState, primary: DatabaseState
) -> list[Condition]:
    link = state.standby_link(cfg.name)
    streaming = me.receiver_status == "streaming" and link is not None and link.state == "streaming"
    said = f"its WAL receiver is {me.receiver_status or 'not running'}; "
    said += (
        f"{primary.name} lists it as {link.state}"
        if link is not None
        else f"{primary.name} does not list it in pg_stat_replication"
    )
    same = me.timeline == primary.timeline and me.system_identifier == primary.system_identifier
    lag = link.lag_bytes if link is not None else None
    return [
        Condition(f"{cfg.name} streams from {primary.name}", streaming, said),
        Condition(
            "same timeline and system",
            same,
            f"timeline {me.timeline} vs {primary.timeline}, "
            + (
                "same system identifier"
                if me.system_identifier == primary.system_identifier
                else f"system {me.system_identifier} vs {primary.system_identifier}"
            ),
        ),
        Condition(
            "replay is not paused",
            me.replay_paused is False,
            "replay is paused: pg_wal_replay_resume() on it first"
            if me.replay_paused
            else "replaying",
        ),
        Condition(
            f"lag under {_mib(cfg.switchover_max_lag)} (switchover_max_lag)",
            lag is not None and lag <= cfg.switchover_max_lag,
            "unknown" if lag is None else f"{_mib(lag)} not yet replayed",
        ),
    ]


def seen(state: ClusterState, name: str) -> DatabaseState | None:
    """Member NAME as the snapshot has it."""
    return next((d for d in state.databases if d.name == name), None)
