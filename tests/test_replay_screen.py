"""The replay console under a pilot: the keys move the cursor, every panel follows it,
the bar cannot be taken for live, and nothing can be changed from it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from console.history.replay import Replay
from console.trends import Trends
from screens import keys
from screens.action import ActionScreen
from screens.panels import Banner, KeyBar, NodesPanel, ReplicasPanel, Timeline
from screens.prompt import PromptScreen
from screens.replay import HINTS, KEYS, ReplayApp, ReplayHelpScreen, replay_help
from tests.support.replay_parts import START, SWITCH, UNHEALTHY, recorded, story
from tests.support.verdict_parts import INV


class ToldReplay(ReplayApp):
    """The real replay console; what it tells the operator is also kept for the test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[str] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.told.append(message)
        super().notify(message, *args, **kwargs)


def _replay(tmp_path: Path, chunk: int = 120) -> Replay:
    return Replay(recorded(tmp_path / "h", story()), chunk=chunk)


def _bar(app: ReplayApp) -> str:
    return str(app.query_one("#replay-bar").render())


def _cell(app: ReplayApp, panel: type[Any], row: str, column: str) -> str:
    return str(app.query_one(panel).get_cell(row, column).plain)


async def _settle(pilot: Any) -> None:
    await pilot.pause(0.05)


