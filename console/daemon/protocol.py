"""What a client and the monitor say on its socket: JSON Lines.

The client asks first, one line: `{"want": "snapshots"}` or `{"want":
"status", "json": false}`. The monitor answers with a hello line
(`hotspare.monitor/1`: who it is, which cluster.yaml it read, how often it
refreshes), then:
- for snapshots, the latest (`hotspare.status/N`, console/state/codec.py)
  and each new one after, until the client closes;
- for status, one line `{"exit": N, "output": "..."}`: what `hotspare
  status` prints and its exit status, made from the latest snapshot (or
  `{"exit": null, "why": "..."}` when it has none fresh), then it closes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from console.daemon.wire import SCHEMA, request_line

MAX_LINE = 64 * 1024 * 1024  # a snapshot of a hundred boxes is well under a megabyte


WANTS = ("snapshots", "status")


class ProtocolError(ValueError):
    """A line from the socket is not what a monitor (or a client) says."""


def _object(line: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"not a JSON object but {type(raw).__name__}")
    return raw


@dataclass(frozen=True)
class Request:
    """What a client wants: the stream of snapshots, or `status` once."""

    want: str
    json: bool = False

    def line(self) -> bytes:
        return request_line(self.want, self.json)

    @classmethod
    def parse(cls, line: bytes) -> Request:
        """The request in LINE.

        Raises:
            ProtocolError: LINE asks for nothing the monitor gives.
        """
        raw = _object(line)
        if raw.get("want") not in WANTS:
            raise ProtocolError(f"a request for {str(raw.get('want'))[:40]!r}")
        return cls(str(raw["want"]), bool(raw.get("json", False)))


@dataclass(frozen=True)
class Hello:
    """The monitor introducing itself to a new client."""

    pid: int
    started: float
    cluster: str
    cluster_file: str
    digest: str
    interval: float
    clients: int
    keepalive: bool = False

    def line(self) -> bytes:
        return (json.dumps({"schema": SCHEMA, **asdict(self)}) + "\n").encode()

    @classmethod
    def parse(cls, line: bytes) -> Hello:
        """The hello in LINE.

        Raises:
            ProtocolError: LINE is not a hello of this version.
        """
        raw = _object(line)
        if raw.get("schema") != SCHEMA:
            raise ProtocolError(f"not a {SCHEMA} hello (got {str(raw.get('schema'))[:40]!r})")
        try:
            return cls(
                pid=int(raw["pid"]),
                started=float(raw["started"]),
                cluster=str(raw["cluster"]),
                cluster_file=str(raw["cluster_file"]),
                digest=str(raw["digest"]),
                interval=float(raw["interval"]),
                clients=int(raw["clients"]),
                keepalive=bool(raw.get("keepalive", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"a hello without a usable {exc}") from None
