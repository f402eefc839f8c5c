"""The Patroni lab: a three-member etcd and Patroni running PostgreSQL on db1, db2, db3.

`hotspare lab up --engine patroni`. Each db box runs an etcd member (the
v3 API, Debian's etcd-server) and a Patroni (PyPI, in a venv of the lab's
own: scripts/lab-venv), which runs that box's PostgreSQL. Patroni decides
who leads: the lab never starts, stops or promotes a postmaster itself.
HAProxy on lb1 finds the primary with Patroni's `/primary` health check;
the demo site keeps its multi-host connection string. The REST API wants
TLS and a password as production sites do (console/lab/patroni_tls.py).

The lab's timing is short (ttl 20, loop_wait 2, retry_timeout 5: Patroni
raises a ttl below 20 to 20), so tests of a failover do not wait 30 s.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from console.lab import configs, patroni_tls, pg, procs
from console.lab.layout import (
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    PATRONI_NAMESPACE,
    PATRONI_PORT,
    PG_PORT,
    LabLayout,
    find_pg_bin,
)

Say = Callable[[str], None]
ETCD = "/usr/bin/etcd"
PATRONI_VERSION = "4.1.5"
VENV_ENV = "HOTSPARE_LAB_VENV"
# Where scripts/lab-venv puts the lab's own venv: readable by the lab user, who runs Patroni.
VENV_DEFAULT_ROOT = Path("/var/cache/hotspare/lab-venv")
TIMING = {"ttl": 20, "loop_wait": 2, "retry_timeout": 5}
START_TIMEOUT = 60.0


def venv() -> Path:
    """The lab's venv holding Patroni: $HOTSPARE_LAB_VENV, else the default for this user."""
    found = os.environ.get(VENV_ENV)
    if found:
        return Path(found)
    if os.getuid() == 0:
        return VENV_DEFAULT_ROOT
    # The account's home, not $HOME: the test suite points $HOME at a scratch directory.
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return cache / "hotspare" / "lab-venv"


def patroni_bin() -> Path:
    """Patroni's program in the lab's venv, or raise LabProcessError saying how to get it."""
    program = venv() / "bin" / "patroni"
    if not program.exists():
        raise procs.LabProcessError(
            f"Patroni is not installed for the lab ({program} is missing): run `make deps` "
            f"(or scripts/lab-venv), which puts patroni {PATRONI_VERSION} in a venv of its own"
        )
    return program


def etcd_bin() -> str:
    """etcd's server program, or raise LabProcessError saying how to get it."""
    if not Path(ETCD).exists():
        raise procs.LabProcessError(
            f"etcd is not installed ({ETCD} is missing): run `make deps` "
            "(or apt-get install etcd-server)"
        )
    return ETCD


# Configs (pure) ---------------------------------------------------------------------------


def scope(lab: LabLayout) -> str:
    """The Patroni cluster's name (its scope): one per lab block."""
    return f"lab-{lab.block.replace('.', '-')}"


def etcd_argv(lab: LabLayout, db: str) -> list[str]:
    """The command line of the etcd member on DB's box."""
    address = lab.address(db)
    peers = ",".join(f"{m}=http://{lab.address(m)}:{ETCD_PEER_PORT}" for m in lab.db_names)
    return [
        ETCD,
        *("--name", db),
        *("--data-dir", str(lab.etcd_dir(db))),
        *("--listen-client-urls", f"http://{address}:{ETCD_CLIENT_PORT}"),
        *("--advertise-client-urls", f"http://{address}:{ETCD_CLIENT_PORT}"),
        *("--listen-peer-urls", f"http://{address}:{ETCD_PEER_PORT}"),
        *("--initial-advertise-peer-urls", f"http://{address}:{ETCD_PEER_PORT}"),
        *("--initial-cluster", peers),
        *("--initial-cluster-token", scope(lab)),
        *("--initial-cluster-state", "new"),
        # A small lab: a small backend and few snapshots kept.
        *("--quota-backend-bytes", str(64 * 1024 * 1024)),
        *("--snapshot-count", "5000"),
        *("--max-snapshots", "2", "--max-wals", "2"),
    ]


def _hba(lab: LabLayout) -> list[str]:
    return [
        line
        for line in configs.pg_hba(lab).splitlines()
        if line.strip() and not line.startswith("#")
    ]


