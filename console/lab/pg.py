"""The lab's PostgreSQL: db1 primary with WAL archiving, db2 streaming from it."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from console.lab import configs, procs
from console.lab.layout import PG_PORT, LabLayout, find_pg_bin
from console.lab.site import SCHEMA_SQL

ROLES = ("replicator", "hotspare", "site")
PRIMARY, STANDBY = "db1", "db2"


def _run_as_pg(lab: LabLayout, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run a PostgreSQL program as the PostgreSQL OS user; raise with its output."""
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


def _prepare_dirs(lab: LabLayout, db: str) -> None:
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
    _prepare_dirs(lab, PRIMARY)
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


def is_running(lab: LabLayout, db: str) -> bool:
    """Whether DB's postmaster (as recorded) is alive."""
    proc = procs.recorded(lab.pid_dir).get(f"postgres-{db}")
    return proc is not None and procs.is_alive(proc)


def start(lab: LabLayout, db: str) -> None:
    """Start DB's postmaster and wait until it accepts connections."""
    if is_running(lab, db):
        return
    data = lab.data_dir(db)
    (data / "postmaster.pid").unlink(missing_ok=True)
    log = lab.box_dir(db) / "log" / "postgresql.log"
    argv = [f"{find_pg_bin()}/pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60"]
    _run_as_pg(lab, [*argv, "start"])
    pid = int((data / "postmaster.pid").read_text().split()[0])
    procs.record(lab.pid_dir, f"postgres-{db}", pid)


def superuser(lab: LabLayout, db: str, dbname: str = "postgres") -> psycopg.Connection:
    """A superuser connection to DB over its local socket (lab setup only)."""
    return psycopg.connect(
        host=str(lab.box_dir(db) / "run"),
        port=PG_PORT,
        user="postgres",
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def bootstrap(lab: LabLayout) -> None:
    """Create the lab's roles, database and schema on the primary (idempotent)."""
    secret = passwords(lab)
    with superuser(lab, PRIMARY) as conn:
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
    with superuser(lab, PRIMARY, "site") as conn:
        conn.execute("SET ROLE site")
        conn.execute(SCHEMA_SQL.read_text())


def init_standby(lab: LabLayout) -> bool:
    """pg_basebackup db2 from db1 unless it exists. Returns True if it was created."""
    data = lab.data_dir(STANDBY)
    _prepare_dirs(lab, STANDBY)
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
    """Fast-shutdown DB's postmaster by its recorded pid."""
    proc = procs.recorded(lab.pid_dir).get(f"postgres-{db}")
    if proc is None:
        return False
    stopped = procs.stop(proc, signal.SIGINT, timeout=30)
    procs.forget(lab.pid_dir, proc.name)
    return stopped


def standby_streaming(lab: LabLayout) -> bool:
    """Whether db1 reports db2 as a streaming standby."""
    with superuser(lab, PRIMARY) as conn:
        row = conn.execute(
            "SELECT state FROM pg_stat_replication WHERE application_name = %s", (STANDBY,)
        ).fetchone()
    return row is not None and row[0] == "streaming"
