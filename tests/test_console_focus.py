"""Focus and input under pressure: what is typed in one screen never reaches another.

An operator who types a member's name to confirm a switchover, or a search
in the logs, and comes back to find the balancer and node tables empty,
thinks the site is gone. Only the main screen's own filter field filters
the tables; an active filter says so in each panel's title, and Escape
clears it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from console.actions.plan import Plan
from screens.action import ActionScreen
from screens.panels import BalancerPanel, NodesPanel, Panel, ReplicasPanel
from screens.prompt import PromptScreen
from tests.support.console_parts import console_app


def _counts(app: Any) -> tuple[int, int, int]:
    return (
        app.query_one(BalancerPanel).row_count,
        app.query_one(NodesPanel).row_count,
        app.query_one(ReplicasPanel).row_count,
    )


async def _never_run(typed: str | None, say: Any) -> Any:
    raise AssertionError("the plan was not meant to run")


def test_a_name_typed_in_a_plan_and_a_prompt_never_filters_the_tables() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            assert _counts(app) == (3, 3, 2)
            plan = Plan("promote", "db2", "switch over", (), confirm="db2")
            app.push_screen(ActionScreen(plan, _never_run))
            await pilot.pause(0.05)
            await pilot.press(*"db2")
            await pilot.press("escape")
            app.push_screen(PromptScreen("Back at what time?"))
            await pilot.pause(0.05)
            await pilot.press(*"web1", "escape")
            await pilot.pause(0.05)
            assert len(app.screen_stack) == 1
            assert _counts(app) == (3, 3, 2), "typed text reached the main screen's filter"
            assert all("filter" not in str(p.border_title) for p in app.query(Panel))

    asyncio.run(go())


def test_an_active_filter_is_in_every_title_says_when_it_hides_all_and_escape_clears_it() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            await pilot.press("slash", *"db")
            await pilot.pause(0.05)
            assert _counts(app) == (0, 0, 2)
            replicas = str(app.query_one(ReplicasPanel).border_title)
            balancer = str(app.query_one(BalancerPanel).border_title)
            assert replicas.endswith("filter: db")
            assert balancer.endswith("filter: db (none of 3 match; escape clears)")
            await pilot.press("escape")
            await pilot.pause(0.05)
            assert _counts(app) == (3, 3, 2)
            assert all("filter" not in str(p.border_title) for p in app.query(Panel))

    asyncio.run(go())


def test_keys_typed_ahead_of_a_prompt_go_to_it_or_nowhere_never_to_the_screen_behind() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            main = app.screen
            app.push_screen(PromptScreen("Back at what time?"))
            # Before the prompt's field has the focus, a key falls to the app's bindings:
            # the main screen's own ones are off while anything is open above it.
            assert [app.check_action(a, ()) for a in ("filter", "details")] == [False, False]
            await pilot.press("slash", *"45m")
            await pilot.pause(0.05)
            assert isinstance(app.screen, PromptScreen)
            filter_field = main.query_one("#filter")
            assert filter_field.disabled and not filter_field.has_class("-shown")
            await pilot.press("escape")
            await pilot.pause(0.05)
            assert _counts(app) == (3, 3, 2)

    asyncio.run(go())