def patroni_config(lab: LabLayout, db: str, secret: dict[str, str]) -> str:
    """patroni.yml for DB: its REST API, the etcd members, and its PostgreSQL. With
    SECRET["restapi"], the REST API's TLS and password, and patronictl's certificate."""
    address = lab.address(db)
    box = lab.box_dir(db)
    guarded = "restapi" in secret
    parameters = {
        "wal_level": "replica",
        "wal_log_hints": "on",  # pg_rewind: Patroni's use_pg_rewind needs it
        "hot_standby": "on",
        "hot_standby_feedback": "on",
        "archive_mode": "on",
        "archive_command": f"test ! -f {lab.archive_dir}/%f && cp %p {lab.archive_dir}/%f",
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "wal_keep_size": "256MB",
        "shared_buffers": "32MB",
        "max_connections": 50,
        "log_line_prefix": "%m [%p] %q%u@%d ",
    }
    config: dict[str, Any] = {
        "scope": scope(lab),
        "namespace": PATRONI_NAMESPACE,
        "name": db,
        "log": {"dir": str(box / "log"), "file_size": 5_000_000, "file_num": 2},
        "restapi": {
            "listen": f"{address}:{PATRONI_PORT}",
            "connect_address": f"{address}:{PATRONI_PORT}",
            **(patroni_tls.restapi_settings(lab, db, secret["restapi"]) if guarded else {}),
        },
        **({"ctl": patroni_tls.ctl_settings(lab, db)} if guarded else {}),
        "etcd3": {"hosts": [f"{lab.address(m)}:{ETCD_CLIENT_PORT}" for m in lab.db_names]},
        "bootstrap": {
            "dcs": {
                **TIMING,
                "maximum_lag_on_failover": 1024 * 1024,
                "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": parameters},
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}],
        },
        "postgresql": {
            "listen": f"{address}:{PG_PORT}",
            "connect_address": f"{address}:{PG_PORT}",
            "data_dir": str(lab.data_dir(db)),
            "bin_dir": find_pg_bin(),
            "pgpass": str(box / "run" / "patroni.pgpass"),
            "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": "postgres", "password": secret["postgres"]},
                "replication": {"username": "replicator", "password": secret["replicator"]},
                "rewind": {"username": "postgres", "password": secret["postgres"]},
            },
            "parameters": {
                "unix_socket_directories": str(box / "run"),
                "logging_collector": "on",
                "log_directory": str(box / "log"),
                "log_filename": "postgresql.log",
                "log_file_mode": "0644",
            },
            "pg_hba": _hba(lab),
            # A new replica copies the leader at once, not at its next checkpoint.
            "basebackup": [{"checkpoint": "fast"}],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }
    return f"# Patroni for lab box {db}: generated by hotspare lab up\n" + yaml.safe_dump(
        config, sort_keys=False
    )


# Up and down ------------------------------------------------------------------------------


def superuser_secret(lab: LabLayout) -> str:
    """The password of PostgreSQL's superuser under Patroni (rewind connects with it)."""
    path = lab.root / "pg" / "superuser"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(12) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def prepare(lab: LabLayout) -> None:
    """Make the REST API's certificates, then every db box's patroni.yml (passwords in it)."""
    rest = patroni_tls.prepare(lab)
    secret = {**pg.passwords(lab), "postgres": superuser_secret(lab), "restapi": rest}
    for db in lab.db_names:
        pg.prepare_dirs(lab, db)
        config = lab.patroni_config(db)
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(patroni_config(lab, db, secret))
        config.chmod(0o600)  # it holds the passwords
        procs.give(lab, config, lab.box_dir(db))


def up(lab: LabLayout, say: Say) -> str:
    """Start etcd and Patroni on every db box; wait for a leader and streaming replicas.

    A fresh lab starts db1's Patroni first, so that it bootstraps the
    cluster, then the others, which copy it. A lab with data starts all
    three at once: Patroni elects the one with the most WAL. Returns the leader.
    """
    _start_etcd(lab, say)
    fresh = not any((lab.data_dir(db) / "PG_VERSION").exists() for db in lab.db_names)
    first = lab.db_names[:1] if fresh else lab.db_names
    for db in first:
        _start_patroni(lab, db)
    leader = _wait_leader(lab)
    say(f"{leader}: Patroni leader (PostgreSQL primary)")
    pg.bootstrap(lab, leader)
    for db in lab.db_names:
        _start_patroni(lab, db)
    replicas = [db for db in lab.db_names if db != leader]
    procs.wait_until(
        lambda: set(replicas) <= streaming(lab),
        START_TIMEOUT,
        f"{', '.join(replicas)} not streaming under Patroni",
        patroni_log(lab, replicas[-1]),
    )
    for db in replicas:
        say(f"{db}: Patroni replica, streaming from {leader}")
    return leader


def _start_etcd(lab: LabLayout, say: Say) -> None:
    etcd_bin()  # installed, or say how
    env = dict(os.environ)
    for db in lab.db_names:
        log = lab.box_dir(db) / "log" / "etcd.log"
        procs.start_once(lab, f"etcd-{db}", etcd_argv(lab, db), log, env)
    for db in lab.db_names:
        procs.wait_until(
            partial(_etcd_healthy, lab, db),
            START_TIMEOUT,
            f"{db}: etcd not healthy at {lab.etcd_url(db)}/health",
            lab.box_dir(db) / "log" / "etcd.log",
        )
        say(f"{db}: etcd healthy at {lab.etcd_url(db)}")


def _etcd_healthy(lab: LabLayout, db: str) -> bool:
    answer = _get_json(f"{lab.etcd_url(db)}/health")
    return isinstance(answer, dict) and answer.get("health") == "true"


def _start_patroni(lab: LabLayout, db: str) -> None:
    argv = [str(patroni_bin()), str(lab.patroni_config(db))]
    # Patroni's own Python, not the project's: a venv's program runs with its interpreter.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    procs.start_once(lab, f"patroni-{db}", argv, patroni_log(lab, db), env)


