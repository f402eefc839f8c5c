"""Small clients the lab tests use to talk to the real boxes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import psycopg
import pytest

from console import cli
from console.lab.layout import PG_PORT, SSH_PORT, LabLayout


async def ssh(
    lab: LabLayout,
    box: str,
    client_key: Path | None = None,
    known_hosts: Path | None = None,
) -> asyncssh.SSHClientConnection:
    """Connect to BOX with pinned keys and nothing from the user's ~/.ssh."""
    return await asyncssh.connect(
        lab.address(box),
        port=SSH_PORT,
        username=lab.user,
        client_keys=[str(client_key or lab.client_key)],
        known_hosts=str(known_hosts or lab.known_hosts),
        agent_path=None,
        config=[],
        connect_timeout=5,
    )


async def haproxy(lab: LabLayout, command: str) -> str:
    """One runtime API command to lb1's HAProxy, over SSH (direct-streamlocal)."""
    async with await ssh(lab, "lb1") as conn:
        reader, writer = await conn.open_unix_connection(
            str(lab.haproxy_socket()), encoding="utf-8", errors="replace"
        )
        writer.write(command + "\n")
        answer = await reader.read()
        writer.close()
    return str(answer)


def serving(lab: LabLayout, *nodes: str) -> bool:
    """Whether HAProxy has every one of NODES READY (admin) and UP (its check) in `site`."""
    lines = asyncio.run(haproxy(lab, "show stat")).splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    seen = {r["svname"]: r["status"] for r in rows if r.get("pxname") == "site"}
    return all(seen.get(node) == "UP" for node in nodes)


def db(lab: LabLayout, member: str, dbname: str = "site") -> psycopg.Connection[Any]:
    """A TCP connection to MEMBER as the monitoring role, password from pgpass."""
    return psycopg.connect(
        host=lab.address(member),
        port=PG_PORT,
        user="hotspare",
        dbname=dbname,
        passfile=str(lab.pgpass),
        connect_timeout=5,
        autocommit=True,
    )


def http(url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    """GET (or POST FORM to) URL; returns the status and body, errors included."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def eventually(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.1) -> Any:
    """Poll CHECK until it returns something true; return it or fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"condition still false after {timeout} s: {value!r}"
            return value
        time.sleep(every)


def hotspare(lab: LabLayout, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run the hotspare command on the lab with --json; its exit status and its answer."""
    capsys.readouterr()
    code = cli.main(["--cluster", str(lab.cluster_file), *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def is_primary(lab: LabLayout, member: str) -> bool:
    """Whether MEMBER answers and is out of recovery (False when it does not answer)."""
    try:
        with db(lab, member) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.OperationalError:
        return False
    return row is not None and not row[0]


def streams(lab: LabLayout, primary: str, standby: str) -> bool:
    """Whether PRIMARY lists STANDBY as streaming."""
    with db(lab, primary) as conn:
        row = conn.execute(
            "SELECT state FROM pg_stat_replication WHERE application_name = %s", (standby,)
        ).fetchone()
    return row is not None and row[0] == "streaming"


def kill_postmaster(lab: LabLayout, member: str) -> None:
    """SIGKILL MEMBER's postmaster, as a crash would, and wait until the process is gone.

    The lab's postmasters are orphans that PID 1 reaps; until it does, the dead
    one is a zombie that PostgreSQL itself (pg_ctl, a new postmaster, pg_rewind's
    single-user recovery) takes for a running postmaster.
    """
    pid = int((lab.data_dir(member) / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not Path(f"/proc/{pid}").exists(), timeout=60, every=0.2)
