"""The PostgreSQL probe against the real lab: db1 primary, db2 streaming from it."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from console.inventory import Database
from console.lab.layout import PG_PORT, LabLayout
from console.probes import postgres
from console.probes.postgres import probe_database, unreachable
from console.state.model import DatabaseState
from tests.support.labclient import eventually


def member(lab: LabLayout, name: str) -> Database:
    return Database(
        name=name,
        box=name,
        host=lab.address(name),
        port=PG_PORT,
        dbname="site",
        user="hotspare",
        passfile=lab.pgpass,
        data_dir=str(lab.data_dir(name)),
        bin_dir="/usr/lib/postgresql/15/bin",
        os_user="postgres",
        become="none",
    )


async def connect(cfg: Database, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        host=cfg.host,
        port=cfg.port,
        user=cfg.user,
        dbname=cfg.dbname,
        passfile=str(cfg.passfile),
        connect_timeout=5,
        autocommit=autocommit,
    )


def probe(lab: LabLayout, name: str, autocommit: bool = True) -> tuple[DatabaseState, str]:
    """Probe NAME; also return the connection's transaction status afterwards."""

    async def run() -> tuple[DatabaseState, str]:
        cfg = member(lab, name)
        async with await connect(cfg, autocommit) as conn:
            database = await probe_database(conn, cfg, now=42.0)
            return database, conn.info.transaction_status.name

    return asyncio.run(run())


@pytest.mark.lab
def test_the_primary_is_writable_with_one_streaming_standby(lab: LabLayout) -> None:
    db1, _ = probe(lab, "db1")
    assert (db1.name, db1.box, db1.observed_at, db1.problem) == ("db1", "db1", 42.0, None)
    assert (db1.role, db1.writable, db1.read_only_default) == ("primary", True, False)
    assert db1.current_lsn and db1.timeline and db1.timeline >= 1
    assert (db1.receive_lsn, db1.replay_paused, db1.replay_lag_s, db1.receiver_status) == (
        None,
        None,
        None,
        None,
    )
    (link,) = db1.standbys
    assert (link.application_name, link.state) == ("db2", "streaming")
    assert link.lag_bytes is not None and link.lag_bytes >= 0
    assert link.client_addr and "/" not in link.client_addr
    assert db1.archiver is not None and db1.archiver.archived_count >= 0
    assert db1.connections is not None and db1.connections >= 0


@pytest.mark.lab
def test_the_standby_streams_from_the_primary_on_the_same_timeline(lab: LabLayout) -> None:
    db1, _ = probe(lab, "db1")
    db2, _ = probe(lab, "db2")
    assert (db2.role, db2.writable, db2.current_lsn) == ("standby", False, None)
    assert db2.receiver_status == "streaming"
    assert db2.upstream == lab.address("db1")
    assert db2.replay_paused is False
    assert db2.receive_lsn and db2.replay_lsn
    # Unknown (None) while WAL is arriving before any commit has been replayed.
    assert db2.replay_lag_s is None or db2.replay_lag_s >= 0
    assert db2.system_identifier == db1.system_identifier and db1.system_identifier
    assert db2.timeline == db1.timeline
    assert db2.archiver is not None and db2.archiver.archived_count >= 0


@pytest.mark.lab
def test_a_standby_reads_the_timeline_of_the_wal_it_replays(lab: LabLayout) -> None:
    """What names the timeline while its receiver is down agrees with the receiver now."""

    async def run() -> dict[str, Any]:
        async with await connect(member(lab, "db2")) as conn:
            return await postgres._fetch(conn)

    row = asyncio.run(run())
    assert row["replayed_timeline"] == row["receiver"]["received_tli"]
    assert row["history_timeline"] in (None, row["replayed_timeline"])


@pytest.mark.lab
def test_a_caught_up_standby_has_no_replay_lag(lab: LabLayout) -> None:
    # On an idle site the last replayed commit grows old: that is not lag.
    lag = eventually(lambda: probe(lab, "db2")[0].replay_lag_s == 0.0, timeout=10)
    assert lag


def test_the_primary_keeps_a_slot_for_its_standby(db_lab: LabLayout) -> None:
    # The lab's standby streams through a slot named after it (primary_slot_name
    # db2, pg_basebackup -C -S db2), as rejoin sets one up: the probe must read it.
    db1, _ = probe(db_lab, "db1")
    slots = {slot.name: slot for slot in db1.slots}
    assert "db2" in slots, slots
    slot = slots["db2"]
    assert slot.active and slot.restart_lsn
    assert slot.retained_bytes is not None and slot.retained_bytes >= 0


@pytest.mark.lab
def test_a_connection_outside_autocommit_is_left_idle(lab: LabLayout) -> None:
    database, status = probe(lab, "db2", autocommit=False)
    assert database.role == "standby"
    assert status == "IDLE"


@pytest.mark.lab
def test_a_query_that_outlives_its_timeout_is_reported(lab: LabLayout) -> None:
    async def run() -> None:
        cfg = member(lab, "db1")
        async with await connect(cfg) as conn:
            # No round trip, even on loopback, beats a microsecond.
            with pytest.raises(TimeoutError, match="no answer to the probe within 1e-06 s"):
                await probe_database(conn, cfg, now=0.0, timeout=1e-6)
            # The cancelled query left the connection usable.
            assert (await probe_database(conn, cfg, now=0.0)).role == "primary"

    asyncio.run(run())


def test_unreachable_keeps_only_the_problem() -> None:
    cfg = Database(
        name="db2",
        box="db2",
        host="10.0.0.2",
        port=5432,
        dbname="site",
        user="hotspare",
        passfile=None,
        data_dir="/var/lib/postgresql/15/main",
        bin_dir="/usr/lib/postgresql/15/bin",
        os_user="postgres",
        become="sudo",
    )
    database = unreachable(cfg, 7.0, "connection refused")
    assert (database.name, database.box, database.observed_at) == ("db2", "db2", 7.0)
    assert (database.role, database.writable, database.problem) == (
        None,
        None,
        "connection refused",
    )
    assert database.standbys == () and database.slots == () and database.archiver is None
