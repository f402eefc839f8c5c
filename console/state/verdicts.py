"""Verdicts and alarms: what the probed parts add up to. Pure, no I/O.

A part's data is stale when its box's BoxFreshness says so. Stale data
raises no alarm of its own (box-stale says why it is stale), except where the
last known value is itself the danger: a stale box last seen as a writable
primary still counts towards a possible split brain. The Verdicts name only
fresh primaries, standbys and schedulers; the balancer's counts are its last
known ones, but its site mode is unknown (None) while the balancer is stale:
its box is, or HAProxy did not answer (its ``problem``). A box without a
freshness record is taken as fresh, so tests and one-shot callers can judge
bare parts. The databases' own alarms are in database_alarms.py; the
action lock's are `action_alarms` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.inventory.model import Inventory
from console.state import database_alarms, planned
from console.state.balancer import BalancerState, Server
from console.state.lock import ActionLock
from console.state.model import Alarm, BoxFreshness, DatabaseState, NodeState, Severity, Verdicts
from console.state.supervisor_alarms import supervisor_alarms
from console.state.wording import alarm as _alarm
from console.state.wording import joined as _and

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
    action: ActionLock | None = None,
    now: float | None = None,
) -> tuple[Verdicts, tuple[Alarm, ...]]:
    """Draw the verdicts and raise the alarms for one snapshot.

    BALANCER_PROBLEM: why HAProxy did not answer its last probe (BALANCER,
    when there is one, carries the same as its ``problem``). ACTION (the
    action lock) and NOW (the snapshot's epoch s) tell planned states from
    alarms (planned.py); without NOW a site mode's until is not checked.

    Returns:
        The verdicts, and the alarms with the critical ones first.
    """
    stale = {b.box: b for b in boxes if b.stale}
    fresh_dbs = [d for d in databases if d.box not in stale and d.role is not None]
    fresh_nodes = [n for n in nodes if n.box not in stale]
    streaming, standby_alarms = database_alarms.standby_alarms(inv, fresh_dbs)
    alarms = [
        *_box_alarms(boxes),
        *database_alarms.primary_alarms(
            stale, databases, fresh_dbs, _deliberately_read_only(balancer, stale)
        ),
        *_balancer_alarms(inv, balancer, stale, balancer_problem),
        *database_alarms.unreachable_alarms(stale, databases),
        *standby_alarms,
        *database_alarms.identity_alarms(fresh_dbs),
        *database_alarms.stale_primary_alarms(fresh_dbs),
        *database_alarms.archiver_alarms(fresh_dbs),
        *_node_alarms(inv, fresh_nodes),
        *_scheduler_alarms(inv, nodes, fresh_nodes),
    ]
    plans: tuple[str, ...] = ()
    if _answers(balancer, stale):
        assert balancer is not None
        server_plans, backend_alarms = _backend_alarms(inv, balancer, fresh_nodes, action)
        site_plans, site_alarms = _site_alarms(balancer, now)
        alarms += backend_alarms + site_alarms
        plans = server_plans + site_plans
    flags = balancer.flags if balancer is not None and _answers(balancer, stale) else None
    verdicts = Verdicts(
        primaries=tuple(d.name for d in fresh_dbs if database_alarms.is_writable(d)),
        standbys_streaming=streaming,
        backends_up=sum(_up(s) for s in balancer.serving) if balancer else 0,
        backends_total=len(balancer.serving) if balancer else 0,
        site_mode=flags.mode if flags else None,
        site_message=flags.message if flags else None,
        site_until=flags.until if flags else None,
        schedulers=tuple(n.name for n in fresh_nodes if n.scheduler),
        planned=plans,
    )
    order: dict[Severity, int] = {"critical": 0, "warning": 1}
    return verdicts, tuple(sorted(alarms, key=lambda a: order[a.severity]))


def action_alarms(lock: ActionLock | None) -> tuple[Alarm, ...]:
    """An interrupted action is critical; a running, paused or halted one is said, as a warning.

    A runbook stopped on purpose (paused by an operator, halted at a failed
    check with the site serving) keeps the lock and waits for its ways on.
    """
    if lock is None:
        return ()
    if lock.stopped:
        message = f"{lock.describe()}: {lock.advice()}"
        return (Alarm(f"action-{lock.stopped}", "warning", (lock.target,), message),)
    if lock.gone is not None:
        message = f"{lock.describe()}: {lock.advice()}"
        return (Alarm("action-interrupted", "critical", (lock.target,), message),)
    return (Alarm("action-running", "warning", (lock.target,), lock.describe()),)


def runbook_alarms(broken: str) -> tuple[Alarm, ...]:
    """A runbook record that cannot be read: an upgrade may be open, and nobody can tell."""
    if not broken:
        return ()
    message = f"the runbook record {broken}; `hotspare upgrade status` says what to do"
    return (Alarm("runbook-unreadable", "warning", ("upgrade",), message),)


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


# --- the balancer and the web nodes -----------------------------------------


def _deliberately_read_only(balancer: BalancerState | None, stale: _Stale) -> bool:
    """Whether the balancer itself keeps writes out (read-only or maintenance mode)."""
    if balancer is None or not _answers(balancer, stale):
        return False
    return balancer.flags.mode in ("read-only", "maintenance")


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
        alarms += supervisor_alarms(node)
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


_Judged = tuple[tuple[str, ...], list[Alarm]]


def _backend_alarms(
    inv: Inventory, balancer: BalancerState, fresh: list[NodeState], action: ActionLock | None
) -> _Judged:
    """Hot servers of the live backend not serving: planned when an operator took them out.

    Only the live backend serves the site: the other side of an A/B rollover
    may be down or in MAINT without the site missing anything.
    """
    if balancer.live_problem:
        return (), [_alarm("live-backend", "critical", [balancer.box], balancer.live_problem)]
    servers = balancer.serving
    if not any(_up(s) for s in servers):
        message = f"no server of backend {balancer.live_backend} is UP: the site is down"
        return (), [_alarm("backends-down", "critical", [s.name for s in servers], message)]
    live = {n.name: _role(n) for n in fresh}
    roles = {w.server: live.get(w.name, w.role) for w in inv.web_nodes}
    hot_out = [s for s in servers if roles.get(s.name) == "hot" and not _up(s)]
    plans, alarms = planned.servers([s for s in hot_out if s.admin != "ready"], action)
    down = [s for s in hot_out if s.admin == "ready"]
    if down:
        detail = ", ".join(f"{s.name} is {s.operational} ({s.admin})" for s in down)
        message = f"hot servers not serving: {detail}"
        alarms.append(_alarm("backends-down", "warning", [s.name for s in down], message))
    return plans, alarms


def _site_alarms(balancer: BalancerState, now: float | None) -> _Judged:
    flags = balancer.flags
    plans, alarms = planned.site_mode(balancer.box, flags, now)
    if flags.problem:
        alarms.append(_alarm("site-flags", "warning", [balancer.box], flags.problem))
    return plans, alarms
