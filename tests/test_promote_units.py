"""The promotion's pure parts without a lab: WAL positions, control data, commands, settings."""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from console.actions.database import server
from console.actions.database.rejoin import keep_dir, parse_history, segment_name
from console.actions.database.replication import conf_string, parse_auto_conf, point_at
from console.errors import ActionError
from console.inventory import Inventory, InventoryError, load
from console.units import lsn
from tests.support import verdict_parts as parts
from tests.support.labclient import eventually

GOOD_LAB = Path(__file__).resolve().parent / "inventory_cases" / "good_lab.yaml"
INV = parts.INV
DB1 = INV.database("db1")
DB2 = INV.database("db2")

# pg_controldata of a PostgreSQL 15 primary just after a clean fast shutdown (LC_ALL=C).
CONTROLDATA = """\
pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7312345678901234567
Database cluster state:               shut down
pg_control last modified:             Tue 26 Nov 2024 02:10:20 AM UTC
Latest checkpoint location:           0/4000028
Latest checkpoint's REDO location:    0/4000028
Latest checkpoint's REDO WAL file:    000000010000000000000004
Latest checkpoint's TimeLineID:       1
Latest checkpoint's PrevTimeLineID:   1
Latest checkpoint's full_page_writes: on
Latest checkpoint's NextXID:          0:740
Latest checkpoint's NextOID:          16391
Time of latest checkpoint:            Tue 26 Nov 2024 02:10:20 AM UTC
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
Backup start location:                0/0
Backup end location:                  0/0
End-of-backup record required:        no
wal_level setting:                    replica
wal_log_hints setting:                on
Maximum data alignment:               8
Database block size:                  8192
Bytes per WAL segment:                16777216
Maximum size of a TOAST chunk:        1996
Data page checksum version:           0
Mock authentication nonce:            4a1b6c9e0d2f3a4b5c6d7e8f9a0b1c2d
"""


# --- pgserver --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0/3000028", 0x3000028),
        ("16/B374D848", (0x16 << 32) + 0xB374D848),
        (" 0/0\n", 0),
    ],
)
def test_a_wal_position_is_a_number_of_bytes(text: str, number: int) -> None:
    assert lsn(text) == number


@pytest.mark.parametrize("text", ["3000028", "", "0/", "x/1", "1/2/3"])
def test_what_is_not_a_wal_position_raises(text: str) -> None:
    with pytest.raises(ValueError):
        lsn(text)


def test_controldata_reads_every_line_values_with_colons_whole() -> None:
    control = server.parse_controldata(CONTROLDATA)
    assert control["Database cluster state"] == "shut down"
    assert control["Latest checkpoint location"] == "0/4000028"
    assert control["Latest checkpoint's TimeLineID"] == "1"
    assert control["Bytes per WAL segment"] == "16777216"
    assert control["Latest checkpoint's NextXID"] == "0:740"
    assert control["Time of latest checkpoint"] == "Tue 26 Nov 2024 02:10:20 AM UTC"
    assert len(control) == CONTROLDATA.count("\n")


COMMAND = """psql -c "SELECT 'a b'" -d 'my db'"""


def test_as_owner_without_become_is_the_command_itself() -> None:
    assert server.as_owner(replace(DB1, become="none"), COMMAND) == COMMAND


@pytest.mark.parametrize(
    ("become", "how"), [("sudo", ["sudo", "-n", "-u"]), ("runuser", ["runuser", "-u"])]
)
def test_as_owner_quotes_the_command_so_it_arrives_whole(become: str, how: list[str]) -> None:
    line = server.as_owner(replace(DB1, become=become), COMMAND)  # type: ignore[arg-type]
    assert shlex.split(line) == [*how, "postgres", "--", "sh", "-c", COMMAND]


PG_DB = replace(DB1, data_dir="/srv/pg data/15/main/", bin_dir="/usr/lib/postgresql/15/bin")


@pytest.mark.parametrize(
    ("verb", "args"),
    [
        ("start", ["start", "-w", "-t", "60", "-l", "/srv/pg data/15/log/postgresql.log"]),
        ("status", ["status"]),
    ],
)
def test_pg_ctl_lines(verb: str, args: list[str]) -> None:
    line = server.pg_ctl(PG_DB, verb)
    pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl"
    assert shlex.split(line) == [pg_ctl, "-D", "/srv/pg data/15/main/", *args]


@pytest.mark.parametrize(
    ("data_dir", "log"),
    [
        ("/var/lib/postgresql/15/main", "/var/lib/postgresql/15/log/postgresql.log"),
        ("/var/lib/postgresql/15/main/", "/var/lib/postgresql/15/log/postgresql.log"),
    ],
)
def test_the_server_log_is_beside_the_data_directory(data_dir: str, log: str) -> None:
    assert server.server_log(replace(DB1, data_dir=data_dir)) == log


