"""Verdicts and alarms: what the probed parts add up to. Pure, no I/O.

A part's data is stale when its box's BoxFreshness says so. Stale data
raises no alarm of its own (box-stale says why it is stale), except where the
last known value is itself the danger: a stale box last seen as a writable
primary still counts towards a possible split brain. The Verdicts name only
fresh primaries, standbys and schedulers; the balancer's counts are its last
known ones, but its site mode is unknown (None) while the balancer is stale:
its box is, or HAProxy did not answer (its ``problem``). A box without a
freshness record is taken as fresh, so tests and one-shot callers can judge
bare parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.inventory.model import Inventory
from console.state.lock import ActionLock
from console.state.model import (
    Alarm,
    BalancerState,
    BoxFreshness,
    DatabaseState,
    NodeState,
    Server,
    Severity,
    StandbyLink,
    Verdicts,
)

LAG_BYTES_WARN = 16 * 1024 * 1024
REPLAY_LAG_WARN_S = 30.0
# A warm node's hot-scheme access log written this recently means it serves
# as hot (or logs as if it did), which the naming scheme forbids.
HOT_LOG_FRESH_S = 15.0

_Stale = Mapping[str, BoxFreshness]


def judge(
    inv: Inventory,
    boxes: tuple[BoxFreshness, ...],
    balancer: BalancerState | None,
    nodes: tuple[NodeState, ...],
    databases: tuple[DatabaseState, ...],
    balancer_problem: str | None = None,
) -> tuple[Verdicts, tuple[Alarm, ...]]:
    """Draw the verdicts and raise the alarms for one snapshot.

    BALANCER_PROBLEM: why HAProxy did not answer its last probe (BALANCER,
    when there is one, carries the same as its ``problem``).

    Returns:
        The verdicts, and the alarms with the critical ones first.
    """
    stale = {b.box: b for b in boxes if b.stale}
    fresh_dbs = [d for d in databases if d.box not in stale and d.role is not None]
    fresh_nodes = [n for n in nodes if n.box not in stale]
    streaming, standby_alarms = _standby_alarms(inv, fresh_dbs)
    alarms = [
        *_box_alarms(boxes),
        *_primary_alarms(stale, databases, fresh_dbs, _deliberately_read_only(balancer, stale)),
        *_balancer_alarms(inv, balancer, stale, balancer_problem),
        *_unreachable_alarms(stale, databases),
        *standby_alarms,
        *_identity_alarms(fresh_dbs),
        *_stale_primary_alarms(fresh_dbs),
        *_archiver_alarms(fresh_dbs),
        *_node_alarms(inv, fresh_nodes),
        *_scheduler_alarms(inv, nodes, fresh_nodes),
    ]
    if _answers(balancer, stale):
        assert balancer is not None
        alarms += _backend_alarms(inv, balancer, fresh_nodes)
        alarms += _site_alarms(balancer)
    flags = balancer.flags if balancer is not None and _answers(balancer, stale) else None
    verdicts = Verdicts(
        primaries=tuple(d.name for d in fresh_dbs if _writable(d)),
        standbys_streaming=streaming,
        backends_up=sum(_up(s) for s in balancer.servers) if balancer else 0,
        backends_total=len(balancer.servers) if balancer else 0,
        site_mode=flags.mode if flags else None,
        site_message=flags.message if flags else None,
        site_until=flags.until if flags else None,
        schedulers=tuple(n.name for n in fresh_nodes if n.scheduler),
    )
    order: dict[Severity, int] = {"critical": 0, "warning": 1}
    return verdicts, tuple(sorted(alarms, key=lambda a: order[a.severity]))


def action_alarms(lock: ActionLock | None) -> tuple[Alarm, ...]:
    """An interrupted action is critical; a running one is said, as a warning."""
    if lock is None:
        return ()
    if lock.gone is not None:
        message = f"{lock.describe()}: {lock.advice()}"
        return (Alarm("action-interrupted", "critical", (lock.target,), message),)
    return (Alarm("action-running", "warning", (lock.target,), lock.describe()),)


def _alarm(code: str, severity: Severity, subject: Iterable[str], message: str) -> Alarm:
    return Alarm(code=code, severity=severity, subject=tuple(subject), message=message)


def _box_alarms(boxes: Iterable[BoxFreshness]) -> list[Alarm]:
    alarms = []
    for box in boxes:
        if box.host_key_changed:  # a possible interception; the reason says what to do
            message = f"{box.box}: {box.reason}"
            alarms.append(_alarm("host-key-changed", "critical", [box.box], message))
        elif box.sshd_problem:
            # The same alarm whether an old connection still brings data or not.
            still = "so no data from it" if box.stale else "an open connection still answers"
            message = f"{box.sshd_problem} ({still})"
            alarms.append(_alarm("sshd-not-answering", "warning", [box.box], message))
        elif box.stale:
            age = "never probed" if box.age is None else f"data is {box.age:.0f} s old"
            reason = f": {box.reason}" if box.reason else ""
            alarms.append(_alarm("box-stale", "warning", [box.box], f"{box.box}: {age}{reason}"))
    return alarms


# --- databases -----------------------------------------------------------------


def _writable(db: DatabaseState) -> bool:
    return db.role == "primary" and bool(db.writable)


def _deliberately_read_only(balancer: BalancerState | None, stale: _Stale) -> bool:
    """Whether the balancer itself keeps writes out (read-only or maintenance mode)."""
    if balancer is None or not _answers(balancer, stale):
        return False
    return balancer.flags.mode in ("read-only", "maintenance")


def _primary_alarms(
    stale: _Stale, dbs: tuple[DatabaseState, ...], fresh: list[DatabaseState], site_read_only: bool
) -> list[Alarm]:
    writable = [d for d in fresh if _writable(d)]
    stale_writable = [d for d in dbs if d.box in stale and _writable(d)]
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
        seen = "writable" if _writable(db) else (db.role or "unreachable")
        return f"{db.name} last seen {seen} {_ago(stale[db.box])} (stale)"
    return f"{db.name} is {'a standby' if db.role == 'standby' else 'unreachable'}"


def _answers(balancer: BalancerState | None, stale: _Stale) -> bool:
    """Whether the balancer's picture is current: its box answers and so did HAProxy."""
    return balancer is not None and balancer.box not in stale and balancer.problem is None


