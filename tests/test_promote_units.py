"""The promotion's pure parts without a lab: WAL positions, control data, commands, the runner."""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from console.actions import pgserver as server
from console.actions import promotion_lock
from console.actions.audit import AuditLog
from console.actions.context import ActionError, Context
from console.actions.plan import Check, Plan, Step
from console.actions.rejoin import keep_dir, parse_history, segment_name
from console.actions.replication import parse_auto_conf, point_at
from console.actions.runner import Outcome, execute
from console.authority import Authority
from console.inventory import Inventory, InventoryError, load
from tests import verdict_parts as parts

if TYPE_CHECKING:
    from console.monitor import Monitor

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
Mock authentication nonce:            4a1b6c9e0d2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b
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
    assert server.lsn(text) == number


@pytest.mark.parametrize("text", ["3000028", "", "0/", "x/1", "1/2/3"])
def test_what_is_not_a_wal_position_raises(text: str) -> None:
    with pytest.raises(ValueError):
        server.lsn(text)


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
        ("stop", ["stop", "-m", "fast", "-w", "-t", "60"]),
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
    assert segment_name(timeline, server.lsn(position), size) == name


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


# --- the promotion lock ----------------------------------------------------------------


def test_the_lock_is_beside_the_flags_map_on_the_balancer() -> None:
    inv = replace(INV, balancer=replace(INV.balancer, flags_map="/etc/haproxy/site-flags.map"))  # type: ignore[type-var]
    assert promotion_lock.where(inv, "db2", "/var/lib/postgresql/15") == (
        "lb1",
        "/etc/haproxy/hotspare-promotion.lock",
    )


def test_without_a_balancer_the_lock_is_on_the_fallback_box() -> None:
    inv = replace(INV, balancer=None)
    assert promotion_lock.where(inv, "db2", "/var/lib/postgresql/15") == (
        "db2",
        "/var/lib/postgresql/15/hotspare-promotion.lock",
    )


@pytest.mark.parametrize(
    ("user", "shown"), [('o\'brien "x" a\\b\nc', "o?brien ?x? a?b?c"), (None, "unknown")]
)
def test_the_lock_token_is_one_safe_line(
    monkeypatch: pytest.MonkeyPatch, user: str | None, shown: str
) -> None:
    monkeypatch.setattr(promotion_lock, "operator", lambda: {"user": user, "ssh_client": None})
    mine = promotion_lock.token("promote", "db2")
    assert mine.startswith(f"{shown}@")
    assert ": promote db2 since " in mine
    assert "\n" not in mine and not set("'\"\\") & set(mine)
    assert mine.isprintable()


# --- the runner ------------------------------------------------------------------------


@dataclass
class _BareMonitor:
    """A Context reads only .inv and .links from its monitor; these steps touch no box."""

    inv: Inventory = INV
    links: dict[str, Any] = field(default_factory=dict)


def _step(log: list[str], title: str, ok: bool = True, **more: Any) -> Step:
    """A step that records its run in LOG and verifies as OK says; no I/O."""

    async def act(ctx: Context) -> str:
        log.append(title)
        return f"did {title}"

    async def verify(ctx: Context) -> Check:
        return Check(ok, f"{title} {'holds' if ok else 'broke'}")

    return Step(title, "nowhere", title, "-", "-", act, verify, **more)


def _run(tmp_path: Path, plan: Plan) -> tuple[Outcome, dict[str, Any]]:
    audit = AuditLog(tmp_path / "audit.jsonl", "lab")
    ctx = Context(cast("Monitor", _BareMonitor()))
    outcome = asyncio.run(execute(plan, ctx, Authority.decide(False, False, "lab"), audit))
    (record,) = list(audit.records())
    return outcome, record


def _plan(steps: list[Step], always: tuple[Step, ...] = ()) -> Plan:
    return Plan("promote", "db2", "test", tuple(steps), way_back="undo by hand", always=always)


