"""ClusterState: one immutable snapshot of the whole site.

Names: what cluster.yaml declares has a plain name (console.inventory's
Balancer, WebNode, Database); what a probe observed ends in State
(BalancerState, NodeState, DatabaseState, and the whole ClusterState).
Each is imported under its own name, never an alias.

Probes produce the parts (BalancerState from console.state.balancer,
NodeState, DatabaseState, and PatroniView from console.state.patroni), each
stamped with the time it was observed; the monitor adds per-box freshness and
the derived verdicts and alarms. Widgets, the CLI printer and JSON all read
this, and tests build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from console.state.balancer import BalancerState, SiteMode
from console.state.lock import ActionLock
from console.state.patroni import PatroniView
from console.state.runbook import Runbook
from console.state.supervisor import SupervisorState

SCHEMA_VERSION = 1

KeepaliveMode = Literal["off", "on", "not running"]

DbRole = Literal["primary", "standby"]
Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class BoxFreshness:
    """How current the data from one box is, and why not when it is not.

    Attributes:
        box: the box's name in the inventory.
        connected: whether its SSH connection is up right now.
        last_ok: wall-clock time (epoch seconds) of its last good probe, if any.
        age: seconds from last_ok to the snapshot; None if never probed.
        rtt_ms: SSH round trip on the open probe channel, last measured.
        stale: True when the data is too old to be shown as current.
        reason: why the box is failing, in words an operator can act on.
        sshd_problem: why its sshd does not greet a NEW connection (hung or
            not running), which an established connection cannot show; None
            when it does, or when that could not be told.
        host_key_changed: it (or a jump host on its way) offers a host key
            other than the recorded one: a possible interception.
    """

    box: str
    connected: bool
    last_ok: float | None
    age: float | None
    rtt_ms: float | None
    stale: bool
    reason: str | None
    sshd_problem: str | None = None
    host_key_changed: bool = False


@dataclass(frozen=True)
class LogFile:
    """A log file on a node: its full path and how long since it was written."""

    path: str
    age_s: float
    size: int


@dataclass(frozen=True)
class NodeState:
    """One web node as seen from its own box.

    Fields are None when the probe could not tell (file missing, no curl).
    access_logs and error_logs list the node's files under its naming scheme,
    newest first: the first is the one being written now.
    release is the release the running site says it was started from (its
    version_url); selected_release the one its releases/current link names,
    which the site runs after its next restart. Both None when cluster.yaml
    declares no version_url / releases, or the probe could not tell.
    database is the role file's pin: the one PostgreSQL server (HOST:PORT)
    the site must use instead of its DSN's hosts; "" when the file pins
    nothing, None when the role file could not be read.
    supervisor is what the node's process supervisor says of the site
    (console/state/supervisor.py); None when cluster.yaml names none.
    """

    name: str
    box: str
    observed_at: float
    expected_role: Literal["hot", "warm"]
    role: Literal["hot", "warm"] | None
    scheduler: bool | None
    mail: Literal["real", "log"] | None
    read_only: bool | None
    role_problem: str | None
    site_alive: bool | None
    health_status: int | None
    health_latency_ms: float | None
    health_problem: str | None
    load: tuple[float, float, float] | None
    mem_total_kb: int | None
    mem_available_kb: int | None
    disk_used_pct: float | None
    access_logs: tuple[LogFile, ...]
    error_logs: tuple[LogFile, ...]
    release: str | None = None
    selected_release: str | None = None
    database: str | None = None
    supervisor: SupervisorState | None = None


def unknown_node(
    name: str, box: str, expected_role: Literal["hot", "warm"], observed_at: float
) -> NodeState:
    """A node whose box never answered: in the tables all the same, every field unknown."""
    return NodeState(
        name=name,
        box=box,
        observed_at=observed_at,
        expected_role=expected_role,
        role=None,
        scheduler=None,
        mail=None,
        read_only=None,
        role_problem=None,
        site_alive=None,
        health_status=None,
        health_latency_ms=None,
        health_problem=None,
        load=None,
        mem_total_kb=None,
        mem_available_kb=None,
        disk_used_pct=None,
        access_logs=(),
        error_logs=(),
    )


@dataclass(frozen=True)
class StandbyLink:
    """A row of pg_stat_replication on a primary: one connected standby."""

    application_name: str
    client_addr: str | None
    state: str
    sync_state: str
    sent_lsn: str | None
    write_lsn: str | None
    flush_lsn: str | None
    replay_lsn: str | None
    lag_bytes: int | None
    replay_lag_s: float | None


@dataclass(frozen=True)
class Slot:
    """A replication slot and the WAL it holds back."""

    name: str
    active: bool
    restart_lsn: str | None
    retained_bytes: int | None


@dataclass(frozen=True)
class Archiver:
    """pg_stat_archiver: is WAL being archived, and is it failing?"""

    archived_count: int
    last_archived_wal: str | None
    last_archived_time: float | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: float | None


@dataclass(frozen=True)
class DatabaseState:
    """One PostgreSQL member: its role and replication position.

    Attributes:
        role: primary or standby (pg_is_in_recovery), None if unreachable.
        writable: a primary that accepts writes by default
            (not in recovery and default_transaction_read_only off).
        timeline: a primary's current one; the one a standby follows (its
            WAL receiver's, else that of the WAL it replayed last), never its
            last checkpoint's, which lags after a switch of timeline.
        problem: why the member is unknown (role None): PostgreSQL refused or
            did not answer a new connection in time, or its box never answered.
        current_lsn: the primary's pg_current_wal_lsn.
        receive_lsn, replay_lsn: a standby's received and replayed WAL.
        replay_lag_s: a standby's time since the last replayed commit.
        upstream: the host a standby's WAL receiver streams from.
        receiver_status: pg_stat_wal_receiver.status ("streaming"...).
        last_replayed_commit: a standby's pg_last_xact_replay_timestamp (epoch s):
            the newest commit it has, what a failover keeps.
    """

    name: str
    box: str
    observed_at: float
    role: DbRole | None
    writable: bool | None
    timeline: int | None
    system_identifier: str | None
    current_lsn: str | None
    receive_lsn: str | None
    replay_lsn: str | None
    replay_paused: bool | None
    replay_lag_s: float | None
    upstream: str | None
    receiver_status: str | None
    read_only_default: bool | None
    connections: int | None
    standbys: tuple[StandbyLink, ...]
    slots: tuple[Slot, ...]
    archiver: Archiver | None
    problem: str | None
    last_replayed_commit: float | None = None


def unknown_member(name: str, box: str, observed_at: float, problem: str) -> DatabaseState:
    """A member that could not be probed: nothing known but the problem."""
    return DatabaseState(
        name=name,
        box=box,
        observed_at=observed_at,
        role=None,
        writable=None,
        timeline=None,
        system_identifier=None,
        current_lsn=None,
        receive_lsn=None,
        replay_lsn=None,
        replay_paused=None,
        replay_lag_s=None,
        upstream=None,
        receiver_status=None,
        read_only_default=None,
        connections=None,
        standbys=(),
        slots=(),
        archiver=None,
        problem=problem,
    )


@dataclass(frozen=True)
class Alarm:
    """A failed verdict: something an operator must look at.

    Attributes:
        code: stable identifier for scripts, e.g. "split-brain".
        severity: critical (act now) or warning.
        subject: the boxes, nodes or databases concerned.
        message: one sentence in an operator's words.
    """

    code: str
    severity: Severity
    subject: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class Verdicts:
    """What the parts add up to.

    ``planned`` names what an operator set on purpose and still within its
    plan ("web2 drain", "site read-only until 03:30 UTC"): said, not alarmed
    (console/state/planned.py).
    """

    primaries: tuple[str, ...]
    standbys_streaming: tuple[str, ...]
    backends_up: int
    backends_total: int
    site_mode: SiteMode | None
    site_message: str | None
    site_until: str | None
    schedulers: tuple[str, ...]
    planned: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterState:
    """The whole site at one moment; `taken_at` is epoch seconds.

    ``patroni`` is Patroni's own view, read only when cluster.yaml says
    Patroni manages the databases; None otherwise. ``action`` is the
    cluster's action lock: the action running or interrupted, or None.
    ``runbook`` is the last runbook (an upgrade), whatever its state, or None.
    ``keepalive`` is "on" when this snapshot's monitor runs keepalive (the
    shared monitor, as cluster.yaml asks), "not running" when cluster.yaml
    turns it on but this snapshot was taken by a console or command of its
    own (no keepalive acts through it), "off" when cluster.yaml leaves it off.
    """

    cluster: str
    environment: str
    colour: str
    taken_at: float
    boxes: tuple[BoxFreshness, ...]
    balancer: BalancerState | None
    nodes: tuple[NodeState, ...]
    databases: tuple[DatabaseState, ...]
    verdicts: Verdicts
    alarms: tuple[Alarm, ...]
    patroni: PatroniView | None = None
    action: ActionLock | None = None
    runbook: Runbook | None = None
    keepalive: KeepaliveMode = "off"

    def freshness(self, box: str) -> BoxFreshness | None:
        """The freshness record of BOX, if the snapshot has one."""
        return next((b for b in self.boxes if b.box == box), None)

    def answers(self, box: str) -> bool:
        """Whether this snapshot has current data from BOX."""
        fresh = self.freshness(box)
        return fresh is not None and not fresh.stale

    def standby_link(self, name: str) -> StandbyLink | None:
        """How standby NAME's upstream sees it: its row in pg_stat_replication."""
        for member in self.databases:
            for link in member.standbys:
                if link.application_name == name:
                    return link
        return None
