"""The lab's PostgreSQL: db1 primary with WAL archiving, db2 streaming from it.

That is how the lab creates them. The console's promote, failover and rejoin
may swap the roles and restart a postmaster with pg_ctl over SSH, so the lab
finds a member's postmaster by its data directory and its primary by asking.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from console.lab import configs, procs
from console.lab.layout import PG_PORT, LabLayout, find_pg_bin
from console.lab.site import SCHEMA_SQL

ROLES = ("replicator", "hotspare", "site")
REWIND_GRANTS = """
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO replicator;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO replicator;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO replicator;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)
  TO replicator;
"""
# The roles the lab creates the members in; a failover may swap them.
PRIMARY, STANDBY = "db1", "db2"


def _run_as_pg(lab: LabLayout, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run a PostgreSQL program as the PostgreSQL OS user; its output, or raise with it."""
    result = subprocess.run(
        argv,
        user=procs.run_as(lab),
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=lab.root,
    )
    if result.returncode != 0:
        raise procs.LabProcessError(
            f"{Path(argv[0]).name} failed (exit {result.returncode}): "
            + (result.stderr or result.stdout).strip()[-800:]
        )
    return result.stdout


def passwords(lab: LabLayout) -> dict[str, str]:
    """The lab's database passwords, created once and kept in its pgpass files."""
    known: dict[str, str] = {}
    if lab.pgpass.exists():
        for line in lab.pgpass.read_text().splitlines():
            *_, user, password = line.split(":", 4)
            known[user] = password
    if all(role in known for role in ROLES):
        return known
    known = {role: secrets.token_hex(12) for role in ROLES}
    lab.pgpass.parent.mkdir(parents=True, exist_ok=True)
    lab.pgpass.write_text("".join(f"*:*:*:{r}:{p}\n" for r, p in known.items()))
    lab.pgpass.chmod(0o600)
    procs.give(lab, lab.pgpass.parent, lab.pgpass)
    return known


def prepare_dirs(lab: LabLayout, db: str) -> None:
    box = lab.box_dir(db)
    for sub in ("", "run", "log"):
        (box / sub).mkdir(parents=True, exist_ok=True)
        procs.give(lab, box / sub)
    lab.archive_dir.mkdir(parents=True, exist_ok=True)
    procs.give(lab, lab.archive_dir)


def _write_box_conf(lab: LabLayout, db: str) -> None:
    data = lab.data_dir(db)
    (data / "hotspare-lab.conf").write_text(configs.postgresql_conf(lab, db))
    (data / "pg_hba.conf").write_text(configs.pg_hba(lab))
    procs.give(lab, data / "hotspare-lab.conf", data / "pg_hba.conf")


