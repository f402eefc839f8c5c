"""Shared by the Patroni tests: the fixtures and a Patroni-managed inventory and state."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from console.inventory import Inventory
from console.probes.patroni import parse_cluster
from console.state.model import ClusterState
from console.state.patroni import PatroniView
from tests.support import verdict_parts as parts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "patroni"
URL = "http://127.0.0.1:8008"


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def view(name: str, observed_at: float = 100.0) -> PatroniView:
    return parse_cluster(fixture(name), observed_at)


def answered(body: str, status: int = 200, exit: int = 0) -> str:
    """What an http.Request.command() line prints: the body, the HTTP status, curl's exit status."""
    return f"{body}\nhotspare-http {status:03d}\nhotspare-curl {exit}\n"


def patroni_inventory(**changes: Any) -> Inventory:
    dbs = tuple(
        replace(d, manager="patroni", patroni_url=URL, **changes) for d in parts.INV.databases
    )
    return replace(parts.INV, databases=dbs)


INV = patroni_inventory()


def state_with(patroni: PatroniView | None) -> ClusterState:
    return replace(parts.cluster_state(), patroni=patroni)
