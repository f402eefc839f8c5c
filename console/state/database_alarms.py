"""The databases' alarms: split brain, no primary, standbys that do not stream or lag,
members from another system or timeline, old primaries, a failing archiver. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.inventory.model import Inventory
from console.state.model import Alarm, BoxFreshness, DatabaseState, StandbyLink
from console.state.wording import ago as _ago
from console.state.wording import alarm as _alarm
from console.state.wording import joined as _and

LAG_BYTES_WARN = 16 * 1024 * 1024
REPLAY_LAG_WARN_S = 30.0

_Stale = Mapping[str, BoxFreshness]


def is_writable(db: DatabaseState) -> bool:
    return db.role == "primary" and bool(db.writable)


def primary_alarms(
    stale: _Stale, dbs: tuple[DatabaseState, ...], fresh: list[DatabaseState], site_read_only: bool
) -> list[Alarm]:
    writable = [d for d in fresh if is_writable(d)]
    stale_writable = [d for d in dbs if d.box in stale and is_writable(d)]
    alarms = []
    if len(writable) + len(stale_writable) >= 2:
        names = [d.name for d in stale_writable + writable]
        if stale_writable:
            said = [_last_seen(stale, d) for d in stale_writable]
            said += [f"{d.name} writable now" for d in writable]
            message = "possible split brain: " + ", ".join(said)
        else:
            message = f"split brain: {_and(names)} are all writable primaries"
        alarms.append(_alarm("split-brain", "critical", names, message))
    if writable or not dbs:
        return alarms
    read_only = [d for d in fresh if d.role == "primary"]
    if read_only and site_read_only:
        return alarms  # the operator's read-only mode: the banner says so, nothing is wrong
    if read_only:
        message = (
            f"{_and(d.name for d in read_only)}: primary but read-only by default "
            "(default_transaction_read_only on), the site cannot save changes"
        )
        alarms.append(_alarm("primary-read-only", "warning", [d.name for d in read_only], message))
    else:
        said = [_last_seen(stale, d) for d in dbs]
        message = f"no writable primary: {', '.join(said)}"
        alarms.append(_alarm("no-primary", "critical", [d.name for d in dbs], message))
    return alarms


def _last_seen(stale: _Stale, db: DatabaseState) -> str:
    if db.box in stale and db.role is None and stale[db.box].age is None:
        return f"{db.name} unknown (its box has never answered)"
    if db.box in stale:
        seen = "writable" if is_writable(db) else (db.role or "unreachable")
        return f"{db.name} last seen {seen} {_ago(stale[db.box])} (stale)"
    return f"{db.name} is {'a standby' if db.role == 'standby' else 'unreachable'}"


def unreachable_alarms(stale: _Stale, dbs: Iterable[DatabaseState]) -> list[Alarm]:
    # The box answers over SSH but PostgreSQL does not: nothing else says so.
    return [
        _alarm("database-unreachable", "critical", [d.name], f"{d.name}: {d.problem}")
        for d in dbs
        if d.role is None and d.box not in stale
    ]


def standby_alarms(
    inv: Inventory, fresh: list[DatabaseState]
) -> tuple[tuple[str, ...], list[Alarm]]:
    """Check every fresh standby's stream, as it and its upstream see it."""
    listed: dict[str, StandbyLink] = {}
    for member in fresh:
        for row in member.standbys:
            if row.state == "streaming":
                listed[row.application_name] = row
                if row.client_addr:
                    listed.setdefault(row.client_addr, row)
    can_cross_check = any(d.role == "primary" for d in fresh)
    streaming, alarms = [], []
    for db in (d for d in fresh if d.role == "standby"):
        link = listed.get(db.name) or listed.get(_host(inv, db.name))
        problem = None
        if db.receiver_status != "streaming":
            problem = f"its WAL receiver is {db.receiver_status or 'not running'}"
        elif can_cross_check and link is None:
            problem = "no primary lists it as streaming in pg_stat_replication"
        if db.replay_paused:
            message = f"{db.name}: WAL replay is paused (resume with pg_wal_replay_resume())"
            alarms.append(_alarm("replay-paused", "warning", [db.name], message))
        if problem:
            message = f"{db.name} is not streaming from the primary: {problem}"
            alarms.append(_alarm("standby-not-streaming", "critical", [db.name], message))
        else:
            streaming.append(db.name)
            alarms += _lag_alarms(db, link)
    return tuple(streaming), alarms


def _host(inv: Inventory, name: str) -> str:
    try:
        return inv.database(name).host
    except KeyError:
        return ""


def _lag_alarms(db: DatabaseState, link: StandbyLink | None) -> list[Alarm]:
    lag_bytes = link.lag_bytes if link else None
    seconds = (link.replay_lag_s if link else None, db.replay_lag_s)
    lag_s = max((s for s in seconds if s is not None), default=None)
    behind = []
    if lag_bytes is not None and lag_bytes > LAG_BYTES_WARN:
        behind.append(f"{lag_bytes / 1024 / 1024:.1f} MiB")
    if lag_s is not None and lag_s > REPLAY_LAG_WARN_S:
        behind.append(f"{lag_s:.0f} s")
    if not behind:
        return []
    message = f"{db.name} is {' and '.join(behind)} behind the primary"
    return [_alarm("standby-lag", "warning", [db.name], message)]


def identity_alarms(fresh: list[DatabaseState]) -> list[Alarm]:
    alarms = []
    systems = {d.name: d.system_identifier for d in fresh if d.system_identifier}
    if len(set(systems.values())) > 1:
        detail = ", ".join(f"{name} {ident}" for name, ident in systems.items())
        message = f"members belong to different clusters (system identifier {detail})"
        alarms.append(_alarm("system-mismatch", "critical", systems, message))
    timelines = {d.name: d.timeline for d in fresh if d.timeline is not None}
    if len(set(timelines.values())) > 1:
        detail = ", ".join(f"{name} on {tli}" for name, tli in timelines.items())
        message = f"members are on different timelines: {detail}"
        alarms.append(_alarm("timeline-mismatch", "critical", timelines, message))
    return alarms


def stale_primary_alarms(fresh: list[DatabaseState]) -> list[Alarm]:
    """A primary on an older timeline than another: an old primary back after a failover."""
    primaries = [d for d in fresh if d.role == "primary" and d.timeline is not None]
    newest = max((d.timeline or 0 for d in primaries), default=0)
    leaders = [d.name for d in primaries if d.timeline == newest]
    alarms = []
    for db in primaries:
        if (db.timeline or 0) < newest:
            message = (
                f"{db.name} is an old primary (timeline {db.timeline}; {_and(leaders)} was "
                f"promoted to timeline {newest}): it must not take writes; rejoin it with "
                f"`hotspare rejoin {db.name}`"
            )
            alarms.append(_alarm("stale-primary", "critical", [db.name], message))
    return alarms


def archiver_alarms(fresh: list[DatabaseState]) -> list[Alarm]:
    alarms = []
    for db in fresh:
        arch = db.archiver
        if arch is None or arch.last_failed_time is None:
            continue
        if arch.last_archived_time is None or arch.last_failed_time > arch.last_archived_time:
            message = f"{db.name} fails to archive WAL (last failed: {arch.last_failed_wal})"
            alarms.append(_alarm("archiver-failing", "warning", [db.name], message))
    return alarms
