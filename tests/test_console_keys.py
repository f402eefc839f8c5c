"""Issue 14, keys: the key bar at 80x24, the palette's names, scrolling modals, questions, audit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.widgets import Input

from console.actions import catalog
from screens.action import ActionScreen
from screens.audit import AuditScreen
from screens.help import HelpScreen
from screens.panels import KeyBar
from screens.prompt import PromptScreen
from tests.support.console_parts import RecordingApp, console_app

SYNONYMS = (
    "switchover",
    "failover",
    "rejoin",
    "read-only",
    "message",
    "maintenance",
    "weight",
    "hot",
    "warm",
    "scheduler",
    "audit",
    "logs",
)


def _bar(app: RecordingApp) -> str:
    bar = app.query_one("#keybar", KeyBar)
    assert bar.size.width == 80
    return bar.render().plain


def test_at_80x24_the_bar_starts_with_help_quit_logs_palette_then_the_focused_panels_keys() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            shown = _bar(app)
            assert shown.startswith(" ?  help  q  quit  l  logs  ^p  palette "), shown
            assert " d  drain " in shown and " h  hot " in shown and " p " not in shown
            assert len(shown) <= 80 and not shown.rstrip().endswith(" s")  # whole hints only
            await pilot.press("tab", "tab")  # the databases panel
            await pilot.pause(0.05)
            shown = _bar(app)
            assert shown.startswith(" ?  help  q  quit  l  logs  ^p  palette "), shown
            assert " p  promote " in shown and " o  read-only " in shown
            assert " d  drain " not in shown

    asyncio.run(go())


def test_an_observers_bar_has_the_views_and_no_action() -> None:
    async def go() -> None:
        app, _ = console_app(observer=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            assert _bar(app).strip() == "?  help  q  quit  l  logs  ^p  palette"

    asyncio.run(go())


def test_the_palette_finds_every_action_by_its_synonyms_with_keys_as_pressed() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.05)
            await pilot.press("ctrl+p")
            await pilot.pause(0.1)
            assert isinstance(app.screen, CommandPalette)
            for word in SYNONYMS:
                field = app.screen.query_one(Input)
                field.value = word
                await pilot.pause(0.3)
                found = app.screen.query_one(CommandList)
                prompts = [
                    str(found.get_option_at_index(n).prompt) for n in range(found.option_count)
                ]
                assert any(word in p.split("\n")[0] for p in prompts), (word, prompts)
                assert not any("slash" in p or "question_mark" in p for p in prompts), prompts

    asyncio.run(go())


def test_weight_has_no_key_but_the_palette_starts_it_with_its_question() -> None:
    async def go() -> None:
        app, _ = console_app()
        app.monitor = object()  # type: ignore[assignment]  # any live site: only the prompt is tested
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            weight = next(a for a in catalog.ACTIONS if a.name == "weight")
            command = next(
                c for c in app.get_system_commands(app.screen) if c.title.startswith("weight")
            )
            command.callback()
            await pilot.pause(0.05)
            assert isinstance(app.screen, PromptScreen)
            assert "weight" in app.screen.questions[0][0].lower()
            assert weight.key is not None and weight.key.key == ""

    asyncio.run(go())


def test_help_scrolls_with_pagedown_and_the_arrows_without_a_tab() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            await pilot.press("question_mark")
            await pilot.pause(0.05)
            assert isinstance(app.screen, HelpScreen)
            body = app.screen.query_one("#help", VerticalScroll)
            assert body.max_scroll_y > 0 and body.scroll_y == 0
            await pilot.press("pagedown")
            await pilot.pause(0.1)
            paged = body.scroll_y
            assert paged > 0
            await pilot.press("down")
            await pilot.pause(0.1)
            assert body.scroll_y > paged

    asyncio.run(go())


def _live(app: RecordingApp) -> list[Any]:
    """Make the app believe it has a live site; the requests it would plan land in the list."""
    app.monitor = object()  # type: ignore[assignment]
    planned: list[Any] = []
    app._plan = planned.append  # type: ignore[method-assign,assignment]
    return planned


def test_o_asks_the_message_and_the_end_time_with_the_defaults_typed_in() -> None:
    async def go() -> None:
        app, _ = console_app()
        planned = _live(app)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            await pilot.press("o")
            await pilot.pause(0.05)
            assert isinstance(app.screen, PromptScreen)
            fields = list(app.screen.query(Input))
            assert [f.value for f in fields] == [catalog.READ_ONLY_MESSAGE, ""]
            assert app.focused is fields[0]
            await pilot.press("down", *"45m", "enter")
            await pilot.pause(0.05)
            (request,) = planned
            assert request.action == "read-only on"
            assert f"--message '{catalog.READ_ONLY_MESSAGE}'" in request.command
            assert "--until 45m" in request.command

    asyncio.run(go())


def test_the_catalogues_default_messages_are_the_pages_own() -> None:
    from console.actions.site import modes

    assert catalog.READ_ONLY_MESSAGE == modes.READ_ONLY_MESSAGE
    assert catalog.MAINTENANCE_MESSAGE == modes.MAINTENANCE_MESSAGE


def _record(event: str, run: str, action: str, target: str, at: str, **more: Any) -> str:
    who = {"user": "ana", "ssh_client": "10.0.0.7", "tty": None}
    head = {"event": event, "run": run, "action": action, "target": target}
    return json.dumps({**head, "time": at, "operator": who, **more})


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    lines = [
        _record("intent", "r1", "drain", "web2", "2026-12-01T10:00:00+0000"),
        _record("step", "r1", "drain", "web2", "2026-12-01T10:00:01+0000"),
        _record("outcome", "r1", "drain", "web2", "2026-12-01T10:00:05+0000", outcome="done"),
        _record("intent", "r2", "promote", "db2", "2026-12-02T11:00:00+0000"),
        _record("step", "r2", "promote", "db2", "2026-12-02T11:00:02+0000"),
        "not json",
        _record("intent", "r3", "read-only on", "the site", "2026-12-03T12:00:00+0000"),
        _record(
            "outcome",
            "r3",
            "read-only on",
            "the site",
            "2026-12-03T12:00:09+0000",
            outcome="failed",
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return path


def test_u_lists_the_audit_newest_first_with_an_interrupted_run_marked(audit_file: Path) -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            await pilot.press("u")
            await pilot.pause(0.05)
            assert isinstance(app.screen, AuditScreen)
            text = str(app.screen.query_one("#audit-runs").render())
            lines = [line for line in text.splitlines() if line.startswith("2026-")]
            assert len(lines) == 3, text
            assert "read-only on the site" in lines[0] and "FAILED" in lines[0]
            assert "promote db2" in lines[1] and "INTERRUPTED" in lines[1]
            assert "drain web2" in lines[2] and lines[2].rstrip().endswith("done")
            assert "ana@10.0.0.7" in lines[2] and lines[2].startswith("2026-12-01 10:00:00")
            await pilot.press("escape")
            assert not isinstance(app.screen, AuditScreen)

    asyncio.run(go())


def test_the_plan_scrolls_with_the_arrows_while_the_name_field_has_the_focus() -> None:
    async def go() -> None:
        from console.actions.plan import Plan

        async def never(typed: str | None, say: Any) -> Any:
            raise AssertionError("not meant to run")

        app, _ = console_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            plan = Plan(
                "promote", "db2", "\n".join(f"line {n}" for n in range(60)), (), confirm="db2"
            )
            app.push_screen(ActionScreen(plan, never))
            await pilot.pause(0.05)
            body = app.screen.query_one("#action-plan", VerticalScroll)
            assert isinstance(app.focused, Input) and body.max_scroll_y > 0
            await pilot.press("down", "down")
            await pilot.pause(0.1)
            assert body.scroll_y == 2

    asyncio.run(go())


def test_box_details_scroll_with_pagedown_without_a_tab() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            await pilot.press("enter")
            await pilot.pause(0.05)
            body = app.screen.query_one(VerticalScroll)
            assert body.max_scroll_y > 0 and body.scroll_y == 0
            await pilot.press("pagedown")
            await pilot.pause(0.1)
            assert body.scroll_y > 0

    asyncio.run(go())
