"""The scheduled sweep: what OpenACS scheduled procs are to the HA setup.

Only the node whose role file says ``scheduler=yes`` runs it; every node
still re-reads its role on each tick, so a scheduler move applies at once.
"""

from __future__ import annotations

import threading

from console.lab.site.db import Database, SiteDbError
from console.lab.site.errorlog import ErrorLog
from console.lab.site.mail import Mailer
from console.lab.site.rolewatch import RoleWatcher


class Sweeper:
    """A background thread that runs the sweep every ``interval`` seconds."""

    def __init__(
        self,
        node: str,
        interval: float,
        roles: RoleWatcher,
        db: Database,
        mailer: Mailer,
        errlog: ErrorLog,
    ) -> None:
        self._node = node
        self._interval = interval
        self._roles = roles
        self._db = db
        self._mailer = mailer
        self._errlog = errlog
        self._stop = threading.Event()
        # Daemon: a sweep stuck in a database connect must not hold up shutdown.
        self._thread = threading.Thread(target=self._run, name="sweep", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 1.5) -> None:
        """Ask the thread to stop and wait a little for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception as exc:
                # The sweep must outlive any surprise; the error log tells the operator.
                self._errlog.error(f"sweep failed unexpectedly: {type(exc).__name__}: {exc}")

    def tick(self) -> bool:
        """Run one sweep if this node is the scheduler; return whether it ran."""
        role = self._roles.current()
        if not role.scheduler:
            return False
        try:
            run_id, ran_at, notes = self._db.record_sweep(self._node)
        except SiteDbError as exc:
            self._errlog.error(f"sweep on {self._node} skipped: {exc}")
            return False
        self._mailer.send(
            role,
            f"[hotspare demo] sweep report #{run_id} from {self._node}",
            f"Sweep #{run_id} ran on {self._node} at {ran_at:%Y-%m-%d %H:%M:%S %Z}.\n"
            f"Notes in the database: {notes}.\n",
        )
        return True
