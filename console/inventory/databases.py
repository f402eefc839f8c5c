"""The ``database_defaults``, ``databases`` and ``hooks`` sections."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from .fields import (
    Bad,
    Check,
    choice,
    http_url,
    is_host,
    local_path,
    name,
    optional,
    placeholders,
    port,
    remote_path,
    size,
    text,
    user_name,
)
from .model import Database, Hooks
from .sections import Key, Read, box_ref, box_where, entries, merge, read_keys, section
from .yamltree import Node, Reporter, scalar

PATRONI_FILES = ("patroni_cacert", "patroni_cert", "patroni_key", "patroni_auth")
"""Files on each database's box that curl needs to reach Patroni's REST API (docs/patroni.md)."""

_NOT_DEFAULTABLE = {
    "box": "each database names its own box (default: the database's name)",
    "host": "each database has its own listen address (default: 127.0.0.1)",
}


def db_host(node: Node) -> str:
    """An address, a host name, or a socket directory on the box."""
    value = text(node)
    if value.startswith("/") or is_host(value):
        return value
    raise Bad("expected the address PostgreSQL listens on, a host name or a socket directory")


def dcs_namespace(node: Node) -> str:
    """Patroni's namespace: a key prefix such as /service/ (slashes added where missing)."""
    value = text(node).strip()
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise Bad("expected Patroni's namespace, a key prefix such as /service/")
    return "/" + value.strip("/") + "/" if value.strip("/") else "/"


def client_cert(check: Check) -> Check:
    """A client certificate's path: curl reads a colon in ``--cert`` as a password's start."""

    def check_cert(node: Node) -> str:
        value: str = check(node)
        if ":" in value:
            raise Bad("curl reads a ':' in a certificate's path as the start of its password")
        return value

    return check_cert


def database_keys(base: Path, where: str) -> dict[str, Key]:
    """The keys of a database; local paths relative to ``base``, remote ones on ``where``."""

    def path(allowed: tuple[str, ...] = ()) -> Check:
        return placeholders(allowed, remote_path(where))

    return {
        "box": Key(name("a box name")),
        "host": Key(placeholders((), db_host), default="127.0.0.1"),
        "port": Key(port, required=True),
        "dbname": Key(placeholders((), text), required=True),
        "user": Key(placeholders((), text), required=True),
        "passfile": Key(optional(placeholders((), local_path(base)))),
        "data_dir": Key(path(("node",)), required=True),
        "bin_dir": Key(path(), required=True),
        "os_user": Key(user_name, required=True),
        "become": Key(choice(("sudo", "runuser", "none")), required=True),
        "switchover_max_lag": Key(size, default=16 * 1024 * 1024),
        "manager": Key(choice(("postgres", "patroni")), default="postgres"),
        "patroni_url": Key(optional(placeholders(("host",), http_url))),
        "dcs_url": Key(optional(placeholders(("host",), http_url))),
        "patroni_namespace": Key(dcs_namespace, default="/service/"),
        "patroni_cacert": Key(optional(path(("node",)))),
        "patroni_cert": Key(optional(client_cert(path(("node",))))),
        "patroni_key": Key(optional(path(("node",)))),
        "patroni_auth": Key(optional(path(("node",)))),
    }


