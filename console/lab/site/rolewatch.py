"""Follows the node role file: re-read on change, last good role kept when it breaks."""

from __future__ import annotations

import threading
from dataclasses import fields, replace
from pathlib import Path

from console import node_role
from console.lab.site.errorlog import ErrorLog
from console.node_role import NodeRole

_FileKey = tuple[int, int, int]


def describe_change(old: NodeRole, new: NodeRole) -> str:
    """Return ``role=warm->hot scheduler=no->yes``: the fields that differ.

    The ``database`` pin is left out: a change of it has its own line (pin_change).
    """
    parts = []
    for field in fields(NodeRole):
        if field.name == "database":
            continue
        before, after = getattr(old, field.name), getattr(new, field.name)
        if before != after:
            parts.append(f"{field.name}={_show(before)}->{_show(after)}")
    return " ".join(parts) or "no change"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, str) and not value.isalnum() else str(value)


def pin_change(database: str) -> str:
    """The error log's line for a new ``database`` pin, or for one lifted."""
    if database:
        return f"database pinned to {database}"
    return "database pin lifted: using the DSN's hosts"


class RoleWatcher:
    """Gives the current NodeRole, re-reading the file only when it changed.

    A stat per call is cheap enough to do on every request and sweep tick.
    The file is compared by inode, mtime and size: hotspare replaces it
    atomically, so a new version always has a new inode.
    """

    def __init__(self, path: Path, errlog: ErrorLog) -> None:
        self.path = path
        self._errlog = errlog
        self._lock = threading.Lock()
        self._key: _FileKey | None = None
        self._role = NodeRole()
        self._problem: str | None = None
        self._loaded = False

    @property
    def problem(self) -> str | None:
        """The role file problem in force, if the last read failed."""
        return self._problem

    def current(self) -> NodeRole:
        """Return the role in force, re-reading the file first if it changed."""
        with self._lock:
            try:
                st = self.path.stat()
            except OSError as exc:
                self._report(f"cannot stat role file {self.path}: {exc.strerror}")
                self._key = None
                return self._role
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if key != self._key:
                self._key = key
                self._reload()
            return self._role

    def _reload(self) -> None:
        """Read the file; apply it if good, else report and keep the last good role."""
        try:
            new = node_role.read(self.path)
        except (OSError, node_role.RoleFileError) as exc:
            self._report(f"bad role file {self.path}: {exc}")
            return
        if self._problem is not None:
            self._errlog.info(f"role file {self.path} is readable again")
            self._problem = None
        if not self._loaded:
            self._errlog.info(f"role from {self.path}: {_summary(new)}")
        elif replace(new, database=self._role.database) != self._role:
            self._errlog.info(f"role changed: {describe_change(self._role, new)}")
        if new.database != self._role.database:  # before the first read: no pin
            self._errlog.info(pin_change(new.database))
        self._role, self._loaded = new, True

    def _report(self, problem: str) -> None:
        """Log a problem once, not on every request that meets it."""
        if problem != self._problem:
            self._problem = problem
            self._errlog.error(f"{problem}; keeping role {_summary(self._role)}")


def _summary(role: NodeRole) -> str:
    flags = f"role={role.role} scheduler={_show(role.scheduler)} mail={role.mail}"
    return f"{flags} read_only={_show(role.read_only)}"
