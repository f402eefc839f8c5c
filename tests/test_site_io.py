"""The one client per kind of site I/O: HAProxy's runtime socket and the database connections.

The runtime client runs against the lab's real sshd and HAProxy (and a local
socket that never answers, reached through the box's sshd like the real one);
the connection cache runs on fakes, where a failure can be placed exactly.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from console import dbconn
from console.inventory import Database, load
from console.lab.layout import LabLayout
from console.probes import node
from console.probes.haproxy import BalancerProbeError
from console.probes.runtime import runtime
from console.ssh import BoxError, BoxLink
from tests.support import verdict_parts as parts

# --- HAProxy's runtime socket -------------------------------------------------------------


async def _ask(lab: LabLayout, path: str | None, command: str, timeout: float) -> str:
    inv = load(lab.cluster_file)
    assert inv.balancer is not None
    link = BoxLink(inv, inv.balancer.box)
    try:
        return await runtime(link, path or inv.balancer.socket, command, timeout)
    finally:
        await link.close()


@pytest.fixture
def silent_socket() -> Iterator[str]:
    """A UNIX socket that accepts and never answers, which the lab's sshd user can reach.

    The lab's boxes share this machine's filesystem, so the box's sshd opens it as
    it opens HAProxy's; the directory is not pytest's tmp_path, which only root reaches.
    """
    where = Path(tempfile.mkdtemp(prefix="hotspare-silent-"))
    where.chmod(0o755)
    path = where / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
    try:
        yield str(path)
    finally:
        server.close()
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.lab
def test_one_command_gets_haproxys_whole_answer(lab: LabLayout) -> None:
    answer = asyncio.run(_ask(lab, None, "show servers state site", 5.0))
    assert answer.splitlines()[0] == "1" and "srv_admin_state" in answer


@pytest.mark.lab
def test_a_socket_that_never_answers_is_given_up_with_a_reason(
    lab: LabLayout, silent_socket: str
) -> None:
    with pytest.raises(BalancerProbeError) as info:
        asyncio.run(_ask(lab, silent_socket, "show stat", 0.5))
    assert str(info.value).startswith("no answer to 'show stat' within 0.5 s from HAProxy's")


@pytest.mark.lab
def test_a_socket_that_is_not_there_is_the_boxs_error(lab: LabLayout, tmp_path: Path) -> None:
    with pytest.raises(BoxError, match="cannot open the socket"):
        asyncio.run(_ask(lab, str(tmp_path / "none.sock"), "show stat", 2.0))


# --- the database connection cache --------------------------------------------------------


class _Conn:
    def __init__(self, n: int) -> None:
        self.n, self.closed = n, False

    async def close(self) -> None:
        self.closed = True


class _Link:
    async def forward(self, host: str, port: int) -> int:
        return 15432


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[_Conn]:
    """Every connection dbconn.connect opens, in order."""
    opened: list[_Conn] = []

    async def connect(db: Database, port: int) -> _Conn:
        opened.append(_Conn(len(opened)))
        return opened[-1]

    monkeypatch.setattr(dbconn, "connect", connect)
    return opened


DB = parts.INV.databases[0]


def _cache() -> dbconn.Connections:
    return dbconn.Connections(cast(Any, {DB.box: _Link()}), 1.0)


def test_the_connection_is_kept_and_dropped_on_any_failure(made: list[_Conn]) -> None:
    async def go() -> list[int]:
        cache = _cache()
        seen = [await cache.use(DB, _n) for _ in range(2)]
        with pytest.raises(psycopg.OperationalError):
            await cache.use(DB, _fail)
        seen.append(await cache.use(DB, _n))
        await cache.close()
        return seen

    assert asyncio.run(go()) == [0, 0, 1]
    assert [c.closed for c in made] == [True, True]


def test_a_retry_is_made_once_and_only_on_a_kept_connection(made: list[_Conn]) -> None:
    calls: list[int] = []

    async def dies_once(conn: Any) -> int:
        calls.append(conn.n)
        if conn.n == 0 and len(calls) > 1:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return int(conn.n)

    async def go() -> int:
        cache = _cache()
        await cache.use(DB, dies_once, retry=True)  # opens connection 0
        return await cache.use(DB, dies_once, retry=True)

    assert asyncio.run(go()) == 1 and calls == [0, 0, 1]

    async def fresh() -> None:
        await _cache().use(DB, _fail, retry=True)

    made.clear()
    with pytest.raises(psycopg.OperationalError):
        asyncio.run(fresh())
    assert len(made) == 1  # a new connection that fails is the database's answer: no retry


def test_without_retry_a_failure_on_a_kept_connection_is_raised(made: list[_Conn]) -> None:
    async def go() -> None:
        cache = _cache()
        await cache.use(DB, _n)
        await cache.use(DB, _fail)

    with pytest.raises(psycopg.OperationalError):
        asyncio.run(go())
    assert len(made) == 1


def test_a_connection_not_made_in_time_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hangs(db: Database, port: int) -> None:
        await asyncio.sleep(10)

    monkeypatch.setattr(dbconn, "connect", hangs)
    cache = dbconn.Connections(cast(Any, {DB.box: _Link()}), 0.05)
    with pytest.raises(dbconn.DatabaseUnreachable, match=r"no connection within 0\.05 s"):
        asyncio.run(cache.use(DB, _n))


async def _n(conn: Any) -> int:
    return int(conn.n)


async def _fail(conn: Any) -> int:
    raise psycopg.OperationalError("server closed the connection unexpectedly")


# --- a node's health URL, as the node probe reads curl's answer ---------------------------


WEB = parts.INV.web_nodes[0]
HEALTH = WEB.health_url


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("health 200 0.0042", (200, 4.2, None)),
        ("health 503 0.1", (503, 100.0, None)),
        ("health 000 0.0\nhealth failed 7", (None, None, f"nothing answers at {HEALTH}: is")),
        ("health failed 127", (None, None, "curl is not installed on the box")),
        ("health failed 28", (None, None, f"the site did not answer at {HEALTH} in time")),
        ("health 000 0.0", (None, None, "no HTTP answer from the health URL")),
        ("", (None, None, "no answer from the health probe")),
    ],
)
def test_the_health_url_answer_or_why_there_is_none(
    line: str, expected: tuple[int | None, float | None, str | None]
) -> None:
    seen = node.parse(line, WEB, 1.0)
    assert (seen.health_status, seen.health_latency_ms) == expected[:2]
    said, wanted = seen.health_problem, expected[2]
    assert said is None if wanted is None else (said or "").startswith(wanted)
