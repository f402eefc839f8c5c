"""A snapshot as Prometheus metrics, in the text format 0.0.4 the monitor serves on /metrics.

``render(state, inv)`` is pure: the same snapshot gives the same text. A
value the snapshot does not know (a box never probed, a lag not measured) is
left out rather than written as 0, so that a graph shows a gap, not a lie.
Every metric is a gauge but the servers' 5xx answers (a counter kept by
HAProxy since its start). docs/monitoring.md lists them all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from console.inventory import Inventory
from console.state.model import ClusterState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEVERITIES = ("critical", "warning")
ADMIN_STATES = ("ready", "drain", "maint")
SITE_MODES = ("normal", "read-only", "maintenance")
DB_ROLES = ("primary", "standby")
NODE_ROLES = ("hot", "warm")

Labels = Mapping[str, str]


@dataclass
class Family:
    """One metric: its name, help text, type, and samples (labels, value)."""

    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, value: float | bool | None, **labels: str) -> None:
        """Add a sample; a None value (not known) is left out."""
        if value is not None:
            self.samples.append((labels, float(value)))

    def enum(self, chosen: str | None, options: Iterable[str], key: str, **labels: str) -> None:
        """One sample per option of KEY, 1 for CHOSEN, 0 for the others; none if unknown."""
        if chosen is None:
            return
        for option in dict.fromkeys([*options, chosen]):
            self.add(option == chosen, **labels, **{key: option})


def render(state: ClusterState, inv: Inventory) -> str:
    """STATE (and what INV declares) as the text of one /metrics answer."""
    families = [
        *_monitor(state),
        *_boxes(state),
        *_balancer(state, inv),
        *_nodes(state),
        *_databases(state),
        *_alarms(state),
    ]
    return text(families)


def text(families: Iterable[Family]) -> str:
    """FAMILIES in the text format, one after the other."""
    return "".join(_family_text(f) for f in families)


def _monitor(state: ClusterState) -> list[Family]:
    info = Family("hotspare_monitor_info", "The cluster this monitor watches (always 1).")
    info.add(1, cluster=state.cluster, environment=state.environment)
    taken = Family(
        "hotspare_snapshot_timestamp_seconds", "When the snapshot served was taken (epoch s)."
    )
    taken.add(state.taken_at)
    return [info, taken]


def _boxes(state: ClusterState) -> list[Family]:
    connected = Family("hotspare_box_connected", "1 while the box's SSH connection is up.")
    fresh = Family("hotspare_box_fresh", "1 when the box's data is current (not stale).")
    age = Family("hotspare_box_age_seconds", "Age of the box's last good probe at the snapshot.")
    rtt = Family("hotspare_box_rtt_seconds", "SSH round trip on the box's open probe channel.")
    for box in state.boxes:
        connected.add(box.connected, box=box.box)
        fresh.add(not box.stale, box=box.box)
        age.add(box.age, box=box.box)
        rtt.add(None if box.rtt_ms is None else box.rtt_ms / 1000, box=box.box)
    return [connected, fresh, age, rtt]


def _balancer(state: ClusterState, inv: Inventory) -> list[Family]:
    answering = Family(
        "hotspare_balancer_answering", "1 when HAProxy's runtime API answered the last probe."
    )
    mode = Family("hotspare_site_mode", "The site's mode from the balancer's flags map (1: now).")
    live = Family("hotspare_backend_live", "1 for the backend serving the site.")
    total = Family("hotspare_backend_servers", "Servers in the backend.")
    up = Family("hotspare_backend_servers_up", "Servers of the backend whose status is UP.")
    servers = _servers(state)
    families = [answering, mode, live, total, up, *servers.values()]
    balancer = state.balancer
    if inv.balancer is None and balancer is None:
        return families
    answering.add(balancer is not None and balancer.problem is None)
    if balancer is None:
        return families
    mode.enum(balancer.flags.mode, SITE_MODES, "mode")
    declared = (inv.balancer.backends or (inv.balancer.backend,)) if inv.balancer else ()
    names = dict.fromkeys([*declared, *(balancer.in_backend(s) for s in balancer.servers)])
    for backend in names:
        members = [s for s in balancer.servers if balancer.in_backend(s) == backend]
        live.add(backend == balancer.live_backend, backend=backend)
        total.add(len(members), backend=backend)
        up.add(sum(s.operational.startswith("UP") for s in members), backend=backend)
    return families


def _servers(state: ClusterState) -> dict[str, Family]:
    families = {
        "up": Family("hotspare_server_up", "1 when HAProxy's status for the server is UP."),
        "admin": Family("hotspare_server_admin_state", "The server's admin state (1: now)."),
        "sessions": Family("hotspare_server_sessions", "The server's current sessions."),
        "5xx": Family(
            "hotspare_server_http_5xx",
            "5xx answers of the server since HAProxy started.",
            "counter",
        ),
    }
    if state.balancer is None:
        return families
    for s in state.balancer.servers:
        where = {"backend": state.balancer.in_backend(s), "server": s.name}
        families["up"].add(s.operational.startswith("UP"), **where)
        families["admin"].enum(s.admin, ADMIN_STATES, "state", **where)
        families["sessions"].add(s.sessions, **where)
        families["5xx"].add(s.http_5xx, **where)
    return families


def _nodes(state: ClusterState) -> list[Family]:
    healthy = Family(
        "hotspare_node_healthy", "1 when the node's site runs and its health check answers 200."
    )
    status = Family("hotspare_node_health_status", "HTTP status of the node's health check.")
    latency = Family("hotspare_node_health_latency_seconds", "How long the health check took.")
    role = Family("hotspare_node_role", "The role the node's role file gives it (1: now).")
    scheduler = Family("hotspare_node_scheduler", "1 when the node runs scheduled tasks.")
    for n in state.nodes:
        known = n.site_alive is not None or n.health_status is not None or n.health_problem
        fit = n.site_alive is not False and n.health_status == 200 and not n.health_problem
        healthy.add(fit if known else None, node=n.name)
        status.add(n.health_status, node=n.name)
        ms = n.health_latency_ms
        latency.add(None if ms is None else ms / 1000, node=n.name)
        role.enum(n.role, NODE_ROLES, "role", node=n.name)
        scheduler.add(n.scheduler, node=n.name)
    return [healthy, status, latency, role, scheduler]


def _databases(state: ClusterState) -> list[Family]:
    up = Family("hotspare_database_up", "1 when the member answered a new connection.")
    role = Family("hotspare_database_role", "The member's role (1: now).")
    recovery = Family("hotspare_database_in_recovery", "1 for a member in recovery (a standby).")
    timeline = Family("hotspare_database_timeline", "The member's timeline.")
    streaming = Family(
        "hotspare_database_streaming", "1 for a standby streaming WAL from its upstream."
    )
    lag = Family("hotspare_database_replica_lag_bytes", "WAL a standby has not replayed yet.")
    lag_s = Family(
        "hotspare_database_replica_lag_seconds", "A standby's replay lag as its primary sees it."
    )
    for d in state.databases:
        up.add(d.role is not None, database=d.name)
        role.enum(d.role, DB_ROLES, "role", database=d.name)
        recovery.add(None if d.role is None else d.role == "standby", database=d.name)
        timeline.add(d.timeline, database=d.name)
        if d.role != "standby":
            continue
        streaming.add(d.name in state.verdicts.standbys_streaming, database=d.name)
        link = state.standby_link(d.name)
        if link is not None:
            lag.add(link.lag_bytes, database=d.name)
            lag_s.add(link.replay_lag_s, database=d.name)
    return [up, role, recovery, timeline, streaming, lag, lag_s]


def _alarms(state: ClusterState) -> list[Family]:
    total = Family("hotspare_alarms", "Alarms raised now, by severity (0 when none).")
    by_code = Family("hotspare_alarms_by_code", "Alarms raised now, by code and severity.")
    for severity in SEVERITIES:
        total.add(sum(a.severity == severity for a in state.alarms), severity=severity)
    counted: dict[tuple[str, str], int] = {}
    for a in state.alarms:
        counted[a.code, a.severity] = counted.get((a.code, a.severity), 0) + 1
    for (code, severity), count in sorted(counted.items()):
        by_code.add(count, code=code, severity=severity)
    return [total, by_code]


def _family_text(family: Family) -> str:
    """FAMILY's HELP and TYPE lines and its samples; a counter's samples end in _total."""
    suffix = "_total" if family.type == "counter" else ""
    lines = [
        f"# HELP {family.name}{suffix} {_help(family.help)}",
        f"# TYPE {family.name}{suffix} {family.type}",
    ]
    for labels, value in family.samples:
        lines.append(f"{family.name}{suffix}{_labels(labels)} {_value(value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def escape(value: str) -> str:
    r"""A label value as the format wants it: \\, \" and \n escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
