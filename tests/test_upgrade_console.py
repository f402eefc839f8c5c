"""Issue 15, the console against the lab: a halted upgrade on the banner, the node panel and
the upgrade screen; `b` rolls it back from there; an observer's keys change nothing.

The module makes one real halted upgrade (web3 to v3-broken, which fails its
health check on purpose) and always leaves the lab as it found it: every
node on v1, no open runbook, no action lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from console.lab.layout import LabLayout
from screens.action import ActionScreen
from screens.panels import Banner, NodesPanel
from screens.prompt import PromptScreen
from screens.upgrade import UpgradeScreen
from tests.support.console_parts import RecordingApp
from tests.support.labclient import eventually, http
from tests.test_actions_console import live_app

BROKEN = "v3-broken"
WEB = ("web1", "web2", "web3")


def hotspare(lab: LabLayout, audit: Path, *argv: str, timeout: float = 180) -> tuple[int, str]:
    """The real `hotspare` command on the lab, in its own process: exit status and stdout."""
    env = {**os.environ, "HOTSPARE_AUDIT": str(audit)}
    done = subprocess.run(
        [sys.executable, "-m", "screens.main", "--cluster", str(lab.cluster_file), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout


def release(lab: LabLayout, node: str) -> str | None:
    """The release NODE's site says it runs (its /version), None while it does not answer."""
    try:
        status, body = http(lab.node_url(node) + "version")
    except OSError:
        return None
    return str(json.loads(body).get("release")) if status == 200 else None


def runbook(lab: LabLayout, audit: Path) -> dict[str, Any] | None:
    code, out = hotspare(lab, audit, "upgrade", "status", "--json")
    assert code == 0, out
    found: dict[str, Any] | None = json.loads(out)["runbook"]
    return found


def left_clean(lab: LabLayout, audit: Path) -> None:
    """Roll back whatever is open, then prove every node runs v1 and no runbook is open."""
    book = runbook(lab, audit)
    moved = any(release(lab, node) != "v1" for node in WEB)
    if book is not None and (book["state"] != "done" or (moved and book["kind"] != "rollback")):
        hotspare(lab, audit, "upgrade", "rollback", "--yes")
    book = runbook(lab, audit)
    assert book is None or book["state"] == "done", book
    for node in WEB:

        def on_v1(node: str = node) -> bool:
            return release(lab, node) == "v1"

        eventually(on_v1, timeout=60)
    _, out = hotspare(lab, audit, "status", "--json")
    assert json.loads(out).get("action") is None, out


