"""The shared monitor's socket protocol, its place and its lock, without a lab."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from console.daemon import place, quick, single
from console.daemon.protocol import Hello, ProtocolError, Request
from console.daemon.wire import hello_digest
from console.errors import HotspareError

HELLO = Hello(
    pid=42,
    started=1.5,
    cluster="shop",
    cluster_file="/etc/hotspare/shop.yaml",
    digest="ab" * 32,
    interval=2.0,
    clients=3,
)


def test_a_request_and_a_hello_read_back_as_written() -> None:
    for request in (Request("snapshots"), Request("status", json=True)):
        assert Request.parse(request.line()) == request
    assert Hello.parse(HELLO.line()) == HELLO
    assert hello_digest(HELLO.line()) == HELLO.digest


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", "not a JSON object but list"),
        (b'{"want": "shell"}\n', "a request for 'shell'"),
        (b"{}\n", "a request for 'None'"),
    ],
)
def test_a_request_for_anything_else_is_refused_saying_what_it_was(line: bytes, said: str) -> None:
    with pytest.raises(ProtocolError, match=said):
        Request.parse(line)


def test_a_hello_of_another_version_or_without_its_fields_is_refused() -> None:
    other = json.dumps({"schema": "hotspare.monitor/2", "pid": 1}).encode()
    with pytest.raises(ProtocolError, match=r"not a hotspare\.monitor/1 hello"):
        Hello.parse(other)
    assert hello_digest(other) is None
    partial = json.dumps({"schema": "hotspare.monitor/1", "pid": 1}).encode()
    with pytest.raises(ProtocolError, match="a hello without a usable 'started'"):
        Hello.parse(partial)


@pytest.mark.parametrize(
    ("argv", "asked"),
    [
        (["status"], (None, False)),
        (["status", "--json"], (None, True)),
        (["--cluster", "shop", "status"], ("shop", False)),
        (["status", "--cluster=a.yaml", "--timeout", "3", "--json"], ("a.yaml", True)),
        (["status", "--watch"], None),
        (["status", "--interval", "1"], None),
        (["--debug", "status"], None),
        (["status", "status"], None),
        (["events"], None),
        (["--json", "status"], None),
        ([], None),
        (["status", "--cluster"], None),
    ],
)
def test_only_a_plain_status_takes_the_quick_way(
    argv: list[str], asked: tuple[str | None, bool] | None
) -> None:
    assert quick._plain_status(argv) == asked


def test_the_socket_is_in_the_runtime_dir_or_the_cache_and_one_per_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))  # tmp_path is too long a path
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(short))
        shop, other = short / "shop.yaml", short / "other.yaml"
        assert place.socket_for(shop).parent == short / "hotspare"
        assert place.socket_for(shop) != place.socket_for(other)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(short / "missing"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(short / "cache"))
        assert place.socket_for(shop).parent == short / "cache" / "hotspare" / "run"
        monkeypatch.setenv("XDG_CACHE_HOME", str(short / ("x" * 120)))
        with pytest.raises(HotspareError, match="too long for a Unix socket"):
            place.socket_for(shop)
    finally:
        shutil.rmtree(short)


def test_hotspare_monitor_own_says_never_use_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(place.ENV, "own")
    assert not place.wanted()
    assert quick.status(["status"]) is None
    monkeypatch.delenv(place.ENV)
    assert place.wanted()


def test_the_lock_admits_one_holder_and_names_it_to_the_next(tmp_path: Path) -> None:
    socket = tmp_path / "run" / "m.sock"
    held = single.acquire(socket)
    assert stat.S_IMODE(socket.parent.stat().st_mode) == 0o700
    assert single.is_held(socket) and single.holder_pid(socket) == os.getpid()
    with pytest.raises(
        single.AlreadyRunning, match=f"already runs for this cluster \\(pid {os.getpid()}"
    ):
        single.acquire(socket)
    held.release()
    assert not single.is_held(socket)
    single.acquire(socket).release()


def test_a_socket_directory_others_can_enter_is_closed_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    run.chmod(0o755)
    single.prepare_dir(run)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700


def test_asyncssh_imports_without_the_dsa_deprecation_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import console, asyncssh"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
