"""A merged follow under floods on a busy machine: every line of three nodes arrives, in order.

Issue 13: bench/logs_cli.py once counted 458,619 of 600,000 lines after 120 s
and called it a stall. It was not one: on the busy machine `hotspare logs -f
-n 0` took longer than the bench's fixed 2 s to be following, so its tails
started at the end of files the burst had already (or half) written, and
the bench waited for lines nobody had asked for. So these tests first make
sure the follow is live, then flood the three nodes in bursts while burners
keep both cores busy, and wait, up to a deadline, for every line of every
node: through the command (its stdout held up for a while, as a slow
terminal does) and through the core, with small lossless rings and a
consumer that lags, so that the boxes' tails are held back and let go again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from console.inventory import Inventory, WebNode
from console.lab.layout import LabLayout
from console.logs.lines import Source
from console.logs.runs import Run, RunMerger
from console.logs.session import LogSession, sources
from console.ssh import BoxLink
from tests.support.logs_parts import access_line, append, lab_inventory, marker

BURNERS = 2  # the machine's cores; other suites running add to the load
BURN_SECONDS = 60.0  # a burner ends by itself even if the test process dies
BURSTS = 4  # per node
BURST_LINES = 20_000
TOTAL = BURSTS * BURST_LINES
READY_DEADLINE = 15.0
FLOOD_DEADLINE = 20.0  # from the last burst written to the last line read
RING_LINES = 1_000  # the core test's rings: a burst is 20 of them


@pytest.fixture(scope="module")
def inv(lab: LabLayout) -> Inventory:
    return lab_inventory(lab)


@contextlib.contextmanager
def _busy(count: int = BURNERS) -> Iterator[None]:
    """COUNT processes spinning on a core each, stopped by pid on the way out."""
    spin = (
        f"import time\nend = time.monotonic() + {BURN_SECONDS}\nwhile time.monotonic() < end: pass"
    )
    burners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _until(done: Callable[[], bool], seconds: float, failure: Callable[[], str]) -> None:
    """Poll DONE until it holds; fail with FAILURE() once SECONDS have passed."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(0.05)


def _log(web: WebNode) -> str:
    """An access log of WEB that exists (the one its role writes, unless a test moved it)."""
    hot = web.access_log_for("hot")
    return hot if Path(hot).exists() else web.access_log_for("warm")


def _burst(tag: str, name: str, first: int) -> bytes:
    """BURST_LINES lines stamped now, numbered from FIRST: `GET /TAG/NAME/SEQ`."""
    before, after = (access_line(time.time(), f"/{tag}/{name}/SEQ").decode() + "\n").split("SEQ")
    return "".join(f"{before}{seq}{after}" for seq in range(first, first + BURST_LINES)).encode()


def _flood(files: Mapping[str, str], tag: str, bursts: range = range(BURSTS)) -> None:
    """BURSTS bursts per node, one write each, the nodes in turn, with short uneven gaps."""
    rng = random.Random(13)
    names = list(files)
    for b in bursts:
        for name in names[b % len(names) :] + names[: b % len(names)]:
            data = _burst(tag, name, b * BURST_LINES)
            with Path(files[name]).open("ab") as log:
                log.write(data)
            time.sleep(rng.uniform(0.0, 0.15))


def _numbers(lines: Iterable[tuple[str, str]], tag: str) -> dict[str, list[int]]:
    """Each node's flood line numbers in the order shown, from (node shown, text) pairs.

    A line shown under another node than the one that wrote it is filed as
    `SHOWN?WROTE`, so it fails the comparison with a readable key.
    """
    flood = re.compile(rf"/{re.escape(tag)}/(\w+)/(\d+) ")
    found: dict[str, list[int]] = {}
    for shown, text in lines:
        match = flood.search(text)
        if match:
            key = shown if match[1] == shown else f"{shown}?{match[1]}"
            found.setdefault(key, []).append(int(match[2]))
    return found


def _assert_every_line(numbers: dict[str, list[int]], files: Mapping[str, str]) -> None:
    assert sorted(numbers) == sorted(files), sorted(numbers)
    for name, seqs in numbers.items():
        assert seqs == list(range(TOTAL)), f"{name}: lines missing, repeated or out of order"


# The command: `hotspare logs -f --merge -n 0` ---------------------------------------


class _Output:
    """A process's stdout read on a thread as fast as it comes (unless held), kept whole."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._fd = proc.stdout.fileno()
        self._data = bytearray()
        self._lock = threading.Lock()
        self._reading = threading.Event()
        self._reading.set()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._reading.wait() and (chunk := os.read(self._fd, 1 << 20)):
            with self._lock:
                self._data += chunk

    @property
    def data(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Stop reading for a while, as a slow terminal or a paused pager does."""
        self._reading.clear()
        try:
            yield
        finally:
            self._reading.set()

    def close(self) -> None:
        self._reading.set()
        self._thread.join(10)


@contextlib.contextmanager
def _follow(lab: LabLayout, stderr: Path) -> Iterator[_Output]:
    """`hotspare logs -f --merge -n 0`, stopped with ^C on the way out; it must exit 0."""
    argv = [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file)]
    argv += ["logs", "-f", "--merge", "-n", "0"]
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, env={**os.environ, "NO_COLOR": "1"}
        )
    out = _Output(proc)
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            out.close()
            assert proc.stdout is not None
            proc.stdout.close()
    assert code == 0, stderr.read_text()