@pytest.fixture(scope="module")
def halted(lab: LabLayout, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The lab with an upgrade of web3 to v3-broken halted at its restart; its audit log."""
    audit = tmp_path_factory.mktemp("upgrade") / "audit.jsonl"
    try:
        code, out = hotspare(
            lab, audit, "upgrade", "rolling", "--release", BROKEN, "--nodes", "web3",
            "--soak", "0", "--yes", "--confirm", BROKEN,
        )  # fmt: skip
        assert code == 1, out  # halted at a failed check
        book = runbook(lab, audit)
        assert book is not None and book["state"] == "halted", book
        yield audit
    finally:
        left_clean(lab, audit)


async def until(pilot: Pilot[int], check: Callable[[], object], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.1)
    return value


def banner(app: RecordingApp) -> str:
    return str(app.query_one(Banner).render())


def upgrade_text(app: RecordingApp) -> str:
    return str(app.screen.query_one("#upgrade-text", Static).render())


def test_an_observers_upgrade_keys_change_nothing(
    lab: LabLayout, halted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTSPARE_AUDIT", str(halted))
    before = runbook(lab, halted)

    async def go() -> None:
        app = live_app(lab, observer=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: f"UPGRADE 1/1 on {BROKEN} HALTED" in banner(app))
            await pilot.press("U")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            screen = app.screen
            for key in "prabn":
                await pilot.press(key)
                await pilot.pause(0.3)
                if app.screen is not screen:  # `a` falls through to the alarms list
                    await pilot.press("escape")
                    await pilot.pause(0.1)
            await pilot.pause(1.0)
            assert not any(isinstance(s, ActionScreen | PromptScreen) for s in app.screen_stack)

    asyncio.run(go())
    after = runbook(lab, halted)
    assert after == before  # the same record: no request, no new run
    assert release(lab, "web3") == BROKEN


def test_the_console_shows_the_halted_upgrade_and_b_rolls_web3_back(
    lab: LabLayout, halted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTSPARE_AUDIT", str(halted))

    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: f"UPGRADE 1/1 on {BROKEN} HALTED" in banner(app))
            nodes = app.query_one(NodesPanel)
            await until(pilot, lambda: nodes.get_cell("web3", "release").plain == BROKEN)
            assert nodes.get_cell("web1", "release").plain == "v1"
            await pilot.press("U")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            web3 = next(line for line in upgrade_text(app).splitlines() if line.startswith("web3"))
            assert BROKEN in web3 and "1 FAILED" in web3 and "✗ Restart web3" in web3, web3
            await pilot.press("b")
            screen = await until(
                pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen, timeout=30
            )
            assert screen.plan.action == "upgrade rollback" and not screen.plan.refusals
            assert any("web3" in step.title for step in screen.plan.steps)
            await pilot.press("enter")
            await until(pilot, lambda: screen.outcome is not None, timeout=150)
            assert screen.outcome.status == "done", screen.outcome.reason
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            await pilot.press("escape")
            await until(pilot, lambda: "UPGRADE" not in banner(app), timeout=20)
            await until(pilot, lambda: nodes.get_cell("web3", "release").plain == "v1")

    asyncio.run(go())
    assert release(lab, "web3") == "v1"
    book = runbook(lab, halted)
    assert book is not None and book["kind"] == "rollback" and book["state"] == "done", book


def test_a_roll_started_in_the_console_is_paused_from_its_own_action_screen(
    lab: LabLayout, halted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the halted one is rolled back: n starts a roll of web3 to v2, p pauses it."""
    monkeypatch.setenv("HOTSPARE_AUDIT", str(halted))
    left_clean(lab, halted)

    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("U")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, PromptScreen))
            await pilot.press(*"v2", "down", *"web3", "down", "0", "enter")
            screen = await until(
                pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen, timeout=30
            )
            assert screen.plan.confirm == "v2" and not screen.plan.refusals
            await pilot.press(*"v2", "enter")
            await until(pilot, lambda: screen.running)
            await pilot.press("p")
            await until(pilot, lambda: screen.outcome is not None, timeout=120)
            assert screen.outcome.status == "paused", screen.outcome.reason

    asyncio.run(go())
    book = runbook(lab, halted)
    assert book is not None and book["state"] == "paused", book
    code, out = hotspare(lab, halted, "upgrade", "resume", "--yes")
    assert code == 0, out
    assert release(lab, "web3") == "v2"
    code, out = hotspare(lab, halted, "upgrade", "rollback", "--yes")
    assert code == 0, out


def test_a_roll_runs_on_when_its_action_screen_is_closed_and_is_paused_from_the_upgrade_screen(
    lab: LabLayout, halted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """escape leaves the roll running; U shows it, p there pauses it; the outcome is said."""
    monkeypatch.setenv("HOTSPARE_AUDIT", str(halted))
    left_clean(lab, halted)

    async def go() -> None:
        app = live_app(lab)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("U")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, PromptScreen))
            await pilot.press(*"v2", "down", *"web3,web2", "down", *"20", "enter")
            screen = await until(
                pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen, timeout=30
            )
            await pilot.press(*"v2", "enter")
            await until(pilot, lambda: screen.running)
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            # Two nodes and a soak: the pause asked below lands while the roll still runs.
            await until(pilot, lambda: "UPGRADE 1/2 on v2" in upgrade_text(app), timeout=20)
            await pilot.press("escape")  # to the main screen, where q quits
            await until(pilot, lambda: app.screen is app.screen_stack[0])
            await pilot.press("q")
            await until(pilot, lambda: any("press q again" in said for said in app.told))
            assert app.is_running
            await pilot.press("U")
            await until(pilot, lambda: isinstance(app.screen, UpgradeScreen))
            await pilot.press("p")
            asked = await until(
                pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen, timeout=30
            )
            assert asked.plan.action == "upgrade pause", asked.plan.describe()
            await pilot.press("enter")
            await until(pilot, lambda: asked.outcome is not None, timeout=30)
            await until(pilot, lambda: screen.outcome is not None, timeout=120)
            assert screen.outcome.status == "paused", screen.outcome.reason
            assert any("PAUSED" in said for said in app.told), app.told

    asyncio.run(go())
    book = runbook(lab, halted)
    assert book is not None and book["state"] == "paused", book
    code, out = hotspare(lab, halted, "upgrade", "rollback", "--yes")
    assert code == 0, out
