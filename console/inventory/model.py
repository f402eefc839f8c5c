"""The loaded inventory: frozen dataclasses, collections as tuples.

Everything here has already been validated and had its defaults and
placeholders applied, so code that reads it never re-checks the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

Role = Literal["hot", "warm"]
Become = Literal["sudo", "runuser", "none"]
Manager = Literal["postgres", "patroni"]
_Named = TypeVar("_Named", "Box", "WebNode", "Database")


@dataclass(frozen=True)
class Environment:
    """What the operator is looking at: a label and the colour that marks it.

    ``observer_only`` makes every console on this environment an observer:
    nothing can be changed from it, whatever the command line says.
    """

    label: str
    colour: str
    observer_only: bool = False


@dataclass(frozen=True)
class Box:
    """A machine reached over SSH.

    ``jump`` lists the direct hops as written (box names or ``[user@]host[:port]``);
    use ``Inventory.jump_chain`` for the full route.
    """

    name: str
    address: str
    port: int | None
    user: str | None
    identity_file: Path | None
    known_hosts: Path | None
    jump: tuple[str, ...]
    connect_timeout: float


@dataclass(frozen=True)
class Balancer:
    """The HAProxy in front of the web nodes; paths are on its box.

    ``backend`` is the one the site falls back to; ``backends`` every backend
    a web node is in, ``backend`` first (two for an A/B rollover: the flags
    map's ``live`` entry picks the one serving the site).
    """

    box: str
    socket: str
    frontend: str
    backend: str
    state_file: str
    flags_map: str
    site_url: str | None
    backends: tuple[str, ...] = ()


@dataclass(frozen=True)
class Supervisor:
    """The process supervisor that runs a web node's site (``supervisor: runit:DIR``).

    Attributes:
        kind: the supervisor; "runit" (its `sv` on the box).
        service: the site's service directory on the box, absolute.
    """

    kind: str
    service: str


@dataclass(frozen=True)
class WebNode:
    """One web server behind the balancer.

    ``access_log`` still contains ``{role}`` so that the hot and the warm log
    of the same node have different names; ``access_log_for`` fills it in.
    ``releases`` is the directory holding one directory per release and the
    ``current`` link to the one the site runs; ``version_url`` answers with
    the release the running site was started from. Both are optional: a node
    without them can be upgraded, but hotspare cannot show its release.
    ``backend`` is the HAProxy backend its server is in (the balancer's
    backend unless cluster.yaml names another; "" without a balancer).
    ``supervisor`` runs its site (None: cluster.yaml names none).
    """

    name: str
    box: str
    server: str
    role: Role
    scheduler: bool
    health_url: str
    access_log: str
    error_log: str
    role_file: str
    pid_file: str | None
    releases: str | None = None
    version_url: str | None = None
    backend: str = ""
    supervisor: Supervisor | None = None

    def access_log_for(self, role: str) -> str:
        """Return the access log path this node writes while in ``role``."""
        if role not in ("hot", "warm"):
            raise ValueError(f"role must be 'hot' or 'warm', not {role!r}")
        return self.access_log.replace("{role}", role)


@dataclass(frozen=True)
class Database:
    """One PostgreSQL server (primary or standby: that is found out live).

    Attributes:
        switchover_max_lag: bytes of WAL a standby may be behind and still be
            switched over to (it must replay them while writes are stopped).
        manager: who promotes: hotspare itself ("postgres"), or Patroni
            through its REST API at ``patroni_url``.
        dcs_url: the etcd member this database's box asks for its health
            (Patroni's DCS), or None.
        patroni_namespace: Patroni's ``namespace`` setting: its keys in etcd
            (the leader lock among them) are under it.
        patroni_cacert: the CA bundle on the box that signs Patroni's REST
            certificate (https); None: the box's own CAs.
        patroni_cert: a client certificate on the box, for a Patroni that
            verifies clients (restapi.verify_client); with ``patroni_key``.
        patroni_key: that certificate's private key, on the box.
        patroni_auth: a netrc file on the box holding the user and password
            of Patroni's restapi.authentication (its unsafe endpoints).
    """

    name: str
    box: str
    host: str
    port: int
    dbname: str
    user: str
    passfile: Path | None
    data_dir: str
    bin_dir: str
    os_user: str
    become: Become
    switchover_max_lag: int = 16 * 1024 * 1024
    manager: Manager = "postgres"
    patroni_url: str | None = None
    dcs_url: str | None = None
    patroni_namespace: str = "/service/"
    patroni_cacert: str | None = None
    patroni_cert: str | None = None
    patroni_key: str | None = None
    patroni_auth: str | None = None


@dataclass(frozen=True)
class Hooks:
    """Shell commands run on a box after an action; None means no hook."""

    after_role_change: str | None
    after_scheduler_move: str | None
    upgrade: str | None = None
    restart: str | None = None


@dataclass(frozen=True)
class Upgrade:
    """How an upgrade treats the site (the ``upgrade`` section).

    Attributes:
        min_ready: never fewer ready servers than this during a roll; None:
            all of today's ready servers but one.
        smoke: URLs fetched from the balancer's box straight to a node
            ({node}, {address}) before it takes traffic again.
        soak: seconds a node is watched for 5xx answers and failed health
            checks once back in the balancer.
        check_timeout: seconds a restarted node has to answer its health URL.
    """

    min_ready: int | None = None
    smoke: tuple[str, ...] = ()
    soak: float = 30.0
    check_timeout: float = 60.0


@dataclass(frozen=True)
class AlertHook:
    """A command run on the monitor's host for each alarm transition (the ``alerts`` section).

    Attributes:
        command: the program and its arguments, run without a shell; the
            alarm goes to its standard input as one JSON document.
        severities: the alarms it is told about (a transition whose new or
            previous severity is among them).
        timeout: seconds it may run before it is killed.
    """

    command: tuple[str, ...]
    severities: tuple[str, ...] = ("critical", "warning")
    timeout: float = 10.0


@dataclass(frozen=True)
class Alerts:
    """Where alarm transitions go, and how often (docs/monitoring.md).

    Attributes:
        hooks: the commands told of each transition.
        min_interval: seconds between two calls of a hook about one alarm
            (its code and subject); what changes meanwhile is told at the end.
        max_per_minute: calls of all hooks together in any minute: an alarm
            storm cannot start hundreds of processes.
    """

    hooks: tuple[AlertHook, ...] = ()
    min_interval: float = 60.0
    max_per_minute: int = 20


@dataclass(frozen=True)
class Keepalive:
    """The monitor's keepalive (the ``keepalive`` section; off unless cluster.yaml turns it on).

    A node whose health check has not answered within ``limit`` seconds for
    ``probes`` probes in a row is drained and its site restarted through its
    supervisor, by the shared monitor: one node at a time, never the last
    one serving, at most once per node in ``min_interval`` seconds.
    """

    enabled: bool = False
    limit: float = 2.0
    probes: int = 3
    min_interval: float = 900.0


@dataclass(frozen=True)
class Inventory:
    """The whole cluster as described by one cluster.yaml."""

    path: Path
    version: int
    name: str
    environment: Environment
    boxes: tuple[Box, ...]
    balancer: Balancer | None
    web_nodes: tuple[WebNode, ...]
    databases: tuple[Database, ...]
    hooks: Hooks
    upgrade: Upgrade = Upgrade()
    alerts: Alerts = Alerts()
    keepalive: Keepalive = Keepalive()

    def box(self, name: str) -> Box:
        """Return the box called ``name``; raise KeyError if there is none."""
        return _find(self.boxes, name, "box")

    def web_node(self, name: str) -> WebNode:
        """Return the web node called ``name``; raise KeyError if there is none."""
        return _find(self.web_nodes, name, "web node")

    def database(self, name: str) -> Database:
        """Return the database called ``name``; raise KeyError if there is none."""
        return _find(self.databases, name, "database")

    def jump_chain(self, name: str) -> tuple[str, ...]:
        """Return every hop to reach box ``name``, first hop first.

        Hops through other boxes are expanded with those boxes' own hops, so
        the result reads like an ssh ``ProxyJump`` list. The loader has
        already refused cycles.
        """
        chain: list[str] = []
        for hop in self.box(name).jump:
            if any(b.name == hop for b in self.boxes):
                chain.extend(self.jump_chain(hop))
            chain.append(hop)
        return tuple(chain)


def _find(items: tuple[_Named, ...], name: str, what: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {what} named {name!r}")