def test_the_keys_step_jump_to_an_alarm_and_to_a_time(tmp_path: Path) -> None:
    async def go() -> None:
        app = ToldReplay(INV, _replay(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            assert _bar(app) == " REPLAY  2026-12-07 18:06:39 UTC (moment 400 of 400)"
            assert _cell(app, ReplicasPanel, "db2", "role") == "primary"
            await pilot.press("left", "left")  # the balancer table has the focus: still ours
            await _settle(pilot)
            assert "18:06:37 UTC (moment 398 of 400)" in _bar(app)
            await pilot.press("right")
            await _settle(pilot)
            assert app.replay.position == 398
            await pilot.press("left_square_bracket")
            await _settle(pilot)
            assert app.replay.position == 338 and "18:05:38" in _bar(app)
            await pilot.press("g", "n")  # the first moment, then the first alarm change
            await _settle(pilot)
            assert app.replay.position == UNHEALTHY.start
            assert app.told[-1] == "18:01:40 UTC: raised node-unhealthy (web2, warning)"
            assert "health check answered 503" in str(app.query_one(Banner).render())
            assert "503" in _cell(app, NodesPanel, "web2", "health")
            await pilot.press("n")
            await _settle(pilot)
            assert app.replay.position == UNHEALTHY.stop
            assert "no alarms" in str(app.query_one(Banner).render())
            await pilot.press("N", "N")
            await _settle(pilot)
            assert app.replay.position == UNHEALTHY.start
            await pilot.press("t")
            await _settle(pilot)
            assert isinstance(app.screen, PromptScreen)
            await pilot.press("left")  # in the prompt's field: moves its cursor, not ours
            await pilot.press(*"18:05 UTC", "enter")
            await _settle(pilot)
            assert app.replay.position == SWITCH
            assert _cell(app, ReplicasPanel, "db1", "role") == "standby"
            assert app.events[-1].text == "role standby -> primary"
            assert "db2: role standby -> primary" in app.query_one(Timeline).lines[-1]
            await pilot.press("G", "left")
            await _settle(pilot)
            assert app.replay.position == 398
            await pilot.press("t", *"17:00 UTC", "enter")
            await _settle(pilot)
            assert app.replay.position == 398
            assert app.told[-1].endswith(
                "is outside the recording: it spans 2026-12-07 18:00:00 UTC "
                "to 2026-12-07 18:06:39 UTC"
            )

    asyncio.run(go())


def test_the_timeline_shows_the_events_up_to_the_cursor_and_reads_back_the_rest(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        replay = _replay(tmp_path, chunk=10)
        replay.go(START + SWITCH)
        app = ToldReplay(INV, replay)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            texts = [e.text for e in app.events]
            assert texts[-1] == "role standby -> primary"
            for _ in range(100):  # the rest is read while idle, nearest the cursor first
                if app.events[0].subject != "replay":
                    break
                await pilot.pause(0.1)
            assert [e.text for e in app.events] == [
                "ALARM web2: health check answered 503",
                "cleared: web2 is healthy again",
                "role primary -> standby",
                "WAL receiver None -> streaming",
                "role standby -> primary",
            ]
            await pilot.press("left")
            await _settle(pilot)
            assert [e.text for e in app.events][-1] == "cleared: web2 is healthy again"
            assert "role" not in " ".join(app.query_one(Timeline).lines)

    asyncio.run(go())


def test_the_trends_at_the_cursor_are_those_a_console_watching_then_drew(
    tmp_path: Path,
) -> None:
    states = story()

    def watched(upto: int) -> list[tuple[float | None, ...]]:
        trends = Trends()
        for state in states[: upto + 1]:
            trends.add(state)
        return series(trends)

    def series(trends: Trends) -> list[tuple[float | None, ...]]:
        return [
            trends.requests(),
            trends.errors(),
            *(trends.latency(n) for n in ("web1", "web2", "web3")),
            *(trends.lag(d) for d in ("db1", "db2")),
        ]

    async def go() -> None:
        replay = Replay(recorded(tmp_path / "h", states))
        replay.go(START + UNHEALTHY.start + 5)
        app = ToldReplay(INV, replay)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            for key in ("left", "right", "right", "left_square_bracket", "n", "G", "g", "right"):
                await pilot.press(key)
                await _settle(pilot)
                assert series(app.trends) == watched(app.replay.position), key
            assert app.replay.position == 1 and len(app.trends.latency("web1")) == 2

    asyncio.run(go())


@pytest.mark.parametrize("key", keys.ACTIONS)
def test_a_replay_refuses_every_action_key(tmp_path: Path, key: keys.Key) -> None:
    async def go() -> None:
        app = ToldReplay(INV, _replay(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            await pilot.press("tab", "down", key.key)
            await _settle(pilot)
            assert not isinstance(app.screen, ActionScreen) and len(app.screen_stack) == 1
            assert app.check_action("act", (key.key,)) is False
            assert app.authority.observer and app.monitor is None and app.links is None
            assert "OBSERVER" in str(app.query_one(Banner).render())
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert "drain" not in titles and "Replay: go to a time" in titles

    asyncio.run(go())


def test_an_action_reached_another_way_needs_the_live_site(tmp_path: Path) -> None:
    async def go() -> None:
        app = ToldReplay(INV, _replay(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            app.action_act("d")
            await _settle(pilot)
            assert app.told[-1].startswith("Actions need the live site")
            assert len(app.screen_stack) == 1

    asyncio.run(go())


def test_playing_moves_the_cursor_by_recorded_time_until_paused(tmp_path: Path) -> None:
    async def go() -> None:
        replay = _replay(tmp_path)
        replay.go(START + 100)
        app = ToldReplay(INV, replay)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            await pilot.press("plus", "space")
            await _settle(pilot)
            assert app.playing and "▶ x10" in _bar(app)
            app.action_play()  # pause first: the ticks below are the test's own
            app.action_play()
            moved_from = app.replay.time
            app._play()
            assert app.replay.time == moved_from + 2.5  # a tick of 0.25 s at x10
            await pilot.press("space")
            await _settle(pilot)
            assert not app.playing and "▶" not in _bar(app)

    asyncio.run(go())


def test_the_help_and_the_key_bar_name_the_replay_keys(tmp_path: Path) -> None:
    async def go() -> None:
        app = ToldReplay(INV, _replay(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot)
            bar = str(app.query_one(KeyBar).render())
            for key, label in HINTS:
                assert f" {key}  {label} " in bar
            await pilot.press("question_mark")
            await _settle(pilot)
            assert isinstance(app.screen, ReplayHelpScreen)

    text = replay_help().plain
    for key in KEYS:
        assert key.description in text
    assert "OBSERVER: none of these is available" in text
    asyncio.run(go())


def test_the_replay_at_the_switchover_at_80x24(snap_compare: Any, tmp_path: Path) -> None:
    replay = _replay(tmp_path, chunk=1000)
    replay.go(START + SWITCH)
    app = ReplayApp(INV, replay)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)