def init_primary(lab: LabLayout) -> bool:
    """initdb db1 unless it exists. Returns True if it was created."""
    data = lab.data_dir(PRIMARY)
    prepare_dirs(lab, PRIMARY)
    if (data / "PG_VERSION").exists():
        _write_box_conf(lab, PRIMARY)
        return False
    bin_dir = find_pg_bin()
    _run_as_pg(
        lab,
        [f"{bin_dir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
    )
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude = 'hotspare-lab.conf'\n")
    _write_box_conf(lab, PRIMARY)
    return True


def postmaster(lab: LabLayout, db: str) -> procs.Proc | None:
    """DB's live postmaster: the one the lab recorded, else the one postmaster.pid names.

    A postmaster started outside the lab (pg_ctl over SSH) counts only if its
    pid is alive and its working directory is DB's data directory, where a
    postmaster chdirs before it writes postmaster.pid: a pid reused by an
    unrelated process is never taken for it.
    """
    name = f"postgres-{db}"
    proc = procs.recorded(lab.pid_dir).get(name)
    if proc is not None and procs.is_alive(proc):
        return proc
    data = lab.data_dir(db).resolve()
    try:
        pid_line, data_line = (data / "postmaster.pid").read_text().splitlines()[:2]
        pid = int(pid_line)
        started = procs.start_time(pid)
        cwd = Path(f"/proc/{pid}/cwd").readlink()
    except (OSError, ValueError):
        return None
    if started is None or cwd != data or Path(data_line).resolve() != data:
        return None
    return procs.Proc(name, pid, started)


def is_running(lab: LabLayout, db: str) -> bool:
    """Whether DB's postmaster is alive, whoever started it."""
    return postmaster(lab, db) is not None


def start(lab: LabLayout, db: str) -> None:
    """Start DB's postmaster unless one runs, wait until it accepts connections, record it."""
    name, data = f"postgres-{db}", lab.data_dir(db)
    running = postmaster(lab, db)
    if running is not None:
        procs.record(lab.pid_dir, name, running.pid)
        return
    # No live postmaster has this directory: its postmaster.pid, if any, is stale.
    (data / "postmaster.pid").unlink(missing_ok=True)
    log = lab.box_dir(db) / "log" / "postgresql.log"
    argv = [f"{find_pg_bin()}/pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60"]
    _run_as_pg(lab, [*argv, "start"])
    pid = int((data / "postmaster.pid").read_text().split()[0])
    procs.record(lab.pid_dir, name, pid)


def _has_data(lab: LabLayout, db: str) -> bool:
    return (lab.data_dir(db) / "PG_VERSION").exists()


def _latest_checkpoint(lab: LabLayout, db: str) -> tuple[int, int]:
    """The timeline and WAL position of DB's latest checkpoint: a promoted member's is later."""
    argv = [f"{find_pg_bin()}/pg_controldata", str(lab.data_dir(db))]
    out = _run_as_pg(lab, argv, env={"LC_ALL": "C"})
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    high, low = fields["Latest checkpoint location"].strip().split("/")
    return int(fields["Latest checkpoint's TimeLineID"]), int(high, 16) << 32 | int(low, 16)


def start_members(lab: LabLayout, say: Callable[[str], None]) -> None:
    """Start every member that has data, but never a second primary.

    A member without standby.signal starts as a primary: after a failover the
    old primary is one. It is left stopped while another runs as primary (or,
    both stopped, while another has the later checkpoint) until it is rejoined.
    """
    members = [db for db in lab.db_names if _has_data(lab, db)]
    leaders = [db for db in members if not (lab.data_dir(db) / "standby.signal").exists()]
    if len(leaders) > 1:
        leaders.sort(
            key=lambda db: (is_running(lab, db), _latest_checkpoint(lab, db)), reverse=True
        )
    for db in members:
        if db in leaders[1:] and not is_running(lab, db):
            say(f"{db}: left stopped: it would be a second primary beside {leaders[0]}")
            continue
        start(lab, db)


def superuser(lab: LabLayout, db: str, dbname: str = "postgres") -> psycopg.Connection:
    """A superuser connection to DB over its local socket (lab setup only).

    Its transactions are read-write even when the site was left read-only
    (`read-only on` sets default_transaction_read_only on every member):
    `lab up` must still be able to set the lab's roles up.
    """
    return psycopg.connect(
        host=str(lab.box_dir(db) / "run"),
        port=PG_PORT,
        user="postgres",
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
        options="-c default_transaction_read_only=off",
    )


def ask(lab: LabLayout, db: str, query: str) -> list[tuple[object, ...]]:
    """The rows of QUERY on DB as the superuser, or raise LabProcessError."""
    try:
        with superuser(lab, db) as conn:
            return conn.execute(query).fetchall()
    except psycopg.Error as exc:
        raise procs.LabProcessError(f"{db}: cannot ask PostgreSQL: {exc}") from exc


def primary(lab: LabLayout) -> str:
    """The one running member that is not in recovery, or raise LabProcessError."""
    running = [db for db in lab.db_names if is_running(lab, db)]
    leaders = [db for db in running if ask(lab, db, "SELECT pg_is_in_recovery()") == [(False,)]]
    if len(leaders) == 1:
        return leaders[0]
    if leaders:
        raise procs.LabProcessError(
            f"{' and '.join(leaders)} are both primaries: stop one and rejoin it as a standby"
        )
    raise procs.LabProcessError(
        f"no primary: {', '.join(running) or 'no member'} running, none out of recovery; "
        "promote one (SELECT pg_promote()) or start the lab afresh (lab down --purge)"
    )


def bootstrap(lab: LabLayout, db: str) -> None:
    """Create the lab's roles, database and schema on DB, the primary (idempotent)."""
    secret = passwords(lab)
    with superuser(lab, db) as conn:
        for role in ROLES:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            attrs = {"replicator": "REPLICATION", "hotspare": "SUPERUSER", "site": ""}[role]
            conn.execute(
                sql.SQL("{} ROLE {} WITH LOGIN {} PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(role), sql.SQL(attrs), sql.Literal(secret[role])
                )
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'site'").fetchone():
            conn.execute("CREATE DATABASE site OWNER site")
    with superuser(lab, db, "site") as conn:
        # pg_rewind (hotspare rejoin) connects as the replication user: the
        # documented minimum it needs instead of being a superuser.
        conn.execute(REWIND_GRANTS)
        conn.execute("SET ROLE site")
        conn.execute(SCHEMA_SQL.read_text())


def init_standby(lab: LabLayout) -> bool:
    """pg_basebackup db2 from db1 unless it exists. Returns True if it was created."""
    data = lab.data_dir(STANDBY)
    prepare_dirs(lab, STANDBY)
    if (data / "PG_VERSION").exists():
        _write_box_conf(lab, STANDBY)
        return False
    if data.exists():
        shutil.rmtree(data)
    with superuser(lab, PRIMARY) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s AND NOT active",
            (STANDBY,),
        )
    _run_as_pg(
        lab,
        [
            f"{find_pg_bin()}/pg_basebackup",
            *("-D", str(data), "-h", lab.address(PRIMARY), "-p", str(PG_PORT)),
            *("-U", "replicator", "-X", "stream", "-c", "fast", "-C", "-S", STANDBY),
            "--no-sync",
        ],
        env={"PGPASSFILE": str(lab.pgpass)},
    )
    _write_box_conf(lab, STANDBY)
    conninfo = configs.standby_conninfo(lab, STANDBY, PRIMARY)
    with (data / "postgresql.auto.conf").open("a") as auto:
        auto.write(f"primary_conninfo = '{conninfo}'\nprimary_slot_name = '{STANDBY}'\n")
    (data / "standby.signal").touch()
    procs.give(lab, data / "standby.signal", data / "postgresql.auto.conf")
    return True


def stop(lab: LabLayout, db: str) -> bool:
    """Fast-shutdown DB's postmaster, whoever started it."""
    proc = postmaster(lab, db)
    stopped = proc is not None and procs.stop(proc, signal.SIGINT, timeout=30)
    procs.forget(lab.pid_dir, f"postgres-{db}")
    return stopped


def streaming_from(lab: LabLayout, db: str) -> set[str]:
    """The members DB, a primary, lists as streaming standbys."""
    query = "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
    return {str(name) for (name,) in ask(lab, db, query)}
