"""The node-local role file: hotspare writes it, the demo site on the node reads it.

The file is UTF-8 text made of ``key=value`` lines; blank lines and lines
starting with ``#`` are ignored. Keys that are absent take their defaults,
which describe a harmless warm spare::

    role=warm                # hot | warm
    scheduler=no             # yes | no
    mail=log                 # real | log
    read_only=no             # yes | no
    read_only_message=       # free text, one line, may be empty
    read_only_until=         # free text, e.g. "2026-11-26 03:30 UTC", may be empty
    database=                # HOST:PORT, e.g. 10.0.0.21:5432, or empty

``database`` pins the node to one PostgreSQL server: when set, every
connection of the site goes to that host and port only, instead of the hosts
its own DSN lists (the DSN's other parameters, such as target_session_attrs,
still apply). Empty means the site's configured DSN, as before. HOST is an
IPv4 address or a DNS name, PORT 1-65535. An A/B upgrade uses it to point
each side's nodes at that side's own primary.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from console.errors import Exit, HotspareError

Role = Literal["hot", "warm"]
MailMode = Literal["real", "log"]

_ROLES: tuple[Role, ...] = ("hot", "warm")
_MAIL_MODES: tuple[MailMode, ...] = ("real", "log")
_BOOLS = {"yes": True, "no": False}
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
DATABASE_FORMAT = "database must be HOST:PORT such as 10.0.0.21:5432, or empty"

HEADER = (
    "# hotspare node role file.\n"
    "# Written by hotspare (atomically); the demo site re-reads it whenever it\n"
    "# changes, so edits apply without a restart. Format: key=value lines.\n"
)


class RoleFileError(HotspareError, ValueError):
    """The role file cannot be understood.

    Attributes:
        line: 1-based line number of the problem, or None if it is not tied to a line.
    """

    exit = Exit.FAILED

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class NodeRole:
    """The role flags of one web node, as the site applies them."""

    role: Role = "warm"
    scheduler: bool = False
    mail: MailMode = "log"
    read_only: bool = False
    read_only_message: str = ""
    read_only_until: str = ""
    database: str = ""

    def __post_init__(self) -> None:
        # Checked here too so that render() can never write a file parse() refuses.
        if self.role not in _ROLES:
            raise RoleFileError(f"role must be hot or warm, not {self.role!r}")
        if self.mail not in _MAIL_MODES:
            raise RoleFileError(f"mail must be real or log, not {self.mail!r}")
        for name in ("read_only_message", "read_only_until"):
            value = getattr(self, name)
            if any(ch in value for ch in "\r\n\x00") or value != value.strip():
                raise RoleFileError(f"{name} must be one line without surrounding blanks")
        if not is_database(self.database):
            raise RoleFileError(f"{DATABASE_FORMAT}, not {_shorten(self.database)!r}")


def is_database(value: str) -> bool:
    """Whether VALUE is a valid ``database`` pin: empty, or HOST:PORT.

    HOST is an IPv4 address or a DNS name (all-numeric names must be real
    IPv4 addresses, so ``999.1.1.1`` is refused); PORT is 1-65535.
    """
    if not value:
        return True
    host, sep, port = value.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        return False
    labels = host.split(".")
    if all(label.isascii() and label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in labels)


def effective_mail(role: NodeRole) -> MailMode:
    """Return the mail mode the node must really use.

    Real mail goes out only when the file says ``mail=real`` AND the node is
    hot: a warm spare never sends real mail, whatever its file says, so a
    spare that was left with ``mail=real`` cannot mail customers twice.
    The scheduler flag does not matter here: it decides whether the sweep
    runs at all, not how the mail of a hot node is delivered.
    """
    return "real" if role.mail == "real" and role.role == "hot" else "log"


def parse(text: str) -> NodeRole:
    """Parse the text of a role file.

    Raises:
        RoleFileError: on a line without '=', an unknown or repeated key, or a bad value.
    """
    values: dict[str, Any] = {}
    known = {f.name for f in fields(NodeRole)}
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise RoleFileError(f"expected key=value, got {_shorten(line)!r}", number)
        if key not in known:
            raise RoleFileError(f"unknown key {_shorten(key)!r}", number)
        if key in values:
            raise RoleFileError(f"key {key!r} given twice", number)
        values[key] = _parse_value(key, value, number)
    return NodeRole(**values)


def _parse_value(key: str, value: str, number: int) -> object:
    """Check and convert the value of one known key."""
    if key == "role":
        if value not in _ROLES:
            raise RoleFileError(f"role must be hot or warm, not {_shorten(value)!r}", number)
        return value
    if key == "mail":
        if value not in _MAIL_MODES:
            raise RoleFileError(f"mail must be real or log, not {_shorten(value)!r}", number)
        return value
    if key in ("scheduler", "read_only"):
        if value not in _BOOLS:
            raise RoleFileError(f"{key} must be yes or no, not {_shorten(value)!r}", number)
        return _BOOLS[value]
    if key == "database":
        if not is_database(value):
            raise RoleFileError(f"{DATABASE_FORMAT}, not {_shorten(value)!r}", number)
        return value
    if "\x00" in value:
        raise RoleFileError(f"{key} contains a NUL character", number)
    return value


def _shorten(text: str, limit: int = 40) -> str:
    """Cut text for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(role: NodeRole) -> str:
    """Return the text of the role file for ``role`` (parse(render(r)) == r)."""
    yes_no = {True: "yes", False: "no"}
    return (
        HEADER
        + f"role={role.role}\n"
        + f"scheduler={yes_no[role.scheduler]}\n"
        + f"mail={role.mail}\n"
        + f"read_only={yes_no[role.read_only]}\n"
        + f"read_only_message={role.read_only_message}\n"
        + f"read_only_until={role.read_only_until}\n"
        + f"database={role.database}\n"
    )


def read(path: str | os.PathLike[str]) -> NodeRole:
    """Read and parse a role file.

    Raises:
        OSError: if the file cannot be read.
        RoleFileError: if it cannot be parsed (also for invalid UTF-8).
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RoleFileError(f"not valid UTF-8 at byte {exc.start}") from exc
    return parse(text)


def write(path: str | os.PathLike[str], role: NodeRole) -> None:
    """Write a role file atomically: a reader sees the old file or the new one, never half."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render(role))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
