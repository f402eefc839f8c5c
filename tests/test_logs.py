"""The log engine and `hotspare logs` against the lab: real sshd, real files, real tail -F."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import pytest

from console import cli
from console.inventory import Inventory
from console.lab.layout import LabLayout
from console.logs.lines import LogLine
from console.logs.session import LogSession, sources
from console.ssh import BoxLink
from tests.support.logs_parts import access_line, append, lab_inventory, marker, node
from tests.support.variants import variant

HOSTILE: dict[str, bytes] = {
    "csi": b"csi \x1b[2J\x1b[31mred\x1b[0m",
    "osc": b"osc \x1b]0;owned title\x07",
    "osc52": b"osc52 \x1b]52;c;cm0gLXJmIH4=\x1b\\",
    "dcs": b"dcs \x1bP1$tpayload\x1b\\ and c1 \xc2\x90q\xc2\x9c",
    "markup": b"markup [/] [link=http://evil.example]click[/link] [bold red]x",
    "utf8": b"utf8 \xff\xfe\xc3(",
    "nul": b"nul a\x00b",
    "cr": b"cr visible\roverwritten",
    "bidi": "bidi \u202eevil\u202c".encode(),
}


@pytest.fixture(scope="module")
def inv(lab: LabLayout) -> Inventory:
    return lab_inventory(lab)


def _hotspare(lab: LabLayout, *args: str) -> list[str]:
    return ["--cluster", str(lab.cluster_file), *args]


def _session_lines(
    inv: Inventory,
    nodes: list[str],
    act: Callable[[], None],
    until: Callable[[list[LogLine]], bool],
    timeout: float = 10.0,
) -> list[LogLine]:
    """Follow NODES' logs, do ACT, and collect lines until UNTIL(lines) holds."""

    async def go() -> list[LogLine]:
        async with _following(inv, nodes) as (session, got):
            await asyncio.to_thread(act)
            await _taken(session, got, until, timeout)
            return got

    return asyncio.run(go())


@contextlib.asynccontextmanager
async def _following(
    inv: Inventory, nodes: list[str]
) -> AsyncIterator[tuple[LogSession, list[LogLine]]]:
    """A session following NODES' logs from their ends, and the list its lines go to."""
    links = {n.box: BoxLink(inv, n.box) for n in inv.web_nodes}
    chosen = [n for n in inv.web_nodes if n.name in nodes]
    session = LogSession(links, sources(chosen), follow=True, backlog=0)
    session.start()
    try:
        await _until_following(session)
        yield session, []
    finally:
        await session.stop()
        await asyncio.gather(*(link.close() for link in links.values()))


