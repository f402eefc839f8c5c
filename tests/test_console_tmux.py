"""The real `hotspare` in tmux against the lab: read the screen, press keys."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from console.lab.layout import LabLayout
from console.probes.haproxy import admin_state, parse_servers_state
from tests.support.labclient import haproxy

pytestmark = pytest.mark.lab


class Tmux:
    """One detached tmux session on its own server socket."""

    def __init__(self, command: list[str], size: tuple[int, int]) -> None:
        self.socket = f"hotspare-test-{uuid.uuid4().hex[:8]}"
        self.name = "console"
        columns, lines = size
        self._tmux(
            "new-session", "-d", "-s", self.name, "-x", str(columns), "-y", str(lines),
            "-e", "TERM=screen-256color", " ".join(command),
        )  # fmt: skip

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def alive(self) -> bool:
        return self.name in self._tmux("list-sessions", "-F", "#{session_name}")

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")
            time.sleep(0.2)

    def wait_gone(self, text: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} is still there; the screen was:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def console_in_tmux(lab: LabLayout) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    command = [sys.executable, "-m", "screens.main", "--cluster", str(lab.cluster_file)]
    tmux = Tmux(command, (100, 32))
    try:
        yield tmux
    finally:
        tmux.close()


def test_the_console_shows_the_lab_and_follows_a_drain(
    lab: LabLayout, console_in_tmux: Tmux
) -> None:
    tmux = console_in_tmux
    screen = tmux.wait_for("primary")
    assert "NORMAL" in screen and "web3" in screen and "standby" in screen
    asyncio.run(haproxy(lab, "set server site/web2 state drain"))
    try:
        screen = tmux.wait_for("DRAIN")
        assert "balancer: ready -> drain" in tmux.wait_for("ready -> drain")
    finally:
        asyncio.run(haproxy(lab, "set server site/web2 state ready"))
    tmux.wait_for("drain -> ready")
    tmux.keys("?")
    tmux.wait_for("Command palette")
    tmux.keys("PageDown")  # the help scrolls at once, without Tab first
    assert "Actions on the site" in tmux.wait_for("Actions on the site")
    tmux.keys("Escape")
    tmux.wait_gone("Actions on the site")  # a lone ESC is told from ESC-d only after a pause
    tmux.keys("d")  # the balancer panel has the focus, on web1
    screen = tmux.wait_for("enter: go ahead")
    assert "drain web1" in screen and "set server site/web1 state drain" in screen
    tmux.keys("Escape")  # cancelled: nothing ran
    tmux.wait_gone("enter: go ahead")
    tmux.keys("q")
    deadline = time.monotonic() + 10
    while tmux.alive():
        assert time.monotonic() < deadline, "the console did not quit on q"
        time.sleep(0.2)
    # Read once the console is gone: an action it had started would have acted by now.
    assert _admin(lab, "web1") == "ready"


def _admin(lab: LabLayout, server: str) -> str:
    states = parse_servers_state(asyncio.run(haproxy(lab, "show servers state site")))
    return admin_state(states[server])
