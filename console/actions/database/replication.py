"""How a standby connects to its primary: derived from the settings the members already have.

The members' own primary_conninfo carries the replication user and where
its password is (a passfile on the box); hotspare never sees a password.
A rejoined standby gets the same, pointed at the new primary and named
after itself; pg_rewind connects with it too (the user needs EXECUTE on
pg_ls_dir, pg_stat_file and pg_read_binary_file, or to be a superuser).
"""

from __future__ import annotations

import re
import shlex

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import console.actions.database.server as server
from console.actions.context import Context
from console.errors import ActionError
from console.inventory import Database, Inventory


def conf_string(value: str) -> str:
    """VALUE as a quoted string in a PostgreSQL configuration file (as ALTER SYSTEM writes it)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def parse_auto_conf(text: str, name: str) -> str | None:
    """The last value of setting NAME in a postgresql.auto.conf (the last one wins).

    In these files a quote is doubled or backslash-escaped, and a backslash escapes.
    """
    found = None
    for line in text.splitlines():
        match = re.match(rf"\s*{name}\s*=\s*'((?:[^'\\]|''|\\.)*)'", line)
        if match:
            found = re.sub(r"''|\\(.)", lambda m: m.group(1) or "'", match.group(1))
    return found


def point_at(conninfo: str, inv: Inventory, me: Database, primary: Database, rewind: bool) -> str:
    """CONNINFO pointed at PRIMARY, for ME's WAL receiver (or for pg_rewind)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ActionError(f"cannot read primary_conninfo {conninfo!r}: {exc}") from exc
    params.update(host=server.reachable_host(inv, primary), port=str(primary.port))
    params.pop("hostaddr", None)
    params.pop("replication", None)
    if rewind:
        params["dbname"] = primary.dbname
        params.pop("application_name", None)
    else:
        params["application_name"] = me.name
    return make_conninfo(**{k: str(v) for k, v in params.items()})


async def standby_settings(
    ctx: Context, inv: Inventory, me: Database, primary: Database, for_rewind: bool
) -> str:
    """The conninfo ME uses to follow PRIMARY: from PRIMARY's own (it was a standby), else ME's."""
    rows = await ctx.sql(primary, "SHOW primary_conninfo")
    conninfo = str(rows[0][0]) if rows and rows[0][0] else ""
    if not conninfo:
        auto = f"{me.data_dir}/postgresql.auto.conf"
        result = await ctx.run(me.box, server.as_owner(me, f"cat {shlex.quote(auto)}"))
        conninfo = parse_auto_conf(result.stdout, "primary_conninfo") or ""
    if not conninfo:
        raise ActionError(
            f"neither {primary.name} nor {me.name} has a primary_conninfo to copy: "
            f"set one on {me.name} by hand (the replication user and its passfile)"
        )
    return point_at(conninfo, inv, me, primary, for_rewind)
