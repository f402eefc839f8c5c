"""Open an SSH connection to a box, through its jump chain, with strict host keys.

What the inventory leaves out (user, port, keys) comes from the operator's
~/.ssh/config, agent and known_hosts, as with ssh itself. Host keys are always
checked: an unknown or changed key is refused with its fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from console.inventory import Box, Inventory
from console.ssh.errors import AuthRefused, BoxError, HostKeyRefused, Unreachable

KEEPALIVE_INTERVAL = 10.0
KEEPALIVE_COUNT_MAX = 3


@dataclass(frozen=True)
class Hop:
    """One SSH hop on the way to a box: a jump host or the box itself."""

    label: str
    host: str
    port: int | None
    user: str | None
    identity_file: Path | None
    known_hosts: Path | None
    connect_timeout: float

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port or 22}"


def _hop_for_box(box: Box) -> Hop:
    return Hop(
        box.name,
        box.address,
        box.port,
        box.user,
        box.identity_file,
        box.known_hosts,
        box.connect_timeout,
    )


def _hop_for_spec(spec: str, target: Box) -> Hop:
    """A jump host written as [user@]host[:port]: it uses the target's keys."""
    user, _, hostport = spec.rpartition("@")
    host, _, port = hostport.partition(":")
    return Hop(
        spec,
        host,
        int(port) if port else None,
        user or None,
        target.identity_file,
        target.known_hosts,
        target.connect_timeout,
    )


def route(inv: Inventory, name: str) -> tuple[Hop, ...]:
    """Every hop to box NAME, first jump first, the box itself last."""
    target = inv.box(name)
    names = {b.name for b in inv.boxes}
    hops = [
        _hop_for_box(inv.box(hop)) if hop in names else _hop_for_spec(hop, target)
        for hop in inv.jump_chain(name)
    ]
    return (*hops, _hop_for_box(target))


def _options(hop: Hop) -> dict[str, Any]:
    """asyncssh options for HOP: only what the inventory sets, the rest from ~/.ssh."""
    options: dict[str, Any] = {
        "connect_timeout": hop.connect_timeout,
        "keepalive_interval": KEEPALIVE_INTERVAL,
        "keepalive_count_max": KEEPALIVE_COUNT_MAX,
    }
    if hop.port is not None:
        options["port"] = hop.port
    if hop.user is not None:
        options["username"] = hop.user
    if hop.identity_file is not None:
        options["client_keys"] = [str(hop.identity_file)]
    if hop.known_hosts is not None:
        options["known_hosts"] = str(hop.known_hosts)
    return options


@dataclass
class Route:
    """An open connection to a box and the jump connections it runs over."""

    box: str
    conn: asyncssh.SSHClientConnection
    jumps: list[asyncssh.SSHClientConnection] = field(default_factory=list)

    def close(self) -> None:
        """Close the box's connection and then its jumps, innermost first."""
        for conn in (self.conn, *reversed(self.jumps)):
            conn.close()

    async def wait_closed(self) -> None:
        for conn in (self.conn, *reversed(self.jumps)):
            with contextlib.suppress(Exception):
                await conn.wait_closed()


async def open_route(inv: Inventory, name: str) -> Route:
    """Connect to box NAME through its jump chain.

    Raises:
        BoxError: a subclass saying what failed, at which hop, and what to do.
    """
    opened = await open_hops(name, route(inv, name))
    return Route(name, opened[-1], opened[:-1])


async def open_hops(box: str, hops: tuple[Hop, ...]) -> list[asyncssh.SSHClientConnection]:
    """Connect HOPS in order, each through the one before; all or nothing."""
    opened: list[asyncssh.SSHClientConnection] = []
    try:
        for hop in hops:
            tunnel = opened[-1] if opened else None
            opened.append(await _connect_hop(box, hop, tunnel))
    except BaseException:
        for conn in reversed(opened):
            conn.close()
        raise
    return opened


