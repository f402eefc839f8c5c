"""The console under a pilot: keys, screens, observer refusals, staleness."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from console.actions import catalog
from console.authority import Authority, ObserverRefused
from screens import keys
from screens.action import ActionScreen
from screens.app import HotspareApp
from screens.detail import BoxScreen
from screens.help import HelpScreen
from screens.palette import palette_names
from screens.panels import BalancerPanel, Banner, NodesPanel, Panel, ReplicasPanel, Timeline
from tests.support.console_parts import RecordingApp, console_app
from tests.support.verdict_parts import INV, box, cluster_state, server


def _run(test: object) -> None:
    asyncio.run(test)  # type: ignore[arg-type]


async def _settle(pilot: object) -> None:
    await pilot.pause(0.05)  # type: ignore[attr-defined]


def _plain(app: HotspareApp, panel: type[Panel], row: str, column: str) -> str:
    table = app.query_one(panel)
    return str(table.get_cell(row, column).plain)


def test_the_first_snapshot_fills_banner_and_panels() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            banner = str(app.query_one(Banner).render())
            assert "lab" in banner and "NORMAL" in banner and "no alarms" in banner
            assert app.query_one(BalancerPanel).row_count == 3
            assert app.query_one(NodesPanel).row_count == 3
            assert app.query_one(ReplicasPanel).row_count == 2
            assert _plain(app, ReplicasPanel, "db1", "role") == "primary"
            assert _plain(app, NodesPanel, "web1", "sched") == "★ yes"

    _run(go())


@pytest.mark.parametrize("key", keys.ACTIONS)
def test_an_action_key_without_the_live_site_says_so_and_changes_nothing(key: keys.Key) -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press(key.key)
            await _settle(pilot)
            assert app.told and "Actions need the live site" in app.told[-1]
            assert not isinstance(app.screen, ActionScreen)

    _run(go())


@pytest.mark.parametrize("key", [k for k in keys.ACTIONS])
def test_an_observer_has_no_action_key_at_all(key: keys.Key) -> None:
    async def go() -> None:
        app, _ = console_app(observer=True)
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press(key.key)
            await _settle(pilot)
            assert app.told == []
            assert app.check_action("act", (key.key,)) is False
            shown = {b.binding.action for b in app.active_bindings.values()}
            assert key.action not in shown
            assert "OBSERVER" in str(app.query_one(Banner).render())

    _run(go())


def test_the_palette_offers_every_action_to_an_operator_and_none_to_an_observer() -> None:
    async def titles(observer: bool) -> set[str]:
        app, _ = console_app(observer=observer)
        async with app.run_test(size=(100, 32)):
            return {c.title for c in app.get_system_commands(app.screen)}

    operator = asyncio.run(titles(False))
    observer = asyncio.run(titles(True))
    actions = {" / ".join(palette_names(a)) for a in catalog.ACTIONS if a.key is not None}
    assert {"drain", "read-only on / message", "read-only off", "promote / switchover"} <= actions
    assert actions <= operator
    assert not actions & observer
    assert "Open the logs screen" in observer and "List every key" in observer


def test_the_core_refuses_an_observer_too() -> None:
    with pytest.raises(ObserverRefused, match="observer mode"):
        Authority(True, "started with --observe").require_operator("drain web2")
    env = Authority.decide(False, True, "production")
    assert env.observer and "production" in env.why


def test_tab_moves_between_panels_and_j_k_move_within() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            assert app.focused is app.query_one(BalancerPanel)
            await pilot.press("j", "j")
            assert app.query_one(BalancerPanel).selected == "web3"
            await pilot.press("k")
            assert app.query_one(BalancerPanel).selected == "web2"
            await pilot.press("tab")
            assert app.focused is app.query_one(NodesPanel)
            await pilot.press("tab")
            assert app.focused is app.query_one(ReplicasPanel)

    _run(go())


def test_enter_opens_the_box_details_and_escape_returns() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press("tab", "tab", "down", "enter")
            await _settle(pilot)
            assert isinstance(app.screen, BoxScreen) and app.screen.box == "db2"
            facts = str(app.screen.query_one("#facts").render())
            assert "database db2" in facts and "receiver_status" in facts
            await pilot.press("escape")
            assert not isinstance(app.screen, BoxScreen)

    _run(go())


def test_question_mark_lists_the_keys() -> None:
    async def go() -> None:
        app, _ = console_app(observer=True)
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press("question_mark")
            await _settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            assert "OBSERVER" in str(app.screen.query_one("Static").render())
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    _run(go())


def test_l_without_live_connections_says_there_are_no_logs_to_show() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press("l")
            assert app.told and "No logs to show" in app.told[-1]

    _run(go())


def test_slash_filters_the_tables_by_name() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press("slash", "w", "e", "b", "2")
            await _settle(pilot)
            assert app.query_one(NodesPanel).row_count == 1
            assert app.query_one(ReplicasPanel).row_count == 0
            await pilot.press("escape")
            await _settle(pilot)
            assert app.query_one(NodesPanel).row_count == 3

    _run(go())


def test_a_box_going_stale_is_marked_and_logged() -> None:
    async def go() -> None:
        app, feed = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            assert _plain(app, NodesPanel, "web2", "data") == "live"
            reason = "connection refused at 10.0.1.12:22: sshd is not running there"
            boxes = tuple(
                box(b.name, stale=b.name == "web2", age=12.0, reason=reason)
                if b.name == "web2"
                else box(b.name)
                for b in INV.boxes
            )
            feed.push(cluster_state(taken_at=112.0, boxes=boxes))
            await _settle(pilot)
            assert _plain(app, NodesPanel, "web2", "data") == "STALE 12s"
            assert _plain(app, NodesPanel, "web1", "data") == "live"
            lines = app.query_one(Timeline).lines
            assert any("web2: went STALE: connection refused" in line for line in lines)

    _run(go())


def test_hostile_names_are_shown_as_text() -> None:
    async def go() -> None:
        evil = "[/]\x1b[31mweb2[bold]"
        lb = cluster_state().balancer
        assert lb is not None
        servers = (server("web1"), server(evil), server("web3", "maint", "MAINT"))
        app, _ = console_app(cluster_state(balancer=replace(lb, servers=servers)))
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            assert _plain(app, BalancerPanel, evil, "server") == "[/]web2[bold]"

    _run(go())


def test_below_80x24_it_says_so() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(70, 20)) as pilot:
            await _settle(pilot)
            assert app.screen.has_class("-too-small")
            assert "at least 80x24" in str(app.query_one("#too-small").render())
            assert "70x20" in str(app.query_one("#too-small").render())

    _run(go())


def test_ctrl_s_saves_the_screen_as_svg(tmp_path: Path) -> None:
    async def go() -> RecordingApp:
        app, _ = console_app(screenshot_dir=tmp_path)
        async with app.run_test(size=(100, 32)) as pilot:
            await _settle(pilot)
            await pilot.press("ctrl+s")
            await _settle(pilot)
        return app

    app = asyncio.run(go())
    saved = list(tmp_path.glob("*.svg"))
    assert len(saved) == 1 and "<svg" in saved[0].read_text()
    assert str(saved[0].name) in app.told[-1]