def start_member(lab: LabLayout, db: str) -> None:
    """Start DB's Patroni again unless it runs (after a crash, or a kill in a test).

    Patroni decides what becomes of its PostgreSQL: crash recovery, then a
    rewind and a replica of the leader, or a leader again if none holds the key.
    """
    _start_patroni(lab, db)


def patroni_log(lab: LabLayout, db: str) -> Path:
    return lab.box_dir(db) / "log" / "patroni.out"


def cluster(lab: LabLayout) -> dict[str, Any] | None:
    """Patroni's GET /cluster from the first member that answers, or None."""
    for db in lab.db_names:
        answer = patroni_tls.get_json(lab, db, "cluster")
        if isinstance(answer, dict) and isinstance(answer.get("members"), list):
            return answer
    return None


def leader(lab: LabLayout) -> str | None:
    """The member Patroni says leads and runs, or None."""
    found = cluster(lab)
    for member in found["members"] if found else ():
        if member.get("role") == "leader" and member.get("state") == "running":
            return str(member["name"])
    return None


def streaming(lab: LabLayout) -> set[str]:
    """The members Patroni reports as replicas, streaming."""
    found = cluster(lab)
    return {
        str(m["name"])
        for m in (found["members"] if found else ())
        if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming"
    }


def unsettled(lab: LabLayout) -> list[str]:
    """What keeps the Patroni lab from its steady state; empty once settled.

    Steady: a leader running, every other member streaming from it, nothing
    scheduled and not paused. A test that moves the leader leaves the old one
    rejoining for some seconds; the next test starts from here.
    """
    found = cluster(lab)
    if found is None:
        return ["no member answers GET /cluster"]
    why = []
    members = {str(m.get("name")): m for m in found["members"]}
    leaders = [name for name, m in members.items() if m.get("role") == "leader"]
    if len(leaders) != 1 or members[leaders[0]].get("state") != "running":
        why.append(f"leaders {leaders or 'none'}")
    for name in lab.db_names:
        member = members.get(name)
        if name in leaders:
            continue
        if member is None:
            why.append(f"{name} not a member")
        elif member.get("state") != "streaming":
            why.append(f"{name} {member.get('role')} {member.get('state')}")
    if "scheduled_switchover" in found:
        why.append(f"switchover scheduled {found['scheduled_switchover']}")
    if found.get("pause"):
        why.append("paused")
    return why


def _wait_leader(lab: LabLayout) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        found = leader(lab)
        if found is not None and _takes_writes(lab, found):
            return found
        if time.monotonic() > deadline:
            log = patroni_log(lab, lab.db_names[0])
            raise procs.LabProcessError(
                f"no Patroni leader after {START_TIMEOUT:.0f} s\n"
                f"last lines of {log}:\n{procs.tail(log)}"
            )
        time.sleep(0.2)


def wait_listeners(lab: LabLayout) -> str:
    """Wait until HAProxy's checks agree with Patroni: the leader alone UP behind the
    primary listener, the others alone behind the replicas'. Returns the leader.

    HAProxy counts a server UP until its checks fail, so for its first seconds
    the primary listener would take any member.
    """
    wanted: dict[str, str] = {}

    def agree() -> bool:
        ahead = leader(lab)
        if ahead is None:
            return False
        wanted.update(leader=ahead)
        states = listener_states(lab)
        return all(
            states.get(("db_primary", db)) == ("UP" if db == ahead else "DOWN")
            and states.get(("db_replicas", db)) == ("DOWN" if db == ahead else "UP")
            for db in lab.db_names
        )

    procs.wait_until(
        agree,
        START_TIMEOUT,
        "HAProxy's Patroni checks do not match Patroni's leader",
        lab.box_dir("lb1") / "log" / "haproxy.log",
    )
    return wanted["leader"]


def listener_states(lab: LabLayout) -> dict[tuple[str, str], str]:
    """(listener, member) -> HAProxy's status word (UP, DOWN, ...) for the database listeners."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(lab.haproxy_socket()))
            sock.sendall(b"show stat\n")
            text = b"".join(iter(lambda: sock.recv(65536), b"")).decode(errors="replace")
    except OSError:
        return {}
    rows = [line.split(",") for line in text.splitlines() if line.startswith("db_")]
    return {(r[0], r[1]): r[17].split()[0] for r in rows if len(r) > 17 and r[17]}


def _takes_writes(lab: LabLayout, db: str) -> bool:
    """Whether DB's PostgreSQL runs out of recovery (a leader may still be promoting)."""
    if not pg.is_running(lab, db):
        return False
    try:
        return pg.ask(lab, db, "SELECT pg_is_in_recovery()") == [(False,)]
    except procs.LabProcessError:
        return False


def _get_json(url: str) -> object:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def stop_order(lab: LabLayout) -> list[str]:
    """The lab's Patroni processes in the order `down` stops them: the replicas' first
    and the leader's last, so that nobody takes over from a leader only being stopped."""
    ahead = leader(lab)
    return [f"patroni-{db}" for db in sorted(lab.db_names, key=lambda db: db == ahead)]
