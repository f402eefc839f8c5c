"""Builders for verdict tests: the parts of a healthy lab-like site, changed one field at a time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from console.inventory import Balancer, Box, Database, Environment, Hooks, Inventory, WebNode
from console.state.balancer import BalancerState, Server, SiteFlags
from console.state.model import (
    Alarm,
    Archiver,
    BoxFreshness,
    ClusterState,
    DatabaseState,
    LogFile,
    NodeState,
    StandbyLink,
    Verdicts,
)
from console.state.verdicts import judge

WEB = {"web1": ("hot", True), "web2": ("hot", False), "web3": ("warm", False)}
LOG = "/var/log/site/access.{role}.{node}.log"


def inventory() -> Inventory:
    boxes = tuple(
        Box(name, f"10.0.0.{i}", 22, None, None, None, (), 5.0)
        for i, name in enumerate(["lb1", *WEB, "db1", "db2"], start=1)
    )
    web = tuple(
        WebNode(
            name=name,
            box=name,
            server=name,
            role=role,  # type: ignore[arg-type]
            scheduler=scheduler,
            health_url=f"http://{name}:8000/healthz",
            access_log=LOG.replace("{node}", name),
            error_log=f"/var/log/site/error.{name}.log",
            role_file="/etc/site/node-role",
            pid_file=None,
        )
        for name, (role, scheduler) in WEB.items()
    )
    dbs = tuple(
        Database(
            name,
            name,
            f"10.0.0.{n}",
            5432,
            "site",
            "hotspare",
            None,
            "/data",
            "/bin",
            "postgres",
            "sudo",
        )
        for name, n in (("db1", 5), ("db2", 6))
    )
    return Inventory(
        path=Path("cluster.yaml"),
        version=1,
        name="lab",
        environment=Environment("lab", "green"),
        boxes=boxes,
        balancer=Balancer("lb1", "/run/haproxy.sock", "site", "site", "/s", "/m", None),
        web_nodes=web,
        databases=dbs,
        hooks=Hooks(None, None),
    )


INV = inventory()


def box(
    name: str, stale: bool = False, age: float = 1.0, reason: str | None = None
) -> BoxFreshness:
    return BoxFreshness(name, not stale, 100.0 - age, age, 1.0, stale, reason)


def server(name: str, admin: str = "ready", operational: str = "UP") -> Server:
    return Server(name, admin, operational, "L7OK", 200, 3, 60, 0, 1, 0, 0, 0, 1)  # type: ignore[arg-type]


def balancer(*servers: Server, flags: SiteFlags | None = None) -> BalancerState:
    servers = servers or (server("web1"), server("web2"), server("web3", "maint", "MAINT"))
    return BalancerState(
        "lb1", 100.0, "site", "site", servers, 5, 2, flags or SiteFlags("normal", None, None)
    )


def node(name: str, **changes: Any) -> NodeState:
    role, scheduler = WEB[name]
    logs: tuple[LogFile, ...] = (LogFile(LOG.format(role=role, node=name), 1.0, 100),)
    if role == "warm":  # an old hot log from before it was demoted: harmless
        logs += (LogFile(LOG.format(role="hot", node=name), 3600.0, 100),)
    healthy = NodeState(
        name=name,
        box=name,
        observed_at=100.0,
        expected_role=role,  # type: ignore[arg-type]
        role=role,  # type: ignore[arg-type]
        scheduler=scheduler,
        mail="real" if scheduler else "log",
        read_only=False,
        role_problem=None,
        site_alive=True,
        health_status=200,
        health_latency_ms=3.0,
        health_problem=None,
        load=(0.1, 0.1, 0.1),
        mem_total_kb=1000,
        mem_available_kb=500,
        disk_used_pct=10.0,
        access_logs=logs,
        error_logs=(),
    )
    return replace(healthy, **changes)


def link(name: str = "db2", **changes: Any) -> StandbyLink:
    healthy = StandbyLink(
        name, "127.0.0.1", "streaming", "async", "0/3", "0/3", "0/3", "0/3", 0, 0.001
    )
    return replace(healthy, **changes)


def db(
    name: str, role: str | None = "primary", writable: bool | None = None, **changes: Any
) -> DatabaseState:
    primary = role == "primary"
    healthy = DatabaseState(
        name=name,
        box=name,
        observed_at=100.0,
        role=role,  # type: ignore[arg-type]
        writable=primary if writable is None else writable,
        timeline=1,
        system_identifier="7312",
        current_lsn="0/3" if primary else None,
        receive_lsn=None if primary else "0/3",
        replay_lsn=None if primary else "0/3",
        replay_paused=None if primary else False,
        replay_lag_s=None if primary else 0.0,
        upstream=None if primary else "10.0.0.5",
        receiver_status=None if primary else "streaming",
        read_only_default=False,
        connections=3,
        standbys=(link(),) if primary else (),
        slots=(),
        archiver=Archiver(3, "000000010000000000000002", 90.0, 0, None, None),
        problem=None,
    )
    return replace(healthy, **changes)


def healthy_parts() -> dict[str, Any]:
    return {
        "boxes": tuple(box(b.name) for b in INV.boxes),
        "balancer": balancer(),
        "nodes": tuple(node(name) for name in WEB),
        "databases": (db("db1"), db("db2", role="standby")),
    }


def run(**changes: Any) -> tuple[Verdicts, tuple[Alarm, ...]]:
    return judge(INV, **{**healthy_parts(), **changes})


def codes(**changes: Any) -> list[str]:
    return [a.code for a in run(**changes)[1]]


def only(code: str, **changes: Any) -> Alarm:
    (alarm,) = [a for a in run(**changes)[1] if a.code == code]
    return alarm


def nodes_with(name: str, **changes: Any) -> tuple[NodeState, ...]:
    return tuple(node(n, **changes) if n == name else node(n) for n in WEB)


def cluster_state(taken_at: float = 100.0, **changes: Any) -> ClusterState:
    """A whole snapshot: the healthy lab-like site with CHANGES applied."""
    parts = {**healthy_parts(), **changes}
    verdicts, alarms = run(**changes)
    return ClusterState("lab", "lab", "green", taken_at, verdicts=verdicts, alarms=alarms, **parts)
