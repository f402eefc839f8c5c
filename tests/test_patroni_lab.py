"""The Patroni lab, for real: three etcd members, Patroni on db1-db3, HAProxy by /primary.

`hotspare lab up --engine patroni` brings up etcd (Debian's etcd-server, the
v3 API) and Patroni (the lab's own venv) on the three db boxes. These tests
ask the real etcd, the real Patroni REST API, the real HAProxy and the real
PostgreSQL; the last one stops the lab and brings it back with its data.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from console.lab import control, patroni, patroni_tls, procs
from console.lab.layout import DB_PRIMARY_PORT, DB_REPLICA_PORT, LabLayout
from tests.support.labclient import db, eventually, haproxy, hotspare, http

pytestmark = pytest.mark.lab


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def _members(lab: LabLayout) -> dict[str, dict[str, Any]]:
    found = patroni.cluster(lab)
    assert found is not None, "no Patroni answered GET /cluster"
    return {m["name"]: m for m in found["members"]}


def _through(lab: LabLayout, port: int) -> tuple[str, bool]:
    """(the address of the member behind lb1:PORT, whether it is in recovery)."""
    with psycopg.connect(
        host=lab.address("lb1"),
        port=port,
        user="hotspare",
        dbname="site",
        passfile=str(lab.pgpass),
        connect_timeout=5,
        autocommit=True,
    ) as conn:
        row = conn.execute("SELECT host(inet_server_addr()), pg_is_in_recovery()").fetchone()
    assert row is not None
    return str(row[0]), bool(row[1])


def test_etcd_has_three_healthy_members_and_patroni_one_leader_and_two_streaming_replicas(
    patroni_lab: LabLayout,
) -> None:
    lab = patroni_lab
    for db_name in lab.db_names:
        assert _get(f"{lab.etcd_url(db_name)}/health")["health"] == "true"
    # The v3 API (through etcd's gRPC gateway): three members, each on its own box.
    listed = _post(f"{lab.etcd_url('db1')}/v3/cluster/member/list", {})
    names = sorted(m["name"] for m in listed["members"])
    assert names == ["db1", "db2", "db3"], listed
    members = eventually(lambda: _members(lab) if len(_members(lab)) == 3 else None, 30)
    leaders = [m for m in members.values() if m["role"] == "leader"]
    assert len(leaders) == 1 and leaders[0]["state"] == "running", members
    replicas = [m for m in members.values() if m["role"] != "leader"]
    assert all(m["state"] == "streaming" for m in replicas), members
    assert {m["timeline"] for m in members.values()} == {leaders[0]["timeline"]}
    # The lab's short timing is what Patroni runs with (DCS config).
    config = patroni_tls.rest(lab, "db1", "config")
    assert (config["ttl"], config["loop_wait"], config["retry_timeout"]) == (20, 2, 5)
    # Patroni, not the lab, started every postmaster (with its own command line).
    status = control.status(lab)
    assert status.up and status.engine == "patroni", status
    assert not any(name.startswith("postgres-") for name in procs.recorded(lab.pid_dir))
    running = {s.name: s.pid for s in status.services}
    for db_name in lab.db_names:
        argv = Path(f"/proc/{running[f'postgres-{db_name}']}/cmdline").read_bytes().split(b"\0")
        assert f"--config-file={lab.data_dir(db_name)}/postgresql.conf".encode() in argv, argv
    assert status.patroni_urls == {d: f"https://{lab.address(d)}:8008/" for d in lab.db_names}
    assert status.etcd_endpoints == tuple(f"http://{lab.address(d)}:2379" for d in lab.db_names)


def test_haproxy_sends_the_primary_port_to_the_leader_alone_by_patronis_check(
    patroni_lab: LabLayout,
) -> None:
    lab = patroni_lab
    leader = patroni.leader(lab)
    assert leader is not None
    assert _through(lab, DB_PRIMARY_PORT) == (lab.address(leader), False)
    address, in_recovery = _through(lab, DB_REPLICA_PORT)
    assert in_recovery and address != lab.address(leader)
    stat = asyncio.run(haproxy(lab, "show stat"))
    rows = [line.split(",") for line in stat.splitlines() if line.startswith("db_primary,db")]
    states = {row[1]: row[17] for row in rows}
    assert states == {d: ("UP" if d == leader else "DOWN") for d in lab.db_names}, states


def test_the_site_writes_through_its_multi_host_string_and_the_replicas_have_it(
    patroni_lab: LabLayout,
) -> None:
    lab = patroni_lab
    tag = f"patroni-{time.time():.0f}"
    status, body = http(f"{lab.site_url}notes", {"body": tag})
    assert status in (200, 201, 303), body[:300]
    leader = patroni.leader(lab)
    for member in lab.db_names:
        if member == leader:
            continue

        def has_it(member: str = member) -> bool:
            with db(lab, member) as conn:
                row = conn.execute("SELECT count(*) FROM notes WHERE body = %s", (tag,)).fetchone()
            return row is not None and row[0] == 1

        eventually(has_it, timeout=10)


def test_hotspare_status_reads_the_three_members(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    leader = patroni.leader(lab)
    code, state = hotspare(lab, capsys, "status")
    assert code == 0, state
    verdicts = state["verdicts"]
    assert verdicts["primaries"] == [leader]
    assert sorted(verdicts["standbys_streaming"]) == sorted(d for d in lab.db_names if d != leader)
    assert verdicts["site_mode"] == "normal"


def test_down_stops_everything_by_pid_and_up_brings_the_cluster_back_with_its_data(
    patroni_lab: LabLayout,
) -> None:
    lab = patroni_lab
    lines: list[str] = []
    tag = f"kept-{time.time():.0f}"
    assert http(f"{lab.site_url}notes", {"body": tag})[0] in (200, 201, 303)
    recorded = procs.recorded(lab.pid_dir)
    assert {f"etcd-{d}" for d in lab.db_names} | {f"patroni-{d}" for d in lab.db_names} <= set(
        recorded
    )
    after = control.down(lab, lines.append)
    assert after.listeners == (), after.listeners
    assert not any(s.running for s in after.services)
    assert not any(procs.is_alive(proc) for proc in recorded.values())
    # Up again on the data it had: all three Patroni start at once and elect a leader.
    again = control.up(lab, lines.append)
    assert again.up, again
    leader = patroni.leader(lab)
    assert leader is not None
    with db(lab, leader) as conn:
        row = conn.execute("SELECT count(*) FROM notes WHERE body = %s", (tag,)).fetchone()
    assert row == (1,), "a write acknowledged before `lab down` is gone after `lab up`"