async def _taken(
    session: LogSession,
    got: list[LogLine],
    until: Callable[[list[LogLine]], bool],
    timeout: float = 10.0,
) -> None:
    """Take SESSION's lines into GOT until UNTIL(GOT) holds; at most TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while not until(got) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        for lines in session.take().lines.values():
            got.extend(lines)


async def _until_following(session: LogSession) -> None:
    for _ in range(200):
        if all(t.state.following for t in session.tails.values()):
            return
        await asyncio.sleep(0.02)
    raise AssertionError({s.label: t.state for s, t in session.tails.items()})


def _texts(lines: list[LogLine], tag: str) -> list[str]:
    return [line.text for line in lines if tag in line.text]


# The engine ---------------------------------------------------------------------


def test_lines_written_on_two_nodes_arrive_tagged_with_their_node(
    inv: Inventory, lab: LabLayout
) -> None:
    tag = marker("two")
    web1, web2 = node(inv, "web1"), node(inv, "web2")

    def write() -> None:
        append(web1.access_log_for("hot"), [access_line(time.time(), f"/{tag}/1")])
        append(web2.access_log_for("hot"), [access_line(time.time(), f"/{tag}/2")])

    got = _session_lines(inv, ["web1", "web2"], write, lambda g: len(_texts(g, tag)) == 2)
    where = {line.text.split()[6]: line.source.node for line in got if tag in line.text}
    assert where == {f"/{tag}/1": "web1", f"/{tag}/2": "web2"}


def test_a_rotated_log_keeps_streaming(inv: Inventory, lab: LabLayout) -> None:
    tag = marker("rotate")
    path = node(inv, "web1").access_log_for("hot")

    def tagged(got: list[LogLine]) -> list[str]:
        return [t.split()[6] for t in _texts(got, tag)]

    def rotate() -> None:
        # logrotate's "create" way: the old file moves away and a new one is started.
        Path(path).rename(f"{path}.1")
        Path(path).touch()
        append(path, [access_line(time.time(), f"/{tag}/after")])
        # The site still writes to the moved file; removing it makes the site reopen.
        Path(f"{path}.1").unlink()

    async def go() -> list[str]:
        async with _following(inv, ["web1"]) as (session, got):
            await asyncio.to_thread(append, path, [access_line(time.time(), f"/{tag}/before")])
            await _taken(session, got, lambda g: len(tagged(g)) == 1)  # read before it moves
            await asyncio.to_thread(rotate)
            await _taken(session, got, lambda g: len(tagged(g)) == 2)
            return tagged(got)

    assert asyncio.run(go()) == [f"/{tag}/before", f"/{tag}/after"]


def test_a_chatty_node_fills_only_its_own_ring_and_the_drops_are_counted(
    inv: Inventory, lab: LabLayout
) -> None:
    tag = marker("flood")
    web1, web2 = node(inv, "web1"), node(inv, "web2")

    async def go() -> tuple[int, int, list[LogLine]]:
        links = {n.box: BoxLink(inv, n.box) for n in inv.web_nodes}
        chosen = [web1, web2]
        session = LogSession(links, sources(chosen, ["access"]), backlog=0, ring_lines=500)
        session.start()
        try:
            await _until_following(session)
            flood = [access_line(time.time(), f"/{tag}/flood/{i}") for i in range(5000)]
            await asyncio.to_thread(append, web1.access_log_for("hot"), flood)
            calm = [access_line(time.time(), f"/{tag}/calm")]
            await asyncio.to_thread(append, web2.access_log_for("hot"), calm)
            # Nobody takes until web1's tail has read the whole flood (overflowing its
            # ring) and web2's calm line is in: then the ring holds what it kept.
            flood_bytes = sum(len(line) for line in flood)
            flooded_tail = session.tails[next(s for s in session.tails if s.node == "web1")]
            calm_ring = session.tails[next(s for s in session.tails if s.node == "web2")].ring
            deadline = time.monotonic() + 20
            while flooded_tail.bytes_read < flood_bytes or len(calm_ring) == 0:
                assert time.monotonic() < deadline, (flooded_tail.bytes_read, len(calm_ring))
                await asyncio.sleep(0.05)
            batch = session.take()
            got = [line for lines in batch.lines.values() for line in lines]
            dropped = sum(batch.dropped.values())
            flooded = sum(1 for line in got if f"{tag}/flood" in line.text)
            return dropped, flooded, got
        finally:
            await session.stop()
            await asyncio.gather(*(link.close() for link in links.values()))

    dropped, flooded, got = asyncio.run(go())
    assert flooded <= 500 and dropped >= 4500 - 10  # health checks add a few lines
    assert flooded + dropped >= 5000
    assert any(f"/{tag}/calm" in line.text and line.source.node == "web2" for line in got)


# The CLI ------------------------------------------------------------------------


def test_logs_prints_the_last_lines_of_each_node_tagged(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(_hotspare(lab, "logs", "-n", "2")) == 0
    out = capsys.readouterr().out.splitlines()
    assert {line.split("]")[0] + "]" for line in out} >= {"[web1 access.hot]", "[web2 access.hot]"}
    assert sum(1 for line in out if line.startswith("[web1 access.hot]")) == 2


def test_merge_orders_two_nodes_lines_by_their_timestamps(
    inv: Inventory, lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = marker("merge")
    base = time.time() - 60
    # web1 gets the even seconds, web2 the odd ones; each file in its own order.
    append(
        node(inv, "web1").access_log_for("hot"),
        [access_line(base + s, f"/{tag}/{s}") for s in (0, 2, 4)],
    )
    append(
        node(inv, "web2").access_log_for("hot"),
        [access_line(base + s, f"/{tag}/{s}") for s in (1, 3, 5)],
    )
    assert cli.main(_hotspare(lab, "logs", "--merge", "--grep", tag, "-n", "50")) == 0
    out = capsys.readouterr().out.splitlines()
    seconds = [int(line.split()[8].rsplit("/", 1)[1]) for line in out]
    nodes = [line.split()[0][1:] for line in out]
    assert seconds == [0, 1, 2, 3, 4, 5]
    assert nodes == ["web1", "web2"] * 3


def test_hostile_lines_are_inert_in_the_cli(
    inv: Inventory, lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = marker("hostile")
    big = tag.encode() + b" huge " + b"A" * (1024 * 1024)
    lines = [tag.encode() + b" " + value for value in HOSTILE.values()] + [big]
    append(node(inv, "web1").error_log, lines)
    assert cli.main(_hotspare(lab, "logs", "web1", "--error", "--grep", tag, "-n", "20")) == 0
    out = capsys.readouterr().out
    for bad in ("\x1b", "\x00", "\r", "\x07", "\x90", "\x9c", "\u202e"):
        assert bad not in out
    printed = {line.split()[3]: line for line in out.splitlines()}
    assert printed["csi"].endswith("csi \\x1b[2J\\x1b[31mred\\x1b[0m")
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x1b\\" in printed["osc52"]
    assert "[/] [link=http://evil.example]click[/link]" in printed["markup"]
    assert "\ufffd" in printed["utf8"] and "a\\x00b" in printed["nul"]
    assert "visible\\x0doverwritten" in printed["cr"]
    assert "\\u202e" in printed["bidi"]
    assert printed["huge"].endswith(f" …[{len(big) - 16 * 1024} bytes cut]")
    assert len(printed["huge"]) < 17 * 1024


def test_json_lines_carry_node_file_and_time(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(_hotspare(lab, "logs", "web2", "-n", "3", "--json")) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    hot = [r for r in records if r["file"].endswith("access.hot.web2.log")]
    assert len(hot) == 3  # and up to 3 of the warm log, if web2 was ever warm
    for record in records:
        assert record["node"] == "web2" and record["kind"] == "access"
        assert record["role"] in ("hot", "warm") and record["file"].endswith(".web2.log")
        assert record["time"].endswith("Z") and record["line"]


def test_since_starts_at_the_time_not_at_the_start_of_the_file(
    inv: Inventory, lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = marker("since")
    web3 = node(inv, "web3")
    path = web3.access_log_for("warm")
    now = time.time()
    # A day of old lines (a few MB) before a handful of recent ones.
    old = [access_line(now - 86400 + i, f"/{tag}/old/{i}") for i in range(30000)]
    new = [access_line(now - 30 + i, f"/{tag}/new/{i}") for i in range(5)]
    append(path, old + new)
    assert cli.main(_hotspare(lab, "logs", "web3", "--since", "2m", "--json", "--grep", tag)) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"].split()[6] for r in records] == [f"/{tag}/new/{i}" for i in range(5)], records


def test_follow_prints_new_lines_until_interrupted(inv: Inventory, lab: LabLayout) -> None:
    tag = marker("follow")
    env = {**os.environ, "NO_COLOR": "1"}
    args = [
        sys.executable,
        "-m",
        "console.cli",
        *_hotspare(lab, "logs", "-f", "--merge", "-n", "0"),
    ]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        out = _Lines(proc.stdout)
        # With -n 0, a line written before its tail follows is never printed: write one
        # every half second until one comes out (at most 20 s).
        path = node(inv, "web2").access_log_for("hot")
        deadline = time.monotonic() + 20
        while not any(tag.encode() in line for line in out.lines):
            assert time.monotonic() < deadline and proc.poll() is None, out.lines
            append(path, [access_line(time.time(), f"/{tag}")])
            time.sleep(0.5)
        seen = b"".join(out.lines)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert b"Traceback" not in proc.stderr.read()
    assert b"[web2 access.hot] 10.0.0.9" in seen


class _Lines:
    """The lines a child writes to a pipe, read as they come by a thread of their own."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.lines: list[bytes] = []
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: IO[bytes]) -> None:
        for line in pipe:
            self.lines.append(line)


def test_bad_requests_are_refused_with_a_reason(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(_hotspare(lab, "logs", "web9")) == 2
    assert "no web node named web9; the web nodes are: web1, web2, web3" in capsys.readouterr().err
    assert cli.main(_hotspare(lab, "logs", "--grep", "([")) == 2
    assert "is not a valid regex" in capsys.readouterr().err
    assert cli.main(_hotspare(lab, "logs", "--since", "yesterdayish")) == 2
    assert "expected a duration like 10m" in capsys.readouterr().err


def test_an_unreachable_node_is_named_and_the_others_still_print(
    lab: LabLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = variant(lab, tmp_path)
    dead = lab.address("web3").rsplit(".", 1)[0] + ".250"
    text = inv.path.read_text().replace(lab.address("web3") + "}", dead + "}")
    inv.path.write_text(text)
    assert cli.main(["--cluster", str(inv.path), "logs", "-n", "1"]) == 1
    captured = capsys.readouterr()
    assert "[web1 access.hot]" in captured.out and "[web2 access.hot]" in captured.out
    assert "web3 access.hot: not read:" in captured.err
    assert "Traceback" not in captured.err
