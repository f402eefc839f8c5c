"""The HAProxy balancer as a probe saw it: its servers, traffic and site flags.

Part of the ClusterState snapshot (console.state.model); the names follow
its rule: what a probe observed ends in State.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AdminState = Literal["ready", "drain", "maint"]
SiteMode = Literal["normal", "read-only", "maintenance"]


@dataclass(frozen=True)
class Server:
    """One HAProxy server (a web node) as the balancer sees it.

    Attributes:
        name: the server name in the backend.
        admin: ready, drain or maint (what the operator set).
        operational: HAProxy's status word: UP, DOWN, NOLB, MAINT, "UP 1/2"...
        check_status: last health check result (L7OK, L4CON, L7STS...), or "".
        check_code: HTTP status of the last check, if any.
        check_duration_ms: how long the last check took.
        last_change_s: seconds since the operational state last changed.
        sessions: current sessions; max_sessions: the most seen.
        queue: requests waiting for this server.
        session_rate: new sessions per second.
        http_5xx: 5xx responses counted since start.
        weight: current effective weight.
        backend: the backend it is a server of ("": the balancer's backend).
    """

    name: str
    admin: AdminState
    operational: str
    check_status: str
    check_code: int | None
    check_duration_ms: int | None
    last_change_s: int | None
    sessions: int
    max_sessions: int
    queue: int
    session_rate: int
    http_5xx: int
    weight: int
    backend: str = ""


@dataclass(frozen=True)
class SiteFlags:
    """The site-wide mode from the balancer's flags map.

    ``problem`` says why the map could not be read as written (an unknown
    mode, which HAProxy ignores); None when it reads cleanly.
    """

    mode: SiteMode
    message: str | None
    until: str | None
    problem: str | None = None


@dataclass(frozen=True)
class BalancerState:
    """The HAProxy balancer: its servers, traffic and the site flags.

    ``problem`` says why the last probe failed although the box answered
    (HAProxy hung, its socket refused): the rest is then the last known
    picture, from ``observed_at``, and stale. ``servers`` are those of every
    backend cluster.yaml declares; ``live`` is the one serving the site (the
    flags map's ``live`` entry, else ``backend``); ``live_problem`` says the
    map sends the site to a backend cluster.yaml does not declare.
    """

    box: str
    observed_at: float
    frontend: str
    backend: str
    servers: tuple[Server, ...]
    frontend_request_rate: int
    frontend_sessions: int
    flags: SiteFlags
    problem: str | None = None
    live: str = ""
    live_problem: str | None = None

    @property
    def live_backend(self) -> str:
        """The backend serving the site: ``live``, else the balancer's backend."""
        return self.live or self.backend

    def in_backend(self, server: Server) -> str:
        """The backend SERVER is in (a server read without one is in ``backend``)."""
        return server.backend or self.backend

    @property
    def serving(self) -> tuple[Server, ...]:
        """The servers of the live backend: those that count for the site."""
        return tuple(s for s in self.servers if self.in_backend(s) == self.live_backend)
