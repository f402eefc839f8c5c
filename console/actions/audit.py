"""The audit log: one JSON line per action, refused and failed ones too.

Append-only and fsynced before the action's outcome is reported, so what
the team saw happen is on disk even if the console dies right after. Each
record says who (the user, and the SSH client when the console runs on a
jump host), on which cluster, what and on what, the plan, each step's result
and the outcome. The file is per inventory file (two inventories may share a
cluster name), under $XDG_STATE_HOME (default ~/.local/state)/hotspare/, or
where $HOTSPARE_AUDIT points.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console.inventory import Inventory

SCHEMA = "hotspare.audit/1"


def default_path(inv: Inventory) -> Path:
    """Where the audit log of INV lives unless $HOTSPARE_AUDIT says otherwise.

    The name is the cluster's, for a reader, plus a short hash of the
    inventory's resolved path: two files that both say `lab` keep two logs.
    """
    given = os.environ.get("HOTSPARE_AUDIT")
    if given:
        return Path(given)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in inv.name) or "cluster"
    where = hashlib.sha256(str(inv.path.resolve()).encode()).hexdigest()[:8]
    return Path(state) / "hotspare" / f"audit-{safe}-{where}.jsonl"


_acting_as: str | None = None


def acting_as(role: str) -> None:
    """Say, in every record and lock of this process, that ROLE acts (keepalive in the monitor)."""
    global _acting_as
    _acting_as = role


def operator() -> dict[str, str | None]:
    """Who is acting: the local user, where they came from over SSH, and as what if not
    themselves (keepalive in the shared monitor)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    client = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION") or ""
    return {
        "user": user,
        "ssh_client": client.split()[0] if client else None,
        "tty": os.environ.get("SSH_TTY") or None,
        **({"as": _acting_as} if _acting_as else {}),
    }


class AuditLog:
    """The append-only audit file of one cluster."""

    def __init__(self, path: Path, cluster: str) -> None:
        self.path = path
        self.cluster = cluster

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write RECORD (time, operator and cluster added) as one line, fsynced; return it.

        Raises:
            OSError: the log cannot be written; the caller must say so, loudly.
        """
        full = {
            "schema": SCHEMA,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "epoch": round(time.time(), 3),
            "operator": operator(),
            "cluster": self.cluster,
            **record,
        }
        line = json.dumps(full, ensure_ascii=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one whole line at a time, across consoles
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return full

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first; a line that does not parse is skipped, not fatal."""
        try:
            with self.path.open(encoding="utf-8", errors="replace") as log:
                for line in log:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict):
                        yield record
        except FileNotFoundError:
            return