def _until_shown(files: Mapping[str, str], out: _Output, tag: str) -> None:
    """Until the follow shows a ready line from every node: it is following them all.

    A ready line is written again until it shows: one written before the
    node's tail started is (rightly) not shown with -n 0.
    """
    waiting = dict(files)

    def shown() -> bool:
        data = out.data
        for name in [n for n in waiting if f"/{tag}/ready/{n} ".encode() in data]:
            del waiting[name]
        for name, path in waiting.items():
            append(path, [access_line(time.time(), f"/{tag}/ready/{name}")])
        return not waiting

    _until(shown, READY_DEADLINE, lambda: f"not following within {READY_DEADLINE:g} s: {waiting}")


def _printed(data: bytes) -> Iterator[tuple[str, str]]:
    """(node in the prefix, rest of the line) for each `[NODE FILE] text` line."""
    for line in data.decode().splitlines():
        prefix, _, text = line.partition("] ")
        yield prefix.removeprefix("[").split(" ")[0], text


def test_the_merged_follow_command_prints_every_line_of_three_flooded_nodes(
    inv: Inventory, lab: LabLayout, tmp_path: Path
) -> None:
    tag = marker("flood-cli")
    files = {web.name: _log(web) for web in inv.web_nodes}
    assert len(files) == 3
    stderr = tmp_path / "stderr"
    needles = {name: f"/{tag}/{name}/".encode() for name in files}
    with _busy(), _follow(lab, stderr) as out:
        _until_shown(files, out, tag)
        with out.held():  # the command blocks on its stdout; the boxes' tails wait
            _flood(files, tag, range(BURSTS // 2))
        _flood(files, tag, range(BURSTS // 2, BURSTS))

        def counts() -> dict[str, int]:
            data = out.data
            return {name: data.count(needle) for name, needle in needles.items()}

        _until(
            lambda: all(n >= TOTAL for n in counts().values()),
            FLOOD_DEADLINE,
            lambda: (
                f"of {TOTAL} lines per node only {counts()} came within "
                f"{FLOOD_DEADLINE:g} s of the last burst; stderr: {stderr.read_text()[-2000:]}"
            ),
        )
        data = out.data
    _assert_every_line(_numbers(_printed(data), tag), files)
    assert "Traceback" not in stderr.read_text()


# The core: a session with lossless rings, merged as the command merges -------------


class _Merged:
    """What a merged follow released: each node's flood line numbers, counted as they come."""

    def __init__(self, tag: str, nodes: Iterable[str]) -> None:
        self.tag = tag
        self.nodes = set(nodes)
        self.numbers: dict[str, list[int]] = {}
        self.held_back = 0  # takes that found a ring full: its tail was waiting

    def add(self, runs: list[Run]) -> None:
        lines = ((run.source.node, text) for run in runs for text in run.texts)
        for name, seqs in _numbers(lines, self.tag).items():
            self.numbers.setdefault(name, []).extend(seqs)

    @property
    def complete(self) -> bool:
        return set(self.numbers) >= self.nodes and all(
            len(seqs) >= TOTAL for seqs in self.numbers.values()
        )

    def counts(self) -> dict[str, int]:
        return {name: len(seqs) for name, seqs in self.numbers.items()}


async def _following(session: LogSession) -> None:
    deadline = time.monotonic() + READY_DEADLINE
    while not all(tail.state.following for tail in session.tails.values()):
        assert time.monotonic() < deadline, {s.label: t.state for s, t in session.tails.items()}
        await asyncio.sleep(0.02)


async def _merge_lagging(session: LogSession, merged: _Merged) -> None:
    """Take and merge as `hotspare logs -f --merge` does, until every line came; lag now and then.

    Every tenth take comes 0.3 s late, so the rings fill and their tails wait.
    """
    merger, takes = RunMerger(), 0
    while not merged.complete:
        takes += 1
        await asyncio.sleep(0.3 if takes % 10 == 0 else 0.02)
        if any(len(tail.ring) >= tail.ring.size for tail in session.tails.values()):
            merged.held_back += 1
        now = session.clock()
        by_file: dict[Source, list[Run]] = {}
        for run in session.take_runs().runs:
            by_file.setdefault(run.source, []).append(run)
        for runs in by_file.values():
            merger.push(runs, now)
        merged.add(merger.release(now))


def test_the_core_follow_with_full_rings_delivers_every_line_of_three_flooded_nodes(
    inv: Inventory, lab: LabLayout
) -> None:
    tag = marker("flood-core")
    files = {web.name: _log(web) for web in inv.web_nodes}
    merged = _Merged(tag, files)

    async def go() -> None:
        links = {web.box: BoxLink(inv, web.box) for web in inv.web_nodes}
        files_followed = sources(inv.web_nodes, ["access"])
        session = LogSession(links, files_followed, backlog=0, lossless=True, ring_lines=RING_LINES)
        session.start()
        try:
            await _following(session)
            merging = asyncio.ensure_future(_merge_lagging(session, merged))
            await asyncio.to_thread(_flood, files, tag)
            try:
                await asyncio.wait_for(merging, FLOOD_DEADLINE)
            except TimeoutError:
                pytest.fail(
                    f"of {TOTAL} lines per node only {merged.counts()} came within "
                    f"{FLOOD_DEADLINE:g} s of the last burst"
                )
        finally:
            await session.stop()
            await asyncio.gather(*(link.close() for link in links.values()))

    with _busy():
        asyncio.run(go())
    _assert_every_line(merged.numbers, files)
    assert merged.held_back > 0, "no ring was ever full: no tail was held back"
