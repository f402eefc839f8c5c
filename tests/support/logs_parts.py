"""Writing lines into the lab nodes' logs, as the site would (or an attacker).

The lab's boxes are directories on this machine and the site writes its logs
as the user running the lab, so the tests write the same way, locally; the
console under test still reads everything over SSH.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from console.inventory import Inventory, WebNode, load
from console.lab.layout import LabLayout
from console.node_role import NodeRole, write

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def lab_inventory(lab: LabLayout) -> Inventory:
    return load(lab.cluster_file)


def node(inv: Inventory, name: str) -> WebNode:
    return next(n for n in inv.web_nodes if n.name == name)


def access_line(at: float, path: str, status: int = 200) -> bytes:
    """A combined-format line stamped AT (UTC)."""
    t = datetime.fromtimestamp(at, UTC)
    stamp = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"
    return f'10.0.0.9 - - [{stamp}] "GET {path} HTTP/1.1" {status} 42 "-" "test"'.encode()


def append(path: str, lines: list[bytes]) -> None:
    """Append LINES to the log at PATH in one write, as a logging process would."""
    with Path(path).open("ab") as log:
        log.write(b"".join(line + b"\n" for line in lines))


def set_role(web: WebNode, role: NodeRole) -> None:
    """Replace the node's role file atomically, as hotspare does."""
    write(web.role_file, role)


def marker(tag: str) -> str:
    """A string unique to this test run."""
    return f"{tag}-{time.monotonic_ns()}"
