"""Bring the lab up, take it down, say what runs where."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from console import node_role
from console.lab import configs, keys, patroni, pg, procs, releases, supervise
from console.lab.inventory_file import render as render_inventory
from console.lab.layout import (
    DB_PRIMARY_PORT,
    ETCD_CLIENT_PORT,
    NODE_PORT,
    PATRONI_PORT,
    PG_PORT,
    SITE_PORT,
    SMTP_PORT,
    SSH_PORT,
    LabLayout,
    find_pg_bin,
)

SSHD = "/usr/sbin/sshd"
HAPROXY = "/usr/sbin/haproxy"
Say = Callable[[str], None]
LOCK_WAIT = 120.0


@dataclass(frozen=True)
class Service:
    """One process of the lab, where it listens and whether it runs."""

    name: str
    box: str
    listen: str
    running: bool
    pid: int | None


@dataclass(frozen=True)
class LabStatus:
    """What runs where in one lab."""

    block: str
    root: str
    cluster_file: str
    services: tuple[Service, ...]
    site_url: str
    node_urls: dict[str, str]
    db_uris: dict[str, str]
    listeners: tuple[str, ...]
    engine: str = "postgres"
    patroni_urls: dict[str, str] = field(default_factory=dict)
    etcd_endpoints: tuple[str, ...] = ()
    primary_url: str = ""  # a Patroni lab: HAProxy's listener for the primary

    @property
    def up(self) -> bool:
        return all(s.running for s in self.services)


def services(lab: LabLayout) -> list[tuple[str, str, str]]:
    """(process name, box, host:port) of every process the lab runs."""
    found = [("smtp", "host", f"{lab.host_address}:{SMTP_PORT}")]
    found += [(f"sshd-{box}", box, f"{lab.address(box)}:{SSH_PORT}") for box in lab.boxes]
    found.append(("haproxy", "lb1", f"{lab.address('lb1')}:{SITE_PORT}"))
    found += [(f"site-{n}", n, f"{lab.address(n)}:{NODE_PORT}") for n in lab.web_names]
    found += [(f"runsv-{n}", n, "(runit, no port)") for n in lab.web_names]
    found += [(f"postgres-{db}", db, f"{lab.address(db)}:{PG_PORT}") for db in lab.db_names]
    if lab.patroni:
        found += [
            (f"etcd-{db}", db, f"{lab.address(db)}:{ETCD_CLIENT_PORT}") for db in lab.db_names
        ]
        found += [(f"patroni-{db}", db, f"{lab.address(db)}:{PATRONI_PORT}") for db in lab.db_names]
    return found


def _live(lab: LabLayout, name: str, recorded: dict[str, procs.Proc]) -> procs.Proc | None:
    """NAME's live process: a postmaster by its data directory, a site by runit's pid, the rest
    by record.

    The console's promote, failover and rejoin restart postmasters with pg_ctl,
    and `hotspare restart` a site through runit, so the lab's record of either
    may be stale while it runs.
    """
    kind, _, box = name.partition("-")
    if kind == "postgres":
        return pg.postmaster(lab, box)
    if kind == "site" and name not in recorded:  # a lab from before runit keeps its record
        return supervise.site_proc(lab, box)
    proc = recorded.get(name)
    return proc if proc is not None and procs.is_alive(proc) else None


def status(lab: LabLayout) -> LabStatus:
    """The lab's processes (alive or not) and where to reach the site."""
    recorded = procs.recorded(lab.pid_dir)
    rows = []
    for name, box, listen in services(lab):
        proc = _live(lab, name, recorded)
        rows.append(Service(name, box, listen, proc is not None, proc.pid if proc else None))
    return LabStatus(
        block=lab.block,
        root=str(lab.root),
        cluster_file=str(lab.cluster_file),
        services=tuple(rows),
        site_url=lab.site_url,
        node_urls={n: lab.node_url(n) for n in lab.web_names},
        db_uris={db: lab.db_uri(db) for db in lab.db_names},
        listeners=tuple(f"{a}:{p}" for a, p in procs.listeners(lab.block)),
        engine=lab.engine,
        patroni_urls={db: lab.patroni_url(db) for db in lab.db_names} if lab.patroni else {},
        etcd_endpoints=lab.etcd_endpoints,
        primary_url=f"{lab.address('lb1')}:{DB_PRIMARY_PORT}" if lab.patroni else "",
    )


def _ready(lab: LabLayout, name: str, listen: str, log: Path, timeout: float = 20) -> None:
    host, port = listen.rsplit(":", 1)
    try:
        procs.wait_tcp(host, int(port), timeout, name)
    except procs.LabProcessError as exc:
        raise procs.LabProcessError(f"{exc}\nlast lines of {log}:\n{procs.tail(log)}") from exc