@pytest.mark.parametrize(
    ("host", "reached"),
    [
        ("/var/run/postgresql", "10.0.0.5"),
        ("localhost", "10.0.0.5"),
        ("127.0.0.1", "10.0.0.5"),
        ("::1", "10.0.0.5"),
        ("db1.example.net", "db1.example.net"),
        ("192.168.7.21", "192.168.7.21"),
    ],
)
def test_a_local_listen_address_is_reached_at_the_boxs_address(host: str, reached: str) -> None:
    assert server.reachable_host(INV, replace(DB1, host=host)) == reached


# --- rejoin's arithmetic -------------------------------------------------------------------


def test_a_history_file_maps_each_parent_timeline_to_its_fork() -> None:
    body = (
        "1\t0/4000028\tno recovery target specified\n2\t0/60000A0\tno recovery target specified\n"
    )
    assert parse_history(body) == {1: "0/4000028", 2: "0/60000A0"}


def test_a_history_file_skips_comments_and_blank_lines() -> None:
    body = "# made by hand\n\n1\t0/4000028\tbefore transaction 740\n  \n"
    assert parse_history(body) == {1: "0/4000028"}


@pytest.mark.parametrize(
    ("timeline", "position", "size", "name"),
    [
        (1, "0/4000028", 16 * 1024 * 1024, "000000010000000000000004"),
        (1, "0/FFFFFFFF", 16 * 1024 * 1024, "0000000100000000000000FF"),
        (2, "1/3000000", 16 * 1024 * 1024, "000000020000000100000003"),  # past 4 GB
        (10, "16/B374D848", 16 * 1024 * 1024, "0000000A00000016000000B3"),
        (1, "0/C000000", 64 * 1024 * 1024, "000000010000000000000003"),
        (3, "2/BFFFFFF", 64 * 1024 * 1024, "000000030000000200000002"),
    ],
)
def test_segment_name_is_the_wal_file_holding_the_position(
    timeline: int, position: str, size: int, name: str
) -> None:
    assert segment_name(timeline, lsn(position), size) == name


def test_diverged_wal_is_kept_beside_the_data_directory() -> None:
    assert keep_dir(replace(DB1, data_dir="/var/lib/pg/main/")) == "/var/lib/pg/main.hotspare-kept"


# --- the standby's connection ----------------------------------------------------------


def test_auto_conf_last_value_wins_and_doubled_quotes_are_one() -> None:
    text = (
        "# Do not edit this file manually!\n"
        "primary_conninfo = 'host=old user=rep'\n"
        "primary_slot_name = 'db2'\n"
        "#primary_conninfo = 'commented out'\n"
        "primary_conninfo = 'user=rep application_name=''x y'' passfile=/p'\n"
    )
    assert (
        parse_auto_conf(text, "primary_conninfo") == "user=rep application_name='x y' passfile=/p"
    )
    assert parse_auto_conf(text, "primary_slot_name") == "db2"
    assert parse_auto_conf(text, "restore_command") is None


CONNINFO = (
    "user=replicator passfile=/var/lib/postgresql/.pgpass host=10.0.0.5 hostaddr=10.0.0.5 "
    "port=5432 application_name=db2 replication=true sslmode=prefer"
)
PRIMARY = replace(DB2, host="/var/run/postgresql", port=5433)


