"""An inventory made from a recording, for replaying one whose cluster.yaml is not here.

The console reads the inventory for the names it lays out (the boxes, the
web nodes and the box each is on, the databases, the balancer's box and
backends) and the environment's label and colour; the snapshots recorded
hold every one of these. What they do not hold (addresses, paths, URLs)
is left empty: a replay connects to nothing. A web node's HAProxy server
is taken to bear the node's name, as it does unless cluster.yaml says
otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from console.inventory import Balancer, Box, Database, Environment, Hooks, Inventory, WebNode
from console.state.model import ClusterState


def inventory_of(states: Iterable[ClusterState], source: Path) -> Inventory:
    """An inventory naming everything STATES show (the first one's cluster), read from SOURCE."""
    seen = list(states)
    first = seen[0]
    boxes: dict[str, Box] = {}
    nodes: dict[str, WebNode] = {}
    databases: dict[str, Database] = {}
    balancer: Balancer | None = None
    patroni = any(s.patroni is not None for s in seen)
    for state in seen:
        for fresh in state.boxes:
            boxes.setdefault(fresh.box, Box(fresh.box, "", None, None, None, None, (), 0.0))
        for node in state.nodes:
            nodes.setdefault(node.name, _web_node(node.name, node.box, node.expected_role))
        for db in state.databases:
            databases.setdefault(db.name, _database(db.name, db.box, patroni))
        lb = state.balancer
        if lb is not None and balancer is None:
            backends = dict.fromkeys([lb.backend, *(s.backend for s in lb.servers if s.backend)])
            balancer = Balancer(lb.box, "", lb.frontend, lb.backend, "", "", None, tuple(backends))
    return Inventory(
        path=source,
        version=1,
        name=first.cluster,
        environment=Environment(first.environment, first.colour, observer_only=True),
        boxes=tuple(boxes.values()),
        balancer=balancer,
        web_nodes=tuple(nodes.values()),
        databases=tuple(databases.values()),
        hooks=Hooks(None, None),
    )


def _web_node(name: str, box: str, role: str) -> WebNode:
    return WebNode(
        name=name,
        box=box,
        server=name,
        role="warm" if role == "warm" else "hot",
        scheduler=False,
        health_url="",
        access_log="",
        error_log="",
        role_file="",
        pid_file=None,
    )


def _database(name: str, box: str, patroni: bool) -> Database:
    return Database(
        name,
        box,
        host="",
        port=0,
        dbname="",
        user="",
        passfile=None,
        data_dir="",
        bin_dir="",
        os_user="",
        become="none",
        manager="patroni" if patroni else "postgres",
    )
