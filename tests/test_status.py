"""Live status against the real lab: what the operator is told is what is true."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from console.cli import main
from console.inventory import load
from console.lab import control, pg, procs
from console.lab.layout import LabLayout
from console.monitor import Monitor
from console.state.model import ClusterState
from tests.support.labclient import eventually, haproxy
from tests.support.variants import snapshot, snapshot_until, variant

pytestmark = pytest.mark.lab


def _alarm_codes(state: ClusterState) -> set[str]:
    return {a.code for a in state.alarms}


def _fresh(state: ClusterState) -> dict[str, bool]:
    return {b.box: not b.stale for b in state.boxes}


def test_the_healthy_lab_is_all_fresh_with_no_alarm(lab: LabLayout) -> None:
    state, _ = snapshot(load(lab.cluster_file))
    assert state.alarms == ()
    assert all(_fresh(state).values())
    assert state.verdicts.primaries == ("db1",)
    assert state.verdicts.standbys_streaming == ("db2",)
    assert state.verdicts.schedulers == ("web1",)
    assert (state.verdicts.backends_up, state.verdicts.backends_total) == (2, 3)
    assert state.verdicts.site_mode == "normal"
    nodes = {n.name: n for n in state.nodes}
    assert nodes["web3"].role == "warm" and nodes["web3"].mail == "log"
    assert nodes["web1"].health_status == 200 and nodes["web1"].site_alive
    assert nodes["web1"].access_logs[0].path.endswith("access.hot.web1.log")


def test_status_json_is_the_versioned_snapshot(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--cluster", str(lab.cluster_file), "status", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "hotspare.status/1"
    assert {b["box"] for b in document["boxes"]} == set(lab.boxes)
    db1 = next(d for d in document["databases"] if d["name"] == "db1")
    assert db1["role"] == "primary" and db1["standbys"][0]["application_name"] == "db2"


def test_a_drained_server_shows_as_drain(lab: LabLayout) -> None:
    inv = load(lab.cluster_file)
    asyncio.run(haproxy(lab, "set server site/web2 state drain"))
    try:
        state, _ = snapshot(inv)
        assert state.balancer is not None
        admin = {s.name: s.admin for s in state.balancer.servers}
        assert admin == {"web1": "ready", "web2": "drain", "web3": "maint"}
    finally:
        asyncio.run(haproxy(lab, "set server site/web2 state ready"))


def test_a_stopped_standby_is_reported_down_and_not_streaming(lab: LabLayout) -> None:
    inv = load(lab.cluster_file)
    pg.stop(lab, "db2")
    try:
        state, _ = snapshot(inv)
        db2 = next(d for d in state.databases if d.name == "db2")
        assert db2.role is None and db2.problem and "PostgreSQL" in db2.problem
        assert _fresh(state)["db2"]  # the box answers; its database does not
        assert {"standby-not-streaming", "database-unreachable"} & _alarm_codes(state)
    finally:
        pg.start(lab, "db2")
    snapshot_until(inv, lambda s: s.verdicts.standbys_streaming == ("db2",))


def test_a_box_whose_sshd_stopped_is_stale_with_its_reason(lab: LabLayout) -> None:
    inv = load(lab.cluster_file)
    sshd = procs.recorded(lab.pid_dir)["sshd-web2"]
    procs.stop(sshd)
    procs.forget(lab.pid_dir, sshd.name)
    try:
        state, _ = snapshot(inv)
        web2 = state.freshness("web2")
        assert web2 is not None and web2.stale
        assert web2.reason and "connection refused" in web2.reason
        assert {box: ok for box, ok in _fresh(state).items() if box != "web2"} == dict.fromkeys(
            set(lab.boxes) - {"web2"}, True
        )
        # The alarm names the service, sshd, not only the box.
        assert "sshd-not-answering" in _alarm_codes(state)
        assert web2.sshd_problem and "refuses new connections" in web2.sshd_problem
    finally:
        control.up(lab, lambda _: None)


@pytest.fixture
def silent_box(lab: LabLayout) -> Iterator[str]:
    """A 'box' that accepts TCP on the SSH port and never says a word."""
    address = f"{lab.block}.60"
    server = socket.create_server((address, 2222))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield address
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_box_that_never_answers_ssh_does_not_hold_up_the_others(
    lab: LabLayout, tmp_path: Path, silent_box: str
) -> None:
    inv = variant(lab, tmp_path, f"  hung: {{address: {silent_box}, connect_timeout: 2}}\n")
    state, took = snapshot(inv, deadline=6)
    hung = state.freshness("hung")
    assert hung is not None and hung.stale and hung.reason
    assert "no SSH answer" in hung.reason and "within 2 s" in hung.reason
    assert all(ok for box, ok in _fresh(state).items() if box != "hung")
    assert took < 4  # bounded by the hung box's 2 s connect timeout, not more


def test_an_unknown_host_key_is_refused_with_its_fingerprint(
    lab: LabLayout, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inv = variant(lab, tmp_path, known_hosts=empty)
    state, _ = snapshot(inv)
    web1_key = asyncssh.read_public_key(str(lab.box_dir("web1") / "ssh" / "host_ed25519.pub"))
    web1 = state.freshness("web1")
    assert web1 is not None and web1.stale and web1.reason
    assert "unknown host key" in web1.reason
    assert web1_key.get_fingerprint("sha256") in web1.reason
    assert "hotspare trust web1" in web1.reason
    # Trusting it (confirmed non-interactively) lets web1, and only web1, in.
    assert main(["--cluster", str(inv.path), "trust", "web1", "--yes"]) == 0
    state, _ = snapshot(load(inv.path))
    assert {box for box, ok in _fresh(state).items() if ok} == {"web1"}


def test_a_changed_host_key_is_refused_and_not_overwritten(
    lab: LabLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "known_hosts"
    db1_key = (lab.box_dir("db1") / "ssh" / "host_ed25519.pub").read_text().split()[:2]
    wrong.write_text(f"[{lab.address('web1')}]:2222 {' '.join(db1_key)}\n")
    inv = variant(lab, tmp_path, known_hosts=wrong)
    state, _ = snapshot(inv)
    web1 = state.freshness("web1")
    assert web1 is not None and web1.reason and "HOST KEY CHANGED" in web1.reason
    assert web1.host_key_changed
    # A possible interception: a critical alarm that says what to do, not a stale box.
    (alarm,) = [a for a in state.alarms if a.subject == ("web1",)]
    assert (alarm.code, alarm.severity) == ("host-key-changed", "critical")
    assert "Verify the new key out of band" in alarm.message
    assert "`hotspare trust web1 --replace`" in alarm.message
    assert main(["--cluster", str(inv.path), "status"]) == 2  # CRITICAL
    capsys.readouterr()
    assert main(["--cluster", str(inv.path), "trust", "web1", "--yes"]) == 3  # refused
    err = capsys.readouterr().err
    assert "REFUSED: HOST KEY CHANGED" in err and "hotspare trust web1 --replace" in err
    assert wrong.read_text().count("\n") == 1


@pytest.fixture
def hidden_box(lab: LabLayout) -> Iterator[str]:
    """A box whose sshd only the jump host (lb1) can reach.

    An owner-match firewall rule rejects connections to it from anyone but
    the lab user, which lb1's sshd forwards as; the test itself runs as root.
    """
    if not lab.as_root or shutil.which("iptables") is None:
        pytest.skip("needs root and iptables to hide a box behind a jump host")
    address = f"{lab.block}.70"
    rule = ["OUTPUT", "-d", f"{address}/32", "-p", "tcp", "--dport", "2222"]
    rule += ["-m", "owner", "!", "--uid-owner", lab.user, "-j", "REJECT"]
    subprocess.run(["iptables", "-D", *rule], capture_output=True, check=False)
    subprocess.run(["iptables", "-A", *rule], check=True)
    box_dir = lab.box_dir("hidden")
    (box_dir / "etc").mkdir(parents=True, exist_ok=True)
    (box_dir / "ssh").mkdir(exist_ok=True)
    (box_dir / "run").mkdir(exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(box_dir / "ssh" / "host_ed25519"))
    (box_dir / "ssh" / "host_ed25519").chmod(0o600)
    config = box_dir / "etc" / "sshd_config"
    config.write_text(control.configs.sshd_config(lab, "hidden", address))
    procs.give_tree(lab)
    child = procs.spawn(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
        box_dir / "sshd.log",
        user=procs.run_as(lab),
    )
    known = lab.known_hosts.read_text()
    public = key.export_public_key("openssh").decode().split()[:2]
    lab.known_hosts.write_text(known + f"[{address}]:2222 {' '.join(public)}\n")
    try:
        # Only the lab user may connect, so wait for sshd's own word instead.
        log = box_dir / "sshd.log"
        for _ in range(100):
            if log.exists() and "Server listening" in log.read_text():
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the hidden box's sshd did not start:\n{log.read_text()}")
        yield address
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(5)
        lab.known_hosts.write_text(known)
        subprocess.run(["iptables", "-D", *rule], check=True)


def test_a_box_reachable_only_through_a_jump_host(
    lab: LabLayout, tmp_path: Path, hidden_box: str
) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((hidden_box, 2222), timeout=2).close()
    inv = variant(lab, tmp_path, f"  hidden: {{address: {hidden_box}, jump: lb1}}\n")
    state = snapshot_until(inv, lambda s: all(_fresh(s).values()), timeout=10)
    hidden = state.freshness("hidden")
    assert hidden is not None and hidden.connected and hidden.rtt_ms is not None


def test_invalid_utf8_from_a_box_does_not_drop_its_connection(lab: LabLayout) -> None:
    inv = load(lab.cluster_file)
    log = lab.box_dir("web1") / "log" / "hostile.log"
    with log.open("ab") as out:
        out.write(b'127.0.0.1 - - "GET /\xff\xfe\xc3 HTTP/1.1" 200 1 "-" "\x1b[31mred"\n')

    async def probe_twice(monitor: Monitor) -> tuple[str, ClusterState]:
        await monitor.refresh_box("web1")
        shell = await monitor.links["web1"].shell()
        tail = await shell.ask(f"tail -n 1 {log}", 3)
        conn = await monitor.links["web1"].connection()
        await monitor.refresh_box("web1")
        assert conn is await monitor.links["web1"].connection()  # the same connection
        return tail, monitor.snapshot()

    async def run() -> tuple[str, ClusterState]:
        monitor = Monitor(inv)
        try:
            return await probe_twice(monitor)
        finally:
            await monitor.close()

    tail, state = asyncio.run(run())
    assert "\ufffd" in tail
    web1 = state.freshness("web1")
    assert web1 is not None and not web1.stale


def test_status_watch_refreshes_until_interrupted(lab: LabLayout) -> None:
    command = [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file)]
    child = subprocess.Popen(
        [*command, "status", "--watch", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, errors = child.stdout, child.stderr
    assert out is not None and errors is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(out.readline, "")), daemon=True)
    reader.start()
    try:  # three pictures, each a whole one, then ^C
        eventually(lambda: sum(line.startswith("BALANCER lb1") for line in lines) >= 3, 20)
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(10)
        reader.join(10)
    err = errors.read()
    assert "Traceback" not in err
    assert child.returncode == 0, err  # ^C is how a watch ends


def test_two_primaries_raise_a_split_brain_alarm(lab: LabLayout) -> None:
    inv = load(lab.cluster_file)
    with pg.superuser(lab, "db2") as conn:
        conn.execute("SELECT pg_promote(true)")
    try:
        state = snapshot_until(inv, lambda s: len(s.verdicts.primaries) == 2)
        split = [a for a in state.alarms if a.code == "split-brain"]
        assert split and split[0].severity == "critical"
        assert set(split[0].subject) == {"db1", "db2"}
        assert main(["--cluster", str(lab.cluster_file), "status"]) == 2  # critical
    finally:
        pg.stop(lab, "db2")
        shutil.rmtree(lab.data_dir("db2"))
        control.up(lab, lambda _: None)  # a fresh standby from db1
    snapshot_until(inv, lambda s: s.alarms == ())
