"""The role file's database pin: the site follows it, the probe and the detail screen show it."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from console import node_role
from console.events import Event
from console.inventory import Inventory, WebNode
from console.lab.layout import PG_PORT, LabLayout
from console.lab.site.db import Database, DbUnavailable, pinned_dsn
from console.lab.site.errorlog import ErrorLog
from console.lab.site.rolewatch import RoleWatcher
from console.node_role import NodeRole
from console.probes.haproxy import parse_stat
from console.probes.node import parse
from console.state.model import ClusterState
from screens.detail import describe
from tests.support.labclient import eventually, haproxy, http
from tests.support.verdict_parts import INV, cluster_state, node

DSN = "host=10.0.0.21,10.0.0.22 port=5432,5432 dbname=site user=site target_session_attrs=primary"


# --- the site's connections -------------------------------------------------------------------


def test_a_pin_replaces_the_dsns_hosts_and_keeps_the_rest() -> None:
    assert pinned_dsn(DSN, "") == DSN
    params = conninfo_to_dict(pinned_dsn(DSN, "10.0.0.31:6432"))
    assert params == {
        "host": "10.0.0.31",
        "port": "6432",
        "dbname": "site",
        "user": "site",
        "target_session_attrs": "primary",
    }
    uri = "postgresql://site@a,b/site?hostaddr=10.0.0.1,10.0.0.2&connect_timeout=2"
    params = conninfo_to_dict(pinned_dsn(uri, "db-b.example.com:5432"))
    assert (params["host"], params["port"], params["connect_timeout"]) == (
        "db-b.example.com",
        "5432",
        "2",
    )
    assert "hostaddr" not in params  # it would win over the pinned host


def test_every_connection_asks_for_the_pin_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = iter(["10.0.0.31:5432", "10.0.0.31:5432", "", "10.0.0.32:5433"])
    tried: list[str] = []

    def refuse(conninfo: str, **kwargs: Any) -> None:
        tried.append(conninfo)
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(psycopg, "connect", refuse)
    database = Database(DSN, "web1", pin=lambda: next(pins))
    problems = []
    for query in (database.health, database.latest_notes, database.health, database.write_probe):
        with pytest.raises(DbUnavailable) as info:
            query()
        problems.append(str(info.value))
    hosts = [(conninfo_to_dict(c)["host"], conninfo_to_dict(c)["port"]) for c in tried]
    assert hosts == [
        ("10.0.0.31", "5432"),
        ("10.0.0.31", "5432"),
        ("10.0.0.21,10.0.0.22", "5432,5432"),
        ("10.0.0.32", "5433"),
    ]
    assert problems[0].startswith("cannot connect to the primary pinned at 10.0.0.31:5432: ")
    assert problems[2].startswith("cannot connect to the primary: ")


def test_the_error_log_says_each_pin_change_once(tmp_path: Path) -> None:
    role_file = tmp_path / "node-role"
    errlog = ErrorLog(str(tmp_path / "error.{node}.log"), "web1")
    watcher = RoleWatcher(role_file, errlog)
    steps = [
        NodeRole(role="hot", database="10.0.0.31:5432"),
        NodeRole(role="hot", database="10.0.0.32:5432"),
        NodeRole(role="warm", database="10.0.0.32:5432"),
        NodeRole(role="warm"),
    ]
    for role in steps:
        node_role.write(role_file, role)
        for _ in range(3):
            assert watcher.current() == role
    errlog.close()
    logged = (tmp_path / "error.web1.log").read_text().splitlines()
    lines = [line.split("] ", 2)[-1] for line in logged]  # after the time and the level
    said = [line for line in lines if "database" in line or "role changed" in line]
    assert said == [
        "database pinned to 10.0.0.31:5432",
        "database pinned to 10.0.0.32:5432",
        "role changed: role=hot->warm",
        "database pin lifted: using the DSN's hosts",
    ], lines


# --- the probe and the detail screen ----------------------------------------------------------

WEB1 = WebNode(
    name="web1",
    box="web1",
    server="web1",
    role="hot",
    scheduler=True,
    health_url="http://10.0.0.11:8000/healthz",
    access_log="/srv/site/log/access.{role}.web1.log",
    error_log="/srv/site/log/error.web1.log",
    role_file="/srv/site/etc/node-role",
    pid_file=None,
)


def _probed_pin(role_line: str) -> str | None:
    return parse(f"now 1000\n{role_line}\n", WEB1, 1000.0).database


def test_the_probe_reads_the_pin_from_the_role_file() -> None:
    pinned = node_role.render(NodeRole(role="hot", database="10.0.0.31:5432"))
    assert _probed_pin("role " + base64.b64encode(pinned.encode()).decode()) == "10.0.0.31:5432"
    assert _probed_pin("role " + base64.b64encode(b"role=hot\n").decode()) == ""
    assert _probed_pin("role missing") is None
    assert _probed_pin("role " + base64.b64encode(b"database=nowhere\n").decode()) is None


@dataclass
class Source:
    state: ClusterState | None
    inv: Inventory = INV
    events: list[Event] = field(default_factory=list)
    clock: Any = lambda: 100.0


def _database_line(pin: str | None) -> str:
    state = cluster_state(nodes=(node("web1", database=pin), node("web2"), node("web3")))
    text = str(describe(Source(state), "web1"))
    return next(line for line in text.splitlines() if line.strip().startswith("database "))


def test_the_detail_screen_shows_the_pin_or_the_dsns_hosts() -> None:
    assert _database_line("10.0.0.31:5432").split() == ["database", "10.0.0.31:5432"]
    assert _database_line("").split(None, 1) == ["database", "the DSN's hosts (no pin)"]
    assert _database_line(None).split() == ["database", "—"]


# --- the real lab -----------------------------------------------------------------------------


def _health(lab: LabLayout) -> tuple[int, str]:
    return http(lab.node_url("web1") + "healthz")


def _role(lab: LabLayout) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(http(lab.node_url("web1") + "role")[1])
    return answer


def _up_in_haproxy(lab: LabLayout) -> bool:
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    return any(r.get("svname") == "web1" and r["status"] == "UP" for r in rows)


@pytest.fixture
def web1_role(db_lab: LabLayout) -> Iterator[NodeRole]:
    """web1's role before the test; put back after it, and web1 UP in HAProxy again."""
    path = db_lab.role_file("web1")
    before = node_role.read(path)
    try:
        yield before
    finally:
        node_role.write(path, before)
        eventually(lambda: _role(db_lab)["database"] == before.database)
        eventually(lambda: _health(db_lab)[0] == 200)
        eventually(lambda: _up_in_haproxy(db_lab), timeout=20)