def test_a_failure_before_the_point_of_no_return_puts_back_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "b", undo=_step(log, "undo b")),
        _step(log, "c"),
        _step(log, "d", ok=False, undo=_step(log, "undo d")),
        _step(log, "e", undo=_step(log, "undo e")),
    ]
    outcome, record = _run(tmp_path, _plan(steps))
    assert log == ["a", "b", "c", "d", "undo d", "undo b", "undo a"]
    assert outcome.status == "failed"
    assert [r.title for r in outcome.undone] == ["undo d", "undo b", "undo a"]
    assert outcome.reason == "stopped at step 4 (d): d broke; put back: undo d, undo b, undo a"
    assert [r["title"] for r in record["undone"]] == ["undo d", "undo b", "undo a"]


def test_a_failure_past_the_point_of_no_return_puts_nothing_back(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "promote", no_return=True),
        _step(log, "takes writes", ok=False, undo=_step(log, "undo writes")),
    ]
    outcome, _ = _run(tmp_path, _plan(steps))
    assert log == ["a", "promote", "takes writes"]
    assert outcome.undone == ()
    assert outcome.reason is not None
    assert "past the point of no return, nothing was put back" in outcome.reason
    assert outcome.reason.endswith("; way back: undo by hand")


def test_the_point_of_no_return_counts_from_when_that_step_begins(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "promote", ok=False, no_return=True),
    ]
    outcome, _ = _run(tmp_path, _plan(steps))
    assert log == ["a", "promote"] and outcome.undone == ()


def test_an_undo_that_fails_is_reported_not_put_back(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "stop", undo=_step(log, "start again", ok=False)),
        _step(log, "caught up", ok=False),
    ]
    outcome, _ = _run(tmp_path, _plan(steps))
    assert log == ["a", "stop", "caught up", "start again", "undo a"]
    assert [(r.title, r.ok) for r in outcome.undone] == [("start again", False), ("undo a", True)]
    assert outcome.reason == (
        "stopped at step 3 (caught up): caught up broke; put back: start again, undo a; "
        "NOT put back: start again (start again broke); way back: undo by hand"
    )


def test_an_action_error_fails_the_step_with_its_message(tmp_path: Path) -> None:
    async def act(ctx: Context) -> str:
        raise ActionError("db1: pg_ctl stop exited 1")

    async def verify(ctx: Context) -> Check:
        raise AssertionError("not reached")

    outcome, _ = _run(tmp_path, _plan([Step("stop", "-", "-", "-", "-", act, verify)]))
    assert outcome.reason == (
        "stopped at step 1 (stop): db1: pg_ctl stop exited 1; way back: undo by hand"
    )


@pytest.mark.parametrize("fails", [False, True])
def test_always_steps_run_at_the_end_and_are_the_cleanup(tmp_path: Path, fails: bool) -> None:
    log: list[str] = []
    steps = [_step(log, "a", undo=_step(log, "undo a")), _step(log, "b", ok=not fails)]
    always = (_step(log, "release"), _step(log, "second", ok=False))
    outcome, record = _run(tmp_path, _plan(steps, always))
    assert log[-2:] == ["release", "second"]
    assert outcome.status == ("failed" if fails else "done")
    assert [(r.title, r.ok) for r in outcome.cleanup] == [("release", True), ("second", False)]
    assert [r["title"] for r in record["cleanup"]] == ["release", "second"]
    assert [r["title"] for r in record["undone"]] == (["undo a"] if fails else [])
    assert json.loads(json.dumps(outcome.as_dict()))["cleanup"][0]["check"] == "release holds"


def test_a_refused_plan_runs_no_step_and_no_cleanup(tmp_path: Path) -> None:
    log: list[str] = []
    plan = replace(_plan([_step(log, "a")], (_step(log, "release"),)), refusals=("no",))
    outcome, record = _run(tmp_path, plan)
    assert log == [] and outcome.status == "refused"
    assert record["undone"] == [] and record["cleanup"] == []
