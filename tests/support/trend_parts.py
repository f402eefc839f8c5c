"""A minute of a busy site, snapshot by snapshot: traffic, 5xx, latency and lag that move."""

from __future__ import annotations

from dataclasses import replace

from console.state.model import ClusterState
from tests.support.verdict_parts import WEB, balancer, cluster_state, db, node, server


def busy(step: int, requests: int = 40, errors: int = 0, latency: float = 20.0) -> ClusterState:
    """Snapshot STEP (2 s apart) of a site serving REQUESTS/s, web2's 5xx at ERRORS in all.

    The nodes answer their health check in LATENCY ms, web2 eight times slower.
    """
    at = 100.0 + 2 * step
    servers = (
        server("web1"),
        replace(server("web2"), http_5xx=errors),
        server("web3", "maint", "MAINT"),
    )
    lb = replace(balancer(*servers), observed_at=at, frontend_request_rate=requests)
    nodes = tuple(
        replace(node(n), observed_at=at, health_latency_ms=latency * (8 if n == "web2" else 1))
        for n in WEB
    )
    standby = db("db2", role="standby", observed_at=at, replay_lag_s=0.5 * (step % 5))
    return cluster_state(
        taken_at=at, balancer=lb, nodes=nodes, databases=(db("db1", observed_at=at), standby)
    )


def busy_minute(points: int = 30) -> list[ClusterState]:
    """POINTS snapshots of a site whose traffic rises and falls, with a burst of 5xx."""
    states = []
    errors = 0
    for step in range(points):
        errors += 6 if 10 <= step < 14 else 0  # 3 5xx/s for 8 s
        wave = (0, 2, 5, 9, 12, 9, 5, 2)[step % 8]
        states.append(busy(step, 30 + 5 * wave, errors, 15.0 + 5 * (step % 4)))
    return states
