"""SSH links against the lab's real sshd: bounds, cleanup, reconnects, ~/.ssh."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from console.inventory import Inventory, load
from console.lab import procs
from console.lab.layout import LabLayout
from console.monitor import Monitor
from console.ssh import BoxError, BoxLink, RemoteTimeout, link, remote

pytestmark = pytest.mark.lab

T = TypeVar("T")


async def _with_link(inv: Inventory, box: str, use: Callable[[BoxLink], Awaitable[T]]) -> T:
    link = BoxLink(inv, box)
    try:
        return await use(link)
    finally:
        await link.close()


def _remote_count(lab: LabLayout, pattern: str) -> int:
    """Processes on the lab boxes whose command line contains PATTERN."""
    count = 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            count += pattern in cmdline and "pytest" not in cmdline
    return count


def test_many_commands_at_once_stay_within_sshd_session_limit(lab: LabLayout) -> None:
    async def many(link: BoxLink) -> list[int | None]:
        results = await asyncio.gather(*(link.run("sleep 0.2; echo ok", 10) for _ in range(60)))
        return [r.exit_status for r in results]

    # sshd refuses an 11th session on one connection: unbounded, this fails.
    assert asyncio.run(_with_link(load(lab.cluster_file), "web1", many)) == [0] * 60


def test_a_command_that_times_out_is_killed_on_the_box(lab: LabLayout) -> None:
    marker = f"sleep 300 # {uuid.uuid4()}"

    async def hang(link: BoxLink) -> None:
        with pytest.raises(RemoteTimeout):
            await link.run(marker, 0.5)

    asyncio.run(_with_link(load(lab.cluster_file), "web2", hang))
    assert _remote_count(lab, marker) == 0


def test_a_cancelled_command_is_killed_on_the_box(lab: LabLayout) -> None:
    marker = f"sleep 301 # {uuid.uuid4()}"

    async def cancel(link: BoxLink) -> int:
        task = asyncio.create_task(link.run(marker, 60))
        await _until(lambda: _remote_count(lab, marker) >= 1, 10)  # it runs on the box
        running = _remote_count(lab, marker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return running

    assert asyncio.run(_with_link(load(lab.cluster_file), "web2", cancel)) >= 1
    assert _remote_count(lab, marker) == 0


def test_a_hung_probe_is_killed_and_the_next_one_gets_a_new_shell(lab: LabLayout) -> None:
    marker = f"sleep 302 # {uuid.uuid4()}"

    async def hang_then_probe(link: BoxLink) -> str:
        shell = await link.shell()
        with pytest.raises(RemoteTimeout):
            await shell.ask(marker, 0.5)
        again = await link.shell()
        assert again is not shell
        return await again.ask("echo alive", 3)

    assert asyncio.run(_with_link(load(lab.cluster_file), "web3", hang_then_probe)) == "alive\n"
    assert _remote_count(lab, marker) == 0


def _parents() -> dict[int, int]:
    """Every process's parent, by pid."""
    parents = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            parents[int(proc.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def _sshd_children(lab: LabLayout, box: str) -> list[int]:
    listener = procs.recorded(lab.pid_dir)[f"sshd-{box}"].pid
    return [pid for pid, parent in _parents().items() if parent == listener]


@contextlib.contextmanager
def hung_sshd(lab: LabLayout, box: str) -> Iterator[None]:
    """BOX hung: its sshd, and every connection's sshd under it, stopped (SIGSTOP).

    Connections stay open and nothing on them answers, as with a box that
    froze; each process is continued (SIGCONT) when the block ends.
    """
    sshd = procs.recorded(lab.pid_dir)[f"sshd-{box}"]
    assert procs.is_alive(sshd), f"{box}'s sshd is not running"
    stopped: list[int] = []
    try:
        os.kill(sshd.pid, signal.SIGSTOP)  # first: no new connection forks under it
        stopped.append(sshd.pid)
        # A child forked just before its parent stopped shows up on the next look;
        # once a look finds none, nothing in the tree can fork any more.
        while new := [c for c, p in _parents().items() if p in stopped and c not in stopped]:
            for pid in new:
                os.kill(pid, signal.SIGSTOP)
            stopped += new
        yield
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def _until_retry(box_link: BoxLink) -> None:
    """Wait out a dropped link's backoff, so that its next use reconnects."""
    retry_at = box_link.state.retry_at
    if retry_at is not None:
        await asyncio.sleep(max(0.0, retry_at - time.monotonic()))


def test_commands_on_a_hung_box_time_out_and_give_their_session_slots_back(
    lab: LabLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "START_TIMEOUT", 1.0)
    slots = remote.MAX_EXEC_SESSIONS

    async def hang(box_link: BoxLink) -> list[int | None]:
        await box_link.connection()
        with hung_sshd(lab, "web3"):
            started = time.monotonic()
            runs = [box_link.run("echo ok", 10) for _ in range(slots - 1)]
            stream = box_link.stream("cat")
            failed = await asyncio.gather(*runs, stream, return_exceptions=True)
            took = time.monotonic() - started
        assert all(isinstance(e, BoxError) for e in failed), failed
        assert any(isinstance(e, RemoteTimeout) for e in failed), failed
        assert took < 3, f"took {took:.1f} s"
        state = box_link.state
        assert not state.connected and "hung" in (state.reason or ""), state
        # Every slot is free again: as many commands as there are slots all run.
        await _until_retry(box_link)
        again = [box_link.run("echo ok", 5) for _ in range(slots)]
        return [r.exit_status for r in await asyncio.wait_for(asyncio.gather(*again), 10)]

    assert asyncio.run(_with_link(load(lab.cluster_file), "web3", hang)) == [0] * slots


def test_an_sftp_session_on_a_box_that_hangs_is_dropped_not_waited_on(
    lab: LabLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link, "CLOSE_TIMEOUT", 1.0)

    async def hang(box_link: BoxLink) -> float:
        with contextlib.ExitStack() as hung:
            async with box_link.sftp() as sftp:
                assert await sftp.isdir(".")
                hung.enter_context(hung_sshd(lab, "web2"))
                started = time.monotonic()
            took = time.monotonic() - started
        state = box_link.state
        assert not state.connected and "did not close" in (state.reason or ""), state
        await _until_retry(box_link)
        async with box_link.sftp() as sftp:  # and the next one is on a new connection
            assert await sftp.isdir(".")
        return took

    took = asyncio.run(_with_link(load(lab.cluster_file), "web2", hang))
    assert took < 2, f"took {took:.1f} s"


def test_no_sftp_session_from_a_hung_box_is_a_timeout_not_a_hang(lab: LabLayout) -> None:
    async def hang(box_link: BoxLink) -> float:
        await box_link.connection()
        with hung_sshd(lab, "web2"):
            started = time.monotonic()
            with pytest.raises(RemoteTimeout, match="no SFTP session within 1 s"):
                async with box_link.sftp(timeout=1):
                    pytest.fail("an SFTP session on a stopped sshd")
            took = time.monotonic() - started
        assert not box_link.state.connected
        return took

    took = asyncio.run(_with_link(load(lab.cluster_file), "web2", hang))
    assert took < 2, f"took {took:.1f} s"


def test_a_dropped_connection_is_reconnected_with_its_shell_and_forward(lab: LabLayout) -> None:
    inv = load(lab.cluster_file)

    async def drop_and_recover(monitor: Monitor) -> None:
        await monitor.refresh_all()
        before = monitor.snapshot().freshness("db1")
        assert before is not None and not before.stale
        old = await monitor.links["db1"].connection()
        sessions = _sshd_children(lab, "db1")  # the sshd processes of our connection
        assert sessions, "db1's sshd serves no connection of ours"
        for pid in sessions:
            os.kill(pid, signal.SIGTERM)
        await _until(old.is_closed, 10)  # it did drop
        for _ in range(40):
            await monitor.refresh_box("db1")
            fresh = monitor.snapshot().freshness("db1")
            if fresh is not None and not fresh.stale:
                break
            await asyncio.sleep(0.25)  # the link's backoff
        assert fresh is not None and not fresh.stale, fresh
        new = await monitor.links["db1"].connection()
        assert new is not old and not new.is_closed()  # a new connection carries the probes
        db1 = next(d for d in monitor.snapshot().databases if d.name == "db1")
        assert db1.role == "primary"  # the forward works on the new connection

    async def run() -> None:
        monitor = Monitor(inv)
        try:
            await drop_and_recover(monitor)
        finally:
            await monitor.close()

    asyncio.run(run())


async def _until(done: Callable[[], bool], timeout: float) -> None:
    """Wait until DONE() holds, looking every 50 ms; fail after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"still not so after {timeout} s"
        await asyncio.sleep(0.05)


def _bare_inventory(lab: LabLayout, tmp_path: Path) -> Path:
    """An inventory naming only addresses: everything else comes from ~/.ssh."""
    path = tmp_path / "bare.yaml"
    boxes = "".join(f"  {b}: {{address: {lab.address(b)}}}\n" for b in ("web1", "db2"))
    path.write_text(
        "version: 1\ncluster:\n  name: bare\n  environment: {label: test, colour: blue}\n"
        f"boxes:\n{boxes}"
    )
    return path


def _ssh_config(lab: LabLayout, identity: bool) -> str:
    lines = [f"Host {lab.block}.*", f"  User {lab.user}", "  Port 2222"]
    lines.append(f"  UserKnownHostsFile {lab.known_hosts}")
    if identity:
        lines.append(f"  IdentityFile {lab.client_key}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def home_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home / ".ssh"


def _connects(path: Path, box: str) -> str:
    async def whoami(link: BoxLink) -> str:
        return (await link.run("echo $HOTSPARE_BOX", 5)).stdout.strip()

    return str(asyncio.run(_with_link(load(path), box, whoami)))


def test_user_port_key_and_known_hosts_come_from_ssh_config(
    lab: LabLayout, tmp_path: Path, home_ssh: Path
) -> None:
    (home_ssh / "config").write_text(_ssh_config(lab, identity=True))
    assert _connects(_bare_inventory(lab, tmp_path), "web1") == "web1"


@pytest.fixture
def agent(lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed")
    sock = tmp_path / "agent.sock"
    child = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(lab.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield str(sock)
    finally:
        child.terminate()
        child.wait(5)


def test_the_key_can_come_from_the_ssh_agent(
    lab: LabLayout, tmp_path: Path, home_ssh: Path, agent: str
) -> None:
    (home_ssh / "config").write_text(_ssh_config(lab, identity=False))
    assert _connects(_bare_inventory(lab, tmp_path), "db2") == "db2"