def _params(conninfo: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    return {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}


def test_a_standby_connects_to_the_primary_under_its_own_name() -> None:
    assert _params(point_at(CONNINFO, INV, DB1, PRIMARY, rewind=False)) == {
        "user": "replicator",
        "passfile": "/var/lib/postgresql/.pgpass",
        "host": "10.0.0.6",
        "port": "5433",
        "application_name": "db1",
        "sslmode": "prefer",
    }


def test_pg_rewind_connects_to_a_database_without_a_name() -> None:
    assert _params(point_at(CONNINFO, INV, DB1, PRIMARY, rewind=True)) == {
        "user": "replicator",
        "passfile": "/var/lib/postgresql/.pgpass",
        "host": "10.0.0.6",
        "port": "5433",
        "dbname": "site",
        "sslmode": "prefer",
    }


@pytest.mark.parametrize("conninfo", ["not a conninfo", "host='open", "bogus=1"])
def test_a_broken_conninfo_is_an_action_error(conninfo: str) -> None:
    with pytest.raises(ActionError, match="cannot read primary_conninfo"):
        point_at(conninfo, INV, DB1, PRIMARY, rewind=False)


# --- switchover_max_lag in cluster.yaml --------------------------------------------------


def _load_with(tmp_path: Path, added: str) -> Inventory:
    text = GOOD_LAB.read_text().replace(
        "  db2: {host: 127.0.10.22}", f"  db2: {{host: 127.0.10.22, {added}}}"
    )
    assert added in text
    (tmp_path / "cluster.yaml").write_text(text)
    return load(tmp_path / "cluster.yaml")


@pytest.mark.parametrize(
    ("given", "size"),
    [("16MB", 16 * 1024 * 1024), ("1kB", 1024), ("1024", 1024), ("2GB", 2 * 1024**3), ("0", 0)],
)
def test_switchover_max_lag_takes_postgres_units(tmp_path: Path, given: str, size: int) -> None:
    inv = _load_with(tmp_path, f"switchover_max_lag: {given}")
    assert inv.database("db2").switchover_max_lag == size
    assert inv.database("db1").switchover_max_lag == 16 * 1024 * 1024  # the default


@pytest.mark.parametrize("given", ["-1", "16 MiB", "true", "lots", "16mb", "1.5GB"])
def test_a_bad_switchover_max_lag_names_the_key(tmp_path: Path, given: str) -> None:
    with pytest.raises(InventoryError) as info:
        _load_with(tmp_path, f"switchover_max_lag: {given}")
    (problem,) = info.value.problems
    assert problem.key == "databases.db2.switchover_max_lag"
    assert "expected a size such as 16MB, 512kB or 1GB" in problem.message


# (manager: patroni without patroni_url: tests/test_inventory.py already refuses it.)


@pytest.mark.parametrize(
    "value", ["user=rep passfile=/home/o\\'brien/.pgpass", "a\\\\b", "x''y", "plain"]
)
def test_a_conf_string_reads_back_as_written(value: str) -> None:
    # PostgreSQL reads a backslash as an escape in these files, and doubles quotes.
    line = f"primary_conninfo = {conf_string(value)}"
    assert parse_auto_conf(line, "primary_conninfo") == value
    if "'" in value and "\\" in value:
        assert "\\\\''" in line  # the backslash doubled, then the quote doubled


def _sh(line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=10)


def _state(pid: int) -> str:
    """PID's state letter in /proc (R, S, Z...): the field after the name in parentheses."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_postmaster_is_alive_only_as_a_live_process_in_its_data_directory(
    tmp_path: Path,
) -> None:
    # The shell test run by sh on local processes: a crash leaves postmaster.pid behind.
    data = tmp_path / "pg data"
    data.mkdir()
    db = replace(DB1, data_dir=str(data))
    test = f"if {server.alive(db)}; then echo alive; else echo gone; fi"
    assert _sh(test).stdout.strip() == "gone"  # no postmaster.pid
    with subprocess.Popen(["sleep", "30"], cwd=data) as inside:
        (data / "postmaster.pid").write_text(f"{inside.pid}\n{data}\n")
        assert _sh(test).stdout.strip() == "alive"
        inside.kill()
    with subprocess.Popen(["sleep", "30"], cwd=tmp_path) as elsewhere:  # a reused pid
        (data / "postmaster.pid").write_text(f"{elsewhere.pid}\n")
        assert _sh(test).stdout.strip() == "gone"
        elsewhere.kill()
    zombie = subprocess.Popen(["sh", "-c", "exit 0"], cwd=data)  # not waited for: a zombie
    eventually(lambda: _state(zombie.pid) == "Z", timeout=10, every=0.01)
    (data / "postmaster.pid").write_text(f"{zombie.pid}\n")
    assert _sh(test).stdout.strip() == "gone"
    zombie.wait()


def test_stop_and_wait_returns_once_the_postmaster_has_exited(tmp_path: Path) -> None:
    # The line run by sh on local files: a pg_ctl that ends the "postmaster" a little later.
    data = tmp_path / "pg data"
    data.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pg_ctl"
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/args\n'
        '(sleep 0.2; kill "$(head -n 1 "$2/postmaster.pid")") &\n'
    )
    fake.chmod(0o755)
    db = replace(DB1, data_dir=str(data), bin_dir=str(bin_dir))
    with subprocess.Popen(["sleep", "30"], cwd=data) as postmaster:
        (data / "postmaster.pid").write_text(f"{postmaster.pid}\n")
        started = time.monotonic()
        done = _sh(server.stop_and_wait(db))
        waited = time.monotonic() - started
        assert done.returncode == 0 and done.stdout.strip() == "server stopped"
        assert postmaster.wait(5) != 0 and waited >= 0.2
    args = (tmp_path / "args").read_text().split()
    assert args == ["-D", *str(data).split(), "stop", "-m", "fast", "-W"]
