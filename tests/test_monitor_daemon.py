"""`hotspare monitor` on the lab: one set of SSH links for every client, and never believed blindly.

What must hold (issue 18, and DESIGN's "never lies about stale data"):
- one monitor per cluster per user: a second is refused, naming the first;
- only the user reaches it: the socket is 0600 in a 0700 directory, and a
  peer of another uid is hung up on even where the file would let it in;
- clients cost the boxes nothing: five `status` and five watchers add no
  SSH login anywhere, where one `status` of its own logs in to every box;
- a monitor that is stopped (SIGSTOP), or reads a cluster.yaml that has
  changed since, is not used: the command says why and reads the site itself;
- a console's feed goes on with its own connections when the monitor stops
  answering mid-stream;
- a monitor the console starts goes away by itself when it is left alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from console import inventory
from console.daemon import client, single, spawn
from console.feed import Feed
from console.history import Recording
from console.lab.layout import LabLayout
from console.monitor import Monitor
from console.state import codec
from tests.support.labclient import eventually
from tests.support.shared_monitor import SharedMonitor, command, env, run

pytestmark = pytest.mark.lab


@pytest.fixture
def shared(
    lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SharedMonitor]:
    monkeypatch.delenv("HOTSPARE_MONITOR")
    monitor = SharedMonitor(lab.cluster_file, "--interval", "1", log=tmp_path / "monitor.log")
    try:
        yield monitor
    finally:
        monitor.stop()


def judged(done: subprocess.CompletedProcess[str]) -> bool:
    """Whether a `status` judged the site: 0, 1 or 2 (the lab may carry a warning), not 3."""
    return done.returncode in (0, 1, 2) and bool(done.stdout.strip())


def logins(lab: LabLayout) -> dict[str, int]:
    """How many SSH logins each box's sshd has accepted so far."""
    return {
        box: (lab.box_dir(box) / "log" / "sshd.log").read_text(errors="replace").count("Accepted ")
        for box in lab.boxes
    }


def test_one_monitor_per_cluster_and_only_its_user_reaches_it(
    shared: SharedMonitor, lab: LabLayout
) -> None:
    second = run(lab.cluster_file, "monitor")
    assert second.returncode == 1, second
    assert f"a monitor already runs for this cluster (pid {shared.pid}" in second.stderr
    assert "Traceback" not in second.stderr

    assert stat.S_IMODE(shared.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.socket.parent.stat().st_mode) == 0o700
    assert "PermissionError" in _connect_as(lab.user, shared.socket)

    status = run(lab.cluster_file, "monitor", "status", "--json")
    said = json.loads(status.stdout)
    assert said["running"] and said["pid"] == shared.pid and said["cluster"] == "lab"