def _balancer_alarms(
    inv: Inventory, balancer: BalancerState | None, stale: _Stale, problem: str | None
) -> list[Alarm]:
    """The site's one balancer not answering: nobody can tell whether the site is up."""
    if inv.balancer is None or _answers(balancer, stale):
        return []
    box = inv.balancer.box
    if balancer is not None and balancer.problem:
        why = balancer.problem
    elif problem:
        why = problem
    elif box in stale:
        why = f"its box {box} does not answer ({stale[box].reason or 'no reason given'})"
    else:
        return []  # not probed yet, on a box that has no record: nothing is known to be wrong
    message = f"the balancer does not answer, site mode unknown: {why}"
    return [_alarm("balancer-not-answering", "critical", [box], message)]


def _unreachable_alarms(stale: _Stale, dbs: Iterable[DatabaseState]) -> list[Alarm]:
    # The box answers over SSH but PostgreSQL does not: nothing else says so.
    return [
        _alarm("database-unreachable", "critical", [d.name], f"{d.name}: {d.problem}")
        for d in dbs
        if d.role is None and d.box not in stale
    ]


def _standby_alarms(
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


def _identity_alarms(fresh: list[DatabaseState]) -> list[Alarm]:
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


def _stale_primary_alarms(fresh: list[DatabaseState]) -> list[Alarm]:
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


def _archiver_alarms(fresh: list[DatabaseState]) -> list[Alarm]:
    alarms = []
    for db in fresh:
        arch = db.archiver
        if arch is None or arch.last_failed_time is None:
            continue
        if arch.last_archived_time is None or arch.last_failed_time > arch.last_archived_time:
            message = f"{db.name} fails to archive WAL (last failed: {arch.last_failed_wal})"
            alarms.append(_alarm("archiver-failing", "warning", [db.name], message))
    return alarms


# --- web nodes and the balancer ------------------------------------------------


def _role(node: NodeState) -> str:
    # The role file says what the node does now; without it, the inventory.
    return node.role or node.expected_role


def _node_alarms(inv: Inventory, fresh: list[NodeState]) -> list[Alarm]:
    alarms = []
    for node in fresh:
        subject = [node.name]
        if _role(node) == "warm" and node.mail == "real":
            message = f"{node.name} is warm but sends real mail: only the scheduler may"
            alarms.append(_alarm("warm-real-mail", "critical", subject, message))
        hot_log = _hot_log_age(inv, node) if _role(node) == "warm" else None
        if hot_log is not None:
            message = f"{node.name} is warm but wrote the hot access log {hot_log:.0f} s ago"
            alarms.append(_alarm("warm-hot-log", "critical", subject, message))
        if node.role_problem:
            alarms.append(
                _alarm("role-file", "warning", subject, f"{node.name}: {node.role_problem}")
            )
        if node.role is not None and node.role != node.expected_role:
            message = f"{node.name} is {node.role}; cluster.yaml has it {node.expected_role}"
            alarms.append(_alarm("role-differs", "warning", subject, message))
        if _role(node) == "hot" and _unhealthy(node):
            alarms.append(_alarm("node-unhealthy", "warning", subject, _unhealthy(node)))
    return alarms


def _hot_log_age(inv: Inventory, node: NodeState) -> float | None:
    """How long ago a warm node wrote its hot log, if recently and after its warm log.

    A node just turned warm wrote its hot log moments ago, and its warm log
    since: that is the switch, not a fault. Only a hot log fresher than the
    warm one means the node still logs as hot.
    """
    try:
        web = inv.web_node(node.name)
    except KeyError:
        return None
    hot_path, warm_path = web.access_log_for("hot"), web.access_log_for("warm")
    hot = [f.age_s for f in node.access_logs if f.path == hot_path and f.age_s < HOT_LOG_FRESH_S]
    warm = [f.age_s for f in node.access_logs if f.path == warm_path]
    if not hot or (warm and min(warm) <= min(hot)):
        return None
    return min(hot)


def _unhealthy(node: NodeState) -> str:
    """Why a hot node is not fit to serve, or "" (None fields mean the probe could not tell)."""
    if node.site_alive is False:
        return f"{node.name}: the site process is not running"
    if node.health_status is not None and node.health_status != 200:
        return f"{node.name}: health check answered {node.health_status}"
    if node.health_problem:
        return f"{node.name}: health check failed: {node.health_problem}"
    return ""


def _scheduler_alarms(
    inv: Inventory, nodes: Iterable[NodeState], fresh: list[NodeState]
) -> list[Alarm]:
    if not inv.web_nodes:
        return []
    schedulers = [n.name for n in fresh if n.scheduler]
    if len(schedulers) == 1:
        return []
    if schedulers:
        message = f"{_and(schedulers)} all run scheduled tasks and send real mail: jobs run twice"
        return [_alarm("scheduler-count", "critical", schedulers, message)]
    unknown = [n.name for n in nodes if n not in fresh or n.scheduler is None]
    detail = f" ({_and(unknown)} unknown)" if unknown else ""
    message = f"no node runs scheduled tasks and real mail{detail}"
    return [_alarm("scheduler-count", "critical", [n.name for n in nodes], message)]


def _up(server: Server) -> bool:
    return server.operational.startswith("UP")


def _backend_alarms(inv: Inventory, balancer: BalancerState, fresh: list[NodeState]) -> list[Alarm]:
    servers = balancer.servers
    if not any(_up(s) for s in servers):
        message = f"no server of backend {balancer.backend} is UP: the site is down"
        return [_alarm("backends-down", "critical", [s.name for s in servers], message)]
    live = {n.name: _role(n) for n in fresh}
    roles = {w.server: live.get(w.name, w.role) for w in inv.web_nodes}
    down = [s for s in servers if roles.get(s.name) == "hot" and not _up(s)]
    if not down:
        return []
    detail = ", ".join(f"{s.name} is {s.operational} ({s.admin})" for s in down)
    message = f"hot servers not serving: {detail}"
    return [_alarm("backends-down", "warning", [s.name for s in down], message)]


def _site_alarms(balancer: BalancerState) -> list[Alarm]:
    flags, alarms = balancer.flags, []
    if flags.mode != "normal":
        until = f" until {flags.until}" if flags.until else ""
        said = f": {flags.message!r}" if flags.message else ""
        message = f"the site is in {flags.mode} mode{until}{said}"
        alarms.append(_alarm("site-mode", "warning", [balancer.box], message))
    if flags.problem:
        alarms.append(_alarm("site-flags", "warning", [balancer.box], flags.problem))
    return alarms


# --- words ---------------------------------------------------------------------


def _ago(box: BoxFreshness) -> str:
    return "at an unknown time" if box.age is None else f"{box.age:.0f} s ago"


def _and(names: Iterable[str]) -> str:
    items = list(names)
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)