def _prepare(lab: LabLayout) -> None:
    procs.ensure_user(lab)
    lab.root.mkdir(parents=True, exist_ok=True)
    lab.root.chmod(0o755)
    for box in lab.boxes:
        for sub in ("etc", "run", "log", "ssh"):
            (lab.box_dir(box) / sub).mkdir(parents=True, exist_ok=True)
    lab.mail_dir.mkdir(parents=True, exist_ok=True)
    keys.ensure_keys(lab)
    pg.passwords(lab)
    lb = lab.box_dir("lb1")
    (lb / "etc" / "haproxy.cfg").write_text(configs.haproxy_cfg(lab))
    if not lab.flags_map().exists():
        lab.flags_map().write_text(configs.flags_map(lab.ab))
    if not lab.state_file().exists():
        lab.state_file().write_text(configs.server_state())
    for box in lab.boxes:
        (lab.box_dir(box) / "etc" / "sshd_config").write_text(configs.sshd_config(lab, box))
    for node in lab.web_names:
        role_file = lab.role_file(node)
        if not role_file.exists():
            node_role.write(role_file, _initial_role(lab, node))
    releases.install(lab)
    lab.cluster_file.write_text(render_inventory(lab, find_pg_bin()))
    procs.give_tree(lab)


def _initial_role(lab: LabLayout, node: str) -> node_role.NodeRole:
    hot = node not in lab.warm_names
    scheduler = node == lab.web_names[0]
    return node_role.NodeRole(
        role="hot" if hot else "warm",
        scheduler=scheduler,
        mail="real" if scheduler else "log",
    )


def _start_sshd(lab: LabLayout) -> None:
    for box in lab.boxes:
        cfg = lab.box_dir(box) / "etc" / "sshd_config"
        log = lab.box_dir(box) / "log" / "sshd.log"
        procs.start_once(
            lab, f"sshd-{box}", [SSHD, "-D", "-e", "-f", str(cfg)], log, dict(os.environ)
        )


def _start_smtp(lab: LabLayout) -> None:
    argv = [
        sys.executable,
        *("-m", "console.lab.smtp_sink"),
        *("--listen", f"{lab.host_address}:{SMTP_PORT}"),
        *("--spool", str(lab.mail_dir)),
        *("--pid-file", str(lab.root / "run-smtp.pid")),
    ]
    procs.start_once(lab, "smtp", argv, lab.mail_dir / "sink.log", dict(os.environ), drop=False)


def _start_sites(lab: LabLayout) -> None:
    env = {**os.environ, "PGPASSFILE": str(lab.pgpass)}
    for node in lab.web_names:
        argv = [
            sys.executable,
            *("-m", "console.lab.site"),
            *("--node", node),
            *("--listen", f"{lab.address(node)}:{NODE_PORT}"),
            *("--role-file", str(lab.role_file(node))),
            *("--access-log", lab.access_log_pattern(node)),
            *("--error-log", lab.error_log_pattern(node)),
            *("--mail-log", lab.mail_log_pattern(node)),
            *("--pid-file", str(lab.site_pid_file(node))),
            *("--release-dir", str(lab.current_release(node))),
            *("--restart-file", str(lab.restart_request(node))),
            *("--dsn", lab.site_dsn()),
            *("--smtp", f"{lab.host_address}:{SMTP_PORT}"),
            *("--sweep-interval", "3"),
        ]
        log = lab.box_dir(node) / "log" / "site.out"
        supervise.start(lab, node, argv, log, env)


def _start_haproxy(lab: LabLayout) -> None:
    lb = lab.box_dir("lb1")
    argv = [HAPROXY, "-db", "-f", str(lb / "etc" / "haproxy.cfg")]
    procs.start_once(lab, "haproxy", argv, lb / "log" / "haproxy.log", dict(os.environ))