def test_a_node_pinned_to_the_standby_fails_health_until_pinned_back(
    db_lab: LabLayout, web1_role: NodeRole
) -> None:
    lab, path = db_lab, db_lab.role_file("web1")
    assert web1_role.database == "" and _role(lab)["database"] == ""
    standby, primary = f"{lab.address('db2')}:{PG_PORT}", f"{lab.address('db1')}:{PG_PORT}"

    node_role.write(path, replace(web1_role, database=standby))
    eventually(lambda: _role(lab)["database"] == standby)
    _, text = eventually(lambda: (s := _health(lab))[0] == 503 and s)
    assert f"pinned at {standby}" in text and "standby" in text, text

    node_role.write(path, replace(web1_role, database=primary))
    eventually(lambda: _role(lab)["database"] == primary)
    assert _health(lab)[0] == 200

    node_role.write(path, web1_role)
    eventually(lambda: _role(lab)["database"] == "")
    assert _health(lab) == (200, f"ok role={web1_role.role} db=primary\n")
    # Other tests write hostile bytes into this log: read it as the console does, lossy.
    path_log = Path(lab.error_log_pattern("web1").format(node="web1"))
    log = path_log.read_bytes().decode(errors="replace")
    assert f"database pinned to {standby}" in log
    assert f"database pinned to {primary}" in log
    assert "database pin lifted: using the DSN's hosts" in log
