"""The demo site process: its parts, its HTTP server and its life cycle."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from console.lab.site.accesslog import AccessLog
from console.lab.site.db import Database, Health, SiteDbError
from console.lab.site.errorlog import ErrorLog
from console.lab.site.handler import SiteHandler, SiteParts
from console.lab.site.mail import Mailer
from console.lab.site.release import Release
from console.lab.site.release import load as load_release
from console.lab.site.restart import RestartWatch, restart
from console.lab.site.rolewatch import RoleWatcher
from console.lab.site.sweep import Sweeper

HEALTH_BUDGET = 1.5
"""Seconds /healthz waits for the database before it answers 503."""

MAX_HEALTH_PROBES = 4
LISTEN_RETRY = 5.0
"""Seconds a restarted site keeps trying to listen again on its address."""


@dataclass(frozen=True)
class SiteConfig:
    """Everything the site takes from its command line."""

    node: str
    listen: tuple[str, int]
    role_file: Path
    access_log: str
    error_log: str
    mail_log: str
    pid_file: Path | None
    dsn: str
    smtp: tuple[str, int]
    sweep_interval: float
    release_dir: Path | None = None
    restart_file: Path | None = None


class Site:
    """The parts of a running site, shared by all request threads."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.node = config.node
        self.started = time.time()
        self.release: Release = load_release(config.release_dir)
        self.errlog = ErrorLog(config.error_log, config.node)
        self.access = AccessLog(config.access_log, config.node)
        self.roles = RoleWatcher(config.role_file, self.errlog)
        self.db = Database(
            config.dsn,
            config.node,
            words=self.release.has("words"),
            pin=lambda: self.roles.current().database,
        )
        self.mailer = Mailer(config.node, config.smtp, config.mail_log, self.errlog)
        self.sweeper = Sweeper(
            config.node, config.sweep_interval, self.roles, self.db, self.mailer, self.errlog
        )
        self._probe_slots = threading.BoundedSemaphore(MAX_HEALTH_PROBES)
        self._last_health: str | None = None

    def check_health(self) -> str | None:
        """Check that the primary answers within HEALTH_BUDGET; return None or the problem.

        The query runs in a daemon thread so the balancer gets its answer on
        time even when a connect hangs; a few probes at most run at once.
        """
        if not self._probe_slots.acquire(blocking=False):
            return self._note_health("too many health probes still waiting for the database")
        answer: queue.SimpleQueue[Health | SiteDbError] = queue.SimpleQueue()

        def probe() -> None:
            try:
                answer.put(self.db.health())
            except SiteDbError as exc:
                answer.put(exc)
            finally:
                self._probe_slots.release()

        threading.Thread(target=probe, name="healthz", daemon=True).start()
        try:
            result = answer.get(timeout=HEALTH_BUDGET)
        except queue.Empty:
            return self._note_health(f"database did not answer within {HEALTH_BUDGET} s")
        if isinstance(result, SiteDbError):
            return self._note_health(str(result))
        if result.in_recovery:
            return self._note_health("connected database is in recovery (a standby)")
        return self._note_health(None)

    def _note_health(self, problem: str | None) -> str | None:
        """Log health changes only, not every balancer probe."""
        if problem != self._last_health:
            if problem is None:
                self.errlog.info("healthz: database primary answers again")
            else:
                self.errlog.error(f"healthz failing: {problem}")
            self._last_health = problem
        return problem

    def close(self) -> None:
        """Close the log files."""
        self.mailer.close()
        self.access.close()
        self.errlog.close()


class SiteServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that carries the Site and logs its errors on one line."""

    daemon_threads = True

    def __init__(self, site: Site) -> None:
        self.site: SiteParts = site  # mypy checks here that a Site is what a handler needs
        super().__init__(site.config.listen, SiteHandler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """Log an error that escaped a request (usually a client that went away)."""
        summary = " | ".join(traceback.format_exc().strip().splitlines()[-3:])
        self.site.errlog.error(f"request from {client_address[0]} failed: {summary}")


def run(config: SiteConfig) -> int:
    """Serve until SIGTERM or SIGINT, or re-execute on a restart request; return the exit status."""
    site = Site(config)
    watch = RestartWatch.from_environment(config.restart_file) if config.restart_file else None
    server = _listen(site, LISTEN_RETRY if watch is not None and watch.restarted else 0.0)
    if server is None:
        site.close()
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _write_pid(config.pid_file)
    _log_start(site)
    site.sweeper.start()
    serving = threading.Thread(target=server.serve_forever, args=(0.25,), name="http")
    serving.start()
    token = None
    # Short waits: the signal may land on another thread, and only wakes us at a timeout.
    while not stop.wait(0.2) and token is None:
        token = watch.pending() if watch is not None else None
    why = "to restart onto its release link, as requested" if token else ""
    site.errlog.info(f"site {config.node} stopping {why}".rstrip())
    server.shutdown()
    serving.join()
    server.server_close()
    site.sweeper.stop()
    if token is not None:
        site.errlog.info(f"site {config.node} re-executing, pid {os.getpid()}")
        site.close()
        restart(token)  # the pid file stays: the pid does not change
    site.errlog.info(f"site {config.node} stopped")
    site.close()
    _remove_pid(config.pid_file)
    return 0


def _listen(site: Site, retry: float) -> SiteServer | None:
    """The server listening on the site's address; None, logged, when it cannot.

    A restarted site retries for RETRY seconds: its address was its own a moment ago.
    """
    deadline = time.monotonic() + retry
    host, port = site.config.listen
    while True:
        try:
            return SiteServer(site)
        except OSError as exc:
            if time.monotonic() >= deadline:
                site.errlog.error(f"cannot listen on {host}:{port}: {exc}")
                return None
        time.sleep(0.1)


def _log_start(site: Site) -> None:
    config, release = site.config, site.release
    site.errlog.info(
        f"site {config.node} started, pid {os.getpid()}, listening on "
        f"{config.listen[0]}:{config.listen[1]}, role {site.roles.current().role}, "
        f"release {release.name or 'none'}"
        + (f" from {release.directory}" if release.directory else "")
    )
    if release.problem is not None:
        site.errlog.error(f"release unreadable, failing health: {release.problem}")


def _write_pid(path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{os.getpid()}\n", encoding="ascii")


def _remove_pid(path: Path | None) -> None:
    """Remove the pid file, unless another process has written its own pid there since."""
    if path is None:
        return
    with contextlib.suppress(OSError):
        if path.read_text(encoding="ascii").strip() == str(os.getpid()):
            path.unlink()
