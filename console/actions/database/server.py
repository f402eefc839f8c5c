"""A PostgreSQL server on its box: pg_ctl, pg_controldata and SQL, as the steps use them.

Commands run over the box's SSH link as the data directory's owner
(``become`` in cluster.yaml), each with a timeout. The parsing here is pure.
"""

from __future__ import annotations

import shlex

from console.actions.context import Context
from console.errors import ActionError
from console.inventory import Database, Inventory

STOP_TIMEOUT = 60  # pg_ctl -t: a fast shutdown after a checkpoint takes well under a second
START_TIMEOUT = 60
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def as_owner(db: Database, command: str) -> str:
    """COMMAND as the data directory's owner, the way cluster.yaml says to become it."""
    if db.become == "none":
        return command
    how = "sudo -n -u" if db.become == "sudo" else "runuser -u"
    return f"{how} {shlex.quote(db.os_user)} -- sh -c {shlex.quote(command)}"


def program(db: Database, name: str) -> str:
    return shlex.quote(f"{db.bin_dir}/{name}")


def pg_ctl(db: Database, verb: str) -> str:
    """The pg_ctl command line for VERB (start, status) on DB's data directory.

    Stopping is `stop_and_wait`.
    """
    data = shlex.quote(db.data_dir)
    base = f"{program(db, 'pg_ctl')} -D {data}"
    if verb == "start":
        log = shlex.quote(server_log(db))
        return f"{base} start -w -t {START_TIMEOUT} -l {log}"
    return f"{base} {verb}"


def alive(db: Database) -> str:
    """A shell test: DB's postmaster runs.

    The pid in postmaster.pid must be a live process whose working directory
    is the data directory (the postmaster's). `pg_ctl status` takes any
    process with that pid: after a crash the file stays, and its pid may be
    a zombie nobody has reaped yet, or someone else's process by now.
    """
    data = shlex.quote(db.data_dir)
    return (
        f'{{ pid=$(head -n 1 {data}/postmaster.pid 2>/dev/null) && [ -n "$pid" ] && '
        f'[ "$(readlink /proc/"$pid"/cwd 2>/dev/null)" = "$(cd {data} && pwd -P)" ]; }}'
    )


def stop_and_wait(db: Database) -> str:
    """A fast shutdown, then a wait for the postmaster to exit, looking every 10 ms.

    `pg_ctl stop -w` looks every 100 ms: most of a switchover's write window
    was that wait. The loop gives up after STOP_TIMEOUT seconds.
    """
    data = shlex.quote(db.data_dir)
    stop = f"{program(db, 'pg_ctl')} -D {data} stop -m fast -W"
    ticks = STOP_TIMEOUT * 100
    return (
        f"{stop} && n=0 && while {alive(db)}; do n=$((n+1)); "
        f'[ "$n" -gt {ticks} ] && echo "still running after {STOP_TIMEOUT} s" && exit 1; '
        "sleep 0.01; done && echo 'server stopped'"
    )


def server_log(db: Database) -> str:
    """Where pg_ctl start sends the server's output: beside the data directory, in log/."""
    return f"{db.data_dir.rstrip('/').rsplit('/', 1)[0]}/log/postgresql.log"


def parse_controldata(text: str) -> dict[str, str]:
    """pg_controldata's 'Name:   value' lines as a dict."""
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip()] = value.strip()
    return found


async def controldata(ctx: Context, db: Database) -> dict[str, str]:
    """pg_controldata of DB (works with the server stopped)."""
    command = as_owner(db, f"{program(db, 'pg_controldata')} -D {shlex.quote(db.data_dir)}")
    result = await ctx.run(db.box, f"LC_ALL=C {command}")
    if result.exit_status != 0:
        said = (result.stderr or result.stdout).strip()[:300]
        raise ActionError(f"{db.box}: pg_controldata failed (exit {result.exit_status}): {said}")
    return parse_controldata(result.stdout)


async def running(ctx: Context, db: Database) -> bool:
    """Whether DB's postmaster runs (see `alive`)."""
    result = await ctx.run(db.box, as_owner(db, f"if {alive(db)}; then exit 0; else exit 3; fi"))
    if result.exit_status in (0, 3):
        return result.exit_status == 0
    said = (result.stderr or result.stdout).strip()[:300]
    raise ActionError(f"{db.box}: checking the postmaster exited {result.exit_status}: {said}")


async def pg_ctl_run(ctx: Context, db: Database, verb: str) -> str:
    """pg_ctl VERB on DB's box; its last line of output."""
    timeout = (STOP_TIMEOUT if verb == "stop" else START_TIMEOUT) + 10
    await ctx.forget(db)  # a connection from before would be cut by the stop
    command = stop_and_wait(db) if verb == "stop" else pg_ctl(db, verb)
    result = await ctx.run(db.box, as_owner(db, command), timeout)
    said = (result.stdout + result.stderr).strip()
    if result.exit_status != 0:
        raise ActionError(f"{db.box}: pg_ctl {verb} exited {result.exit_status}: {said[-300:]}")
    return said.splitlines()[-1] if said else f"pg_ctl {verb}: done"


async def in_recovery(ctx: Context, db: Database) -> bool:
    rows = await ctx.sql(db, "SELECT pg_is_in_recovery()")
    return bool(rows and rows[0][0])


def reachable_host(inv: Inventory, db: Database) -> str:
    """DB's address as other boxes reach it: its host, or its box's address when that is local."""
    if db.host.startswith("/") or db.host in LOCAL_HOSTS:
        return inv.box(db.box).address
    return db.host
