"""Where a runbook's record lives, and reading it in the same shell call as the action lock.

The record is a JSON file beside the cluster's action lock (see
console/probes/lock.py for that place): the lock is already read there on
every refresh, a runbook holds that lock for its whole run, and the
balancer's box is the one box every upgrade step goes through. A second file
beside it, the request, carries "pause" or "abort" from any console to the
runner. The record is only sent when its mtime or size changed since the
last read, so a long runbook costs nothing while it stands still.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass, replace

from console.inventory import Inventory
from console.probes import lock as lock_probe
from console.state.runbook import Runbook, from_record
from console.text import printable

RECORD_NAME = "hotspare-runbook.json"
REQUEST_NAME = "hotspare-runbook.request"
SEPARATOR = "%%hotspare-runbook%%"
UNCHANGED = "unchanged"
REQUESTS = ("pause", "abort")


@dataclass(frozen=True)
class Place:
    """The runbook's box and files."""

    box: str
    record: str
    request: str
    lock: str


def where(inv: Inventory) -> Place | None:
    """Beside the action lock; None when the inventory has no box to hold it."""
    found = lock_probe.where(inv)
    if found is None:
        return None
    box, lock_path = found
    folder = posixpath.dirname(lock_path)
    return Place(
        box, posixpath.join(folder, RECORD_NAME), posixpath.join(folder, REQUEST_NAME), lock_path
    )


def read_command(place: Place, seen: str = "") -> str:
    """The lock, then SEPARATOR, the record's stamp, the request and the record (unless SEEN)."""
    record, request = shlex.quote(place.record), shlex.quote(place.request)
    return (
        f"{lock_probe.read_command(place.lock)}; echo {SEPARATOR}; "
        f"if [ -e {record} ]; then s=$(stat -c '%Y.%s' {record}); echo \"stamp $s\"; "
        f'echo "request $(head -c 40 {request} 2>/dev/null | head -n1)"; '
        f'if [ "$s" = {shlex.quote(seen)} ]; then echo {UNCHANGED}; else cat {record}; fi; fi'
    )


@dataclass(frozen=True)
class Read:
    """What one read found: the lock's text, the record's stamp, the request, the runbook."""

    lock_text: str
    stamp: str
    request: str
    runbook: Runbook | None
    unchanged: bool
    broken: str = ""  # why a record that is there is not a runbook


def parse(text: str) -> Read:
    """Split what READ_COMMAND printed; a record that does not parse is no runbook."""
    lock_text, _, rest = text.partition(SEPARATOR + "\n")
    lines = rest.split("\n", 3)
    stamp = request = ""
    body = ""
    if len(lines) >= 3 and lines[0].startswith("stamp ") and lines[1].startswith("request"):
        stamp = printable(lines[0][6:].strip())
        request = lines[1][8:].strip()
        body = "\n".join(lines[2:])
    unchanged = body.strip() == UNCHANGED
    runbook = None
    broken = ""
    if body.strip() and not unchanged:
        try:
            loaded = json.loads(body)
        except json.JSONDecodeError as exc:
            loaded, broken = None, f"it is not JSON ({exc.msg} at line {exc.lineno})"
        runbook = from_record(loaded) if isinstance(loaded, dict) else None
        if runbook is None and not broken:
            broken = "it is not a hotspare runbook record"
    asked = request if request in REQUESTS else ""
    return Read(lock_text, stamp, asked, runbook, unchanged, broken)


def with_request(runbook: Runbook | None, request: str) -> Runbook | None:
    """RUNBOOK with the pending REQUEST it has not taken up yet."""
    return None if runbook is None else replace(runbook, request=request)