async def _connect_hop(
    box: str, hop: Hop, tunnel: asyncssh.SSHClientConnection | None
) -> asyncssh.SSHClientConnection:
    prefix = f"jump host {hop.label} ({hop.where}): " if hop.label != box else ""
    _check_files(box, hop, prefix)
    try:
        return await asyncssh.connect(hop.host, tunnel=tunnel or (), **_options(hop))
    except asyncssh.HostKeyNotVerifiable as exc:
        raise await diagnose_host_key(box, hop, tunnel, prefix) from exc
    except asyncssh.PermissionDenied as exc:
        who = hop.user or "the default user"
        key = hop.identity_file or "the agent's and ~/.ssh keys"
        raise AuthRefused(
            box,
            f"{prefix}login refused for {who} at {hop.where}: {key} is not authorised "
            "there (check authorized_keys on the box, and user/identity_file in cluster.yaml)",
        ) from exc
    except TimeoutError as exc:
        raise Unreachable(
            box,
            f"{prefix}no SSH answer from {hop.where} within {hop.connect_timeout:g} s: "
            "the box, its sshd or the network is hung",
        ) from exc
    except socket.gaierror as exc:
        raise Unreachable(box, f"{prefix}cannot resolve {hop.host!r}: {exc.strerror}") from exc
    except ConnectionRefusedError as exc:
        raise Unreachable(
            box, f"{prefix}connection refused at {hop.where}: sshd is not running there"
        ) from exc
    except OSError as exc:
        raise Unreachable(box, f"{prefix}cannot connect to {hop.where}: {exc.strerror}") from exc
    except asyncssh.ChannelOpenError as exc:
        raise Unreachable(
            box, f"{prefix}the previous jump host cannot reach {hop.where}: {exc.reason}"
        ) from exc
    except asyncssh.Error as exc:
        raise Unreachable(box, f"{prefix}SSH to {hop.where} failed: {exc.reason}") from exc


def _check_files(box: str, hop: Hop, prefix: str) -> None:
    """Refuse early, and plainly, when a key file named in cluster.yaml is missing."""
    if hop.identity_file is not None and not hop.identity_file.exists():
        raise Unreachable(
            box, f"{prefix}identity_file {hop.identity_file} does not exist (see cluster.yaml)"
        )
    if hop.known_hosts is not None and not hop.known_hosts.exists():
        raise Unreachable(
            box,
            f"{prefix}known_hosts {hop.known_hosts} does not exist (see cluster.yaml); "
            f"`hotspare trust {hop.label}` records a checked host key there",
        )


def known_hosts_file(hop: Hop) -> Path:
    """The known_hosts file that decides HOP's host key."""
    return hop.known_hosts or Path.home() / ".ssh" / "known_hosts"


async def fetch_host_key(
    hop: Hop, tunnel: asyncssh.SSHClientConnection | None
) -> asyncssh.SSHKey | None:
    """The host key HOP offers, read without logging in (None if unreadable)."""
    try:
        return await asyncio.wait_for(
            asyncssh.get_server_host_key(hop.host, hop.port or 22, tunnel=tunnel or ()),
            hop.connect_timeout,
        )
    except (OSError, asyncssh.Error, TimeoutError):
        return None


def recorded_keys(hop: Hop) -> list[asyncssh.SSHKey]:
    """The keys recorded for HOP in its known_hosts file."""
    path = known_hosts_file(hop)
    try:
        known = asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError):
        return []
    return list(known.match(hop.host, hop.host, hop.port)[0])


def changed_key_message(hop: Hop, offered: str, path: Path, prefix: str = "") -> str:
    """What to say, and to do, when HOP offers a key other than the one recorded."""
    return (
        f"{prefix}HOST KEY CHANGED for {hop.where}: it offers {offered}, not the key "
        f"recorded in {path}. Someone may be intercepting the connection, so hotspare "
        "will not use it. Verify the new key out of band (on the box's console, or with "
        f"whoever reinstalled it); only if it matches, run `hotspare trust {hop.label} --replace`."
    )


async def diagnose_host_key(
    box: str, hop: Hop, tunnel: asyncssh.SSHClientConnection | None, prefix: str = ""
) -> BoxError:
    """Explain a refused host key: unknown or changed, with the offered fingerprint."""
    offered = await fetch_host_key(hop, tunnel)
    fingerprint = offered.get_fingerprint("sha256") if offered else None
    shown = f"{offered.get_algorithm()} {fingerprint}" if offered else "(could not be read)"
    path = known_hosts_file(hop)
    if recorded_keys(hop):
        return HostKeyRefused(box, changed_key_message(hop, shown, path, prefix), fingerprint, True)
    return HostKeyRefused(
        box,
        f"{prefix}unknown host key for {hop.where}: it offers {shown}, not in {path}. "
        f"Check the fingerprint with the box's owner, then run `hotspare trust {hop.label}`.",
        fingerprint,
        changed=False,
    )