def test_a_peer_of_another_user_is_hung_up_on_even_where_the_file_would_let_it_in(
    lab: LabLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTSPARE_MONITOR")
    public = Path(tempfile.mkdtemp(prefix="hotspare-monitor-", dir="/tmp"))
    public.chmod(0o711)
    path = public / "run" / "monitor.sock"
    monitor = SharedMonitor(lab.cluster_file, log=public / "monitor.log", socket=path)
    try:
        path.parent.chmod(0o711)
        path.chmod(0o666)
        assert _connect_as(lab.user, path).strip() == "said nothing: hung up"
        assert "said b'{" in _connect_as("root", path)  # the same probe, as the monitor's user
    finally:
        monitor.stop()
        shutil.rmtree(public)


def _connect_as(user: str, path: Path) -> str:
    probe = (
        "import socket\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "s.settimeout(5)\n"
        "try:\n"
        f"    s.connect({str(path)!r})\n"
        '    s.sendall(b\'{"want": "status"}\\n\')\n'
        "    said = s.recv(100)\n"
        "    print('said', repr(said) if said else 'nothing: hung up')\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    print('said nothing: hung up')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    done = subprocess.run(
        ["runuser", "-u", user, "--", "python3", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    return done.stdout + done.stderr


def test_clients_of_the_monitor_add_no_ssh_login_where_one_status_of_its_own_does(
    shared: SharedMonitor, lab: LabLayout
) -> None:
    eventually(lambda: judged(run(lab.cluster_file, "status")), timeout=30)
    before = logins(lab)
    watchers = [
        subprocess.Popen(
            command(lab.cluster_file, "status", "--watch", "--json"),
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    try:
        for _ in range(5):
            quick = run(lab.cluster_file, "status", "--json")
            assert judged(quick) and quick.stderr == "", quick.stderr
            state = codec.decode(json.loads(quick.stdout))
            assert all(not box.stale for box in state.boxes), state.boxes
        documents = [[json.loads(w.stdout.readline()) for _ in range(3)] for w in watchers]  # type: ignore[union-attr]
    finally:
        for watcher in watchers:
            watcher.terminate()
            watcher.wait(timeout=20)
    for seen in documents:
        stamps = [doc["taken_at"] for doc in seen]
        assert stamps == sorted(stamps) and len(set(stamps)) >= 2, stamps
    # The long way (python -m console.cli, as scripts and tests run it) reads the monitor too.
    long_way = subprocess.run(
        [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file), "status"],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert judged(long_way) and "NORMAL" in long_way.stdout, long_way
    assert logins(lab) == before

    own = subprocess.run(
        command(lab.cluster_file, "status"),
        env={**env(), "HOTSPARE_MONITOR": "own"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert judged(own), own
    after = logins(lab)
    assert all(after[box] > before[box] for box in before), (before, after)


def test_a_stopped_monitor_is_not_believed_and_status_reads_the_site_itself(
    shared: SharedMonitor, lab: LabLayout
) -> None:
    os.kill(shared.pid, signal.SIGSTOP)
    try:
        for argv in (
            command(lab.cluster_file, "status", "--json"),
            [
                sys.executable,
                "-m",
                "console.cli",
                "--cluster",
                str(lab.cluster_file),
                "status",
                "--json",
            ],
        ):
            done = subprocess.run(argv, env=env(), capture_output=True, text=True, timeout=60)
            assert judged(done), done
            said = done.stderr.splitlines()
            assert len(said) == 1 and "not using the shared monitor: the monitor on" in said[0], (
                said
            )
            assert said[0].endswith(("did not answer within 1 s", "did not say hello within 1 s"))
            state = codec.decode(json.loads(done.stdout))
            assert time.time() - state.taken_at < 30
            assert all(not box.stale for box in state.boxes)
    finally:
        os.kill(shared.pid, signal.SIGCONT)


def test_a_console_feed_goes_on_with_its_own_links_when_the_monitor_stops_answering(
    shared: SharedMonitor, lab: LabLayout
) -> None:
    inv = inventory.load(lab.cluster_file)

    async def follow() -> list[tuple[str, float]]:
        monitor = Monitor(inv, interval=1.0)
        feed = client.SharedFeed(inv, lambda: Feed(monitor, every=1.0))
        seen: list[tuple[str, float]] = []
        updates = feed.updates()
        try:
            async for state in updates:
                seen.append((feed.source, state.taken_at))
                if len(seen) == 2:
                    os.kill(shared.pid, signal.SIGSTOP)
                if feed.source == "own connections" and len(seen) > 2:
                    break
                assert len(seen) < 30, seen
        finally:
            await updates.aclose()
            os.kill(shared.pid, signal.SIGCONT)
        return seen

    seen = asyncio.run(follow())
    assert seen[0][0] == f"the shared monitor (pid {shared.pid})", seen
    assert seen[-1][0] == "own connections"
    assert time.time() - seen[-1][1] < 10  # a fresh snapshot of its own, not the monitor's last


def test_a_monitor_of_a_cluster_yaml_that_changed_is_not_used_and_goes(
    lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTSPARE_MONITOR")
    copy = tmp_path / "cluster.yaml"
    shutil.copy(lab.cluster_file, copy)
    monitor = SharedMonitor(copy, "--interval", "1", log=tmp_path / "monitor.log")
    try:
        with copy.open("a") as file:
            file.write("# edited while its monitor runs\n")
        done = run(copy, "status")
        assert judged(done), done
        assert (
            f"the monitor (pid {monitor.pid}) read {copy.resolve()} before it changed"
            in done.stderr
        )
        monitor.process.wait(timeout=30)  # it notices by itself and goes
        assert "changed: a new monitor will read it" in (tmp_path / "monitor.log").read_text()
    finally:
        monitor.stop()


def test_the_monitor_a_console_starts_serves_it_then_goes_when_left_alone(
    lab: LabLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTSPARE_MONITOR")
    inv = inventory.load(lab.cluster_file)
    path = client.socket_of(inv)
    assert not single.is_held(path)

    def start(inv: inventory.Inventory) -> None:
        spawn.start(inv.path, path, linger=1)

    async def one_snapshot() -> str:
        monitor = Monitor(inv)
        feed = client.SharedFeed(inv, lambda: Feed(monitor), start=start)
        updates = feed.updates()
        try:
            state = await anext(updates)
            assert all(not box.stale for box in state.boxes)
            return feed.source
        finally:
            await updates.aclose()

    source = asyncio.run(one_snapshot())
    pid = single.holder_pid(path)
    assert source == f"the shared monitor (pid {pid})"
    eventually(lambda: not single.is_held(path), timeout=30, every=0.2)
    assert "stopped: no client for 1 s" in spawn.log_of(path).read_text()


def test_the_monitor_serves_metrics_and_tells_its_alarm_hooks(
    lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the lab's cluster.yaml where web2's health check points nowhere: an alarm
    this monitor alone sees, told to a hook and counted on /metrics."""
    monkeypatch.delenv("HOTSPARE_MONITOR")
    told = tmp_path / "told.jsonl"
    document = yaml.safe_load(lab.cluster_file.read_text())
    document["web_nodes"]["web2"]["health_url"] = "http://127.0.0.1:9/healthz"
    document["alerts"] = {
        "hooks": [{"command": ["/bin/sh", "-c", f"cat >> {told}; echo >> {told}"]}]
    }
    copy = tmp_path / "cluster.yaml"
    copy.write_text(yaml.safe_dump(document))
    port = _free_port()
    kept = tmp_path / "history"
    monitor = SharedMonitor(
        copy, "--metrics", str(port), "--history", str(kept), log=tmp_path / "monitor.log"
    )
    try:
        hooked = eventually(lambda: told.exists() and _documents(told), timeout=30)
        told_of = [d for d in hooked if d["code"] == "node-unhealthy" and d["subject"] == ["web2"]]
        assert told_of and told_of[0]["transition"] == "raised", hooked
        assert told_of[0]["standing"] and told_of[0]["schema"] == "hotspare.alarm/1"
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        connected = {s.labels["box"]: s.value for s in families["hotspare_box_connected"].samples}
        assert connected == dict.fromkeys(lab.boxes, 1.0), connected
        codes = {(s.labels["code"], s.value) for s in families["hotspare_alarms_by_code"].samples}
        assert ("node-unhealthy", 1.0) in codes, codes
        assert families["hotspare_hook_calls"].samples[0].value >= 1
        assert "alarm transitions go to 1 hook(s)" in monitor.log.read_text()
        # And it records what it sees: the history reads back the alarm it told.
        recording = eventually(lambda: _recorded(kept, 2), timeout=20)
        last = recording.at(recording.times()[-1])
        assert [a.code for a in last.alarms if a.subject == ("web2",)] == ["node-unhealthy"]
    finally:
        monitor.stop()


def _recorded(directory: Path, moments: int) -> Recording | None:
    """The recording in DIRECTORY once it holds MOMENTS moments, else None."""
    if not directory.exists():
        return None
    recording = Recording.open(directory)
    return recording if len(recording.times()) >= moments else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _documents(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