def read_databases(
    rep: Reporter,
    top: Mapping[str, tuple[Node, Node]],
    names: Collection[str],
    base: Path,
) -> tuple[Database, ...]:
    """Read ``database_defaults`` and ``databases``; check (box, port) is unique."""
    defaults = _read_defaults(rep, top, base)
    node = section(rep, top, "databases", "a mapping of database names to settings")
    if node is None:
        return ()
    found: dict[tuple[str, int], str] = {}
    databases = []
    shared = [k for k in database_keys(base, "") if k not in _NOT_DEFAULTABLE]
    for db_name, mapping in entries(rep, node, "databases", "database"):
        keys = database_keys(base, box_where(mapping, f"box {db_name}"))
        read = read_keys(rep, mapping, f"databases.{db_name}", keys)
        merged = merge(rep, read, defaults, keys, "database_defaults", shared)
        if merged is None:
            continue
        values, nodes = merged
        box = values["box"] or db_name
        if not box_ref(rep, box, nodes["box"], f"databases.{db_name}.box", names):
            continue
        other = found.setdefault((box, values["port"]), db_name)
        if other != db_name:
            rep.at(
                nodes["port"],
                f"databases.{db_name}.port",
                f"{other} and {db_name} are both on box {box} port {values['port']}; "
                "two PostgreSQL servers cannot share a port on one box",
            )
            continue
        if values["manager"] == "patroni" and not values["patroni_url"]:
            rep.at(
                nodes["manager"],
                f"databases.{db_name}.manager",
                "manager is patroni but patroni_url is not set; add patroni_url "
                "(Patroni's REST API as seen from the box, e.g. http://{host}:8008)",
            )
            continue
        if not _patroni_files(rep, values, nodes, partial(_key_path, read, db_name)):
            continue
        values.update(name=db_name, box=box, data_dir=values["data_dir"].replace("{node}", db_name))
        for key in ("patroni_url", "dcs_url"):
            if values[key]:
                values[key] = values[key].replace("{host}", values["host"])
        for key in PATRONI_FILES:
            if values[key]:
                values[key] = values[key].replace("{node}", db_name)
        databases.append(Database(**values))
    return tuple(databases)


def _key_path(own: Read, db_name: str, key: str) -> str:
    """Where KEY of database DB_NAME was set: its own entry, or database_defaults."""
    return f"databases.{db_name}.{key}" if key in own.values else f"database_defaults.{key}"


def _patroni_files(
    rep: Reporter, values: dict[str, Any], nodes: dict[str, Node], where: Callable[[str], str]
) -> bool:
    """Whether the files for Patroni's REST API go together: a client certificate with its
    key, and TLS files only with an https:// patroni_url. Reports the first that does not,
    at the key WHERE names."""
    cert, key = values["patroni_cert"], values["patroni_key"]
    if bool(cert) != bool(key):
        given, missing = ("patroni_cert", "patroni_key")[:: 1 if cert else -1]
        rep.at(
            nodes[given],
            where(given),
            f"{given} is set but {missing} is not: a client certificate goes with its key "
            "(both, for a Patroni that verifies clients, or neither)",
        )
        return False
    url = values["patroni_url"] or ""
    tls = [k for k in ("patroni_cacert", "patroni_cert") if values[k]]
    if tls and not url.lower().startswith("https://"):
        rep.at(
            nodes[tls[0]],
            where(tls[0]),
            f"{tls[0]} is set but patroni_url is not https:// ({url or 'not set'}): curl would "
            "not use TLS at all; write patroni_url as https://... or remove the key",
        )
        return False
    return True


def _read_defaults(rep: Reporter, top: Mapping[str, tuple[Node, Node]], base: Path) -> Read | None:
    node = section(rep, top, "database_defaults", "a mapping of settings shared by databases")
    if node is None:
        return None
    keys = database_keys(base, "each database's box")
    shared = {k: v for k, v in keys.items() if k not in _NOT_DEFAULTABLE}
    return read_keys(rep, node, "database_defaults", shared, _NOT_DEFAULTABLE)


def command(node: Node) -> str:
    """A non-empty shell command (several lines allowed)."""
    value = scalar(node)
    if not isinstance(value, str) or not value.strip():
        raise Bad("expected a shell command, or null for no hook")
    return value


def read_hooks(rep: Reporter, top: Mapping[str, tuple[Node, Node]]) -> Hooks | None:
    """Read the optional hooks section; placeholders are filled in when a hook runs."""
    keys = {
        "after_role_change": Key(optional(command)),
        "after_scheduler_move": Key(optional(command)),
        "upgrade": Key(optional(command)),
        "restart": Key(optional(command)),
    }
    node = section(rep, top, "hooks", "a mapping of hook names to shell commands")
    if node is None:
        return None if "hooks" in top else Hooks(None, None)
    merged = merge(rep, read_keys(rep, node, "hooks", keys), None, keys, "", ())
    return None if merged is None else Hooks(**merged[0])
