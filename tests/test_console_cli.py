"""The console's command line: serving, screenshots, terminals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from console.lab.layout import LabLayout
from screens.main import serve_warning
from tests.support.console_parts import console_app


def test_serving_beyond_localhost_warns_that_there_is_no_authentication() -> None:
    assert serve_warning("127.0.0.1") is None and serve_warning("localhost") is None
    warning = serve_warning("0.0.0.0")
    assert warning and "no authentication" in warning and "observer" in warning


def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, _ = console_app()
    assert app.no_color


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.lab
def test_serve_answers_on_localhost_only(lab: LabLayout) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "screens.main", "--cluster", str(lab.cluster_file)]
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    body = page.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "hotspare serve never answered"
                time.sleep(0.2)
        assert "hotspare" in body
        listening = [
            line
            for line in Path("/proc/net/tcp").read_text().splitlines()
            if f":{port:04X} " in line and " 0A " in line
        ]
        assert listening and all(line.split()[1].startswith("0100007F") for line in listening)
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.lab
def test_screenshot_writes_the_first_complete_screen(lab: LabLayout, tmp_path: Path) -> None:
    out = tmp_path / "console.svg"
    command = [sys.executable, "-m", "screens.main", "--cluster", str(lab.cluster_file)]
    result = subprocess.run(
        [*command, "screenshot", "--out", str(out), "--size", "80x24"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    assert result.returncode == 0, result.stderr
    svg = out.read_text()
    assert "<svg" in svg and "primary" in svg and "standby" in svg


def test_over_ssh_the_console_draws_fewer_frames(repo_root: Path) -> None:
    code = (
        "import argparse\n"
        "from console.inventory import load\n"
        "from screens.main import _app\n"
        f"inv = load({str(repo_root / 'cluster.yaml')!r})\n"
        "_app(inv, argparse.Namespace(observe=False, high_contrast=False))\n"
        "import textual.constants\n"
        "print(textual.constants.MAX_FPS)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    over_ssh = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "SSH_CONNECTION": "10.0.0.9 50000 10.0.0.1 22"},
        capture_output=True,
        text=True,
        check=True,
    )
    local = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert int(over_ssh.stdout) == 15
    assert int(local.stdout) > 15