@contextlib.contextmanager
def _exclusive(lab: LabLayout) -> Iterator[None]:
    """One lab command at a time per block: two `up`s at once would race."""
    lock_path = Path(f"/tmp/hotspare-lab-{lab.block}.lock")
    with lock_path.open("a") as lock:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise procs.LabProcessError(
                        f"another hotspare lab command holds {lock_path}; "
                        "wait for it to finish, or check it is not stuck"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def up(lab: LabLayout, say: Say) -> LabStatus:
    """Start whatever of LAB is not running and wait until every box is ready."""
    with _exclusive(lab):
        return _up(lab, say)


def _up(lab: LabLayout, say: Say) -> LabStatus:
    t0 = time.monotonic()
    _prepare(lab)
    _start_sshd(lab)
    _start_smtp(lab)
    if lab.patroni:
        patroni.prepare(lab)
        patroni.up(lab, say)  # Patroni starts, bootstraps and copies PostgreSQL itself
        _start_sites(lab)
    else:
        _start_postgres(lab, say)
    for name, box, listen in services(lab):
        kind = name.split("-")[0]
        if kind in ("sshd", "smtp", "etcd", "patroni") or (
            kind == "postgres" and pg.is_running(lab, box)
        ):
            _ready(lab, name, listen, _log_of(lab, name))
            say(f"{box}: {kind} ready on {listen}")
    for node in lab.web_names:
        log = lab.box_dir(node) / "log" / "site.out"
        health = f"{lab.node_url(node)}healthz"
        procs.wait_until(partial(procs.http_ok, health), 20, f"{node}: {health} not healthy", log)
        say(f"{node}: site healthy at {health}")
    _start_haproxy(lab)
    procs.wait_until(
        lambda: procs.http_ok(lab.site_url), 20, "the site is not served", _log_of(lab, "haproxy")
    )
    say(f"lb1: haproxy serving {lab.site_url}")
    if lab.patroni:
        leader = patroni.wait_listeners(lab)
        say(f"lb1: haproxy sends {lab.address('lb1')}:{DB_PRIMARY_PORT} to {leader}")
    say(f"lab up in {time.monotonic() - t0:.1f} s; inventory: {lab.cluster_file}")
    return status(lab)


def _start_postgres(lab: LabLayout, say: Say) -> None:
    """The lab's own PostgreSQL: initdb db1, start the members, copy db1 to db2, stream."""
    if pg.init_primary(lab):
        say("db1: initdb done")
    pg.start_members(lab, say)
    primary = pg.primary(lab)
    pg.bootstrap(lab, primary)
    _start_sites(lab)
    if pg.init_standby(lab):  # only while db1 is the one member, so the primary
        say("db2: pg_basebackup from db1 done")
        pg.start(lab, pg.STANDBY)
    for db in lab.db_names:
        if pg.is_running(lab, db):
            name = f"postgres-{db}"
            _ready(lab, name, f"{lab.address(db)}:{PG_PORT}", _log_of(lab, name))
    _wait_streaming(lab, primary, say)


def _wait_streaming(lab: LabLayout, primary: str, say: Say) -> None:
    """Wait until PRIMARY lists every other running member as streaming."""
    standbys = [db for db in lab.db_names if db != primary and pg.is_running(lab, db)]
    if not standbys:
        return
    procs.wait_until(
        lambda: set(standbys) <= pg.streaming_from(lab, primary),
        20,
        f"{', '.join(standbys)} not streaming from {primary}",
        _log_of(lab, f"postgres-{standbys[0]}"),
    )
    for db in standbys:
        say(f"{db}: streaming from {primary}")


def _log_of(lab: LabLayout, name: str) -> Path:
    kind, _, box = name.partition("-")
    if kind == "smtp":
        return lab.mail_dir / "sink.log"
    if kind == "haproxy":
        return lab.box_dir("lb1") / "log" / "haproxy.log"
    file = {
        "sshd": "sshd.log",
        "site": "site.out",
        "postgres": "postgresql.log",
        "etcd": "etcd.log",
        "patroni": "patroni.out",
    }[kind]
    return lab.box_dir(box) / "log" / file


def down(lab: LabLayout, say: Say, purge: bool = False) -> LabStatus:
    """Stop every process LAB started, by pid; with PURGE, delete its directory."""
    with _exclusive(lab):
        return _down(lab, say, purge)


def _down(lab: LabLayout, say: Say, purge: bool) -> LabStatus:
    recorded = procs.recorded(lab.pid_dir)
    order = ["haproxy", *(f"site-{n}" for n in lab.web_names), "smtp"]
    if lab.patroni:  # each Patroni stops its PostgreSQL; etcd after the last Patroni
        order += patroni.stop_order(lab)
    order += [f"postgres-{db}" for db in reversed(lab.db_names)]
    order += [f"etcd-{db}" for db in lab.db_names if lab.patroni]
    order += [f"sshd-{box}" for box in lab.boxes]
    for name in order + sorted(set(recorded) - set(order)):
        kind, _, box = name.partition("-")
        if kind in ("site", "runsv") and name not in recorded:  # the site under runit
            for said in supervise.stop(lab, box) if kind == "site" else ():
                say(said)
            continue
        proc = _live(lab, name, recorded)
        sig = signal.SIGINT if name.startswith("postgres") else signal.SIGTERM  # fast shutdown
        if proc is not None and procs.stop(proc, sig, timeout=30):
            say(f"stopped {name} (pid {proc.pid})")
        procs.forget(lab.pid_dir, name)
    result = status(lab)
    if purge and lab.root.exists():
        shutil.rmtree(lab.root)
        say(f"removed {lab.root}")
    return result
