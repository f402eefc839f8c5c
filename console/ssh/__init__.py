"""SSH to the boxes: strict host keys, jump chains, one supervised link per box."""

from console.ssh.connect import Hop, Route, open_route, route
from console.ssh.errors import (
    AuthRefused,
    BoxError,
    HostKeyRefused,
    RemoteFailed,
    RemoteTimeout,
    Unreachable,
)
from console.ssh.link import BoxLink, LinkState
from console.ssh.remote import ProbeShell, Result, Stream

__all__ = [
    "AuthRefused",
    "BoxError",
    "BoxLink",
    "Hop",
    "HostKeyRefused",
    "LinkState",
    "ProbeShell",
    "RemoteFailed",
    "RemoteTimeout",
    "Result",
    "Route",
    "Stream",
    "Unreachable",
    "open_route",
    "route",
]
