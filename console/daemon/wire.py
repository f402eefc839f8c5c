"""The two lines a quick client needs, with nothing but json: its request, the hello's digest.

console/daemon/protocol.py has the whole protocol; `hotspare status`
answered by the monitor (console/daemon/quick.py) loads only this.
"""

from __future__ import annotations

import json

SCHEMA = "hotspare.monitor/1"


def request_line(want: str, as_json: bool = False) -> bytes:
    """The line a client opens with: what it WANTs ("snapshots" or "status")."""
    return (json.dumps({"want": want, "json": as_json}) + "\n").encode()


def hello_digest(line: bytes) -> str | None:
    """The cluster.yaml digest a hello LINE says, or None if LINE is no hello of this version."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        return None
    digest = raw.get("digest")
    return digest if isinstance(digest, str) else None
