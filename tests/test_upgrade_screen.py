"""Issue 15, the console: the upgrade screen's rows, the banner, the release column, its keys."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from textual.widgets import Static

from console.state.model import ClusterState
from console.state.runbook import Mark, Runbook, Stage
from screens import rows
from screens.action import ActionScreen
from screens.help import help_text
from screens.panels import Banner, KeyBar, NodesPanel
from screens.prompt import PromptScreen
from screens.upgrade import UpgradeScreen
from screens.upgradeview import WIDTH, node_rows, stage_lines, stage_of, upgrade_text
from tests.support.console_parts import console_app
from tests.support.verdict_parts import INV, balancer, cluster_state, node, server

LONG = "web3's health URL answers 500: release v3-broken fails its health check on purpose"


def _stage(name: str, status: str, marks: tuple[Mark, ...] = (), steps: int = 0) -> Stage:
    return Stage(
        "node",
        f"{name} to v2",
        {"node": name, "release": "v2"},
        status,  # type: ignore[arg-type]
        marks,
        steps,
    )


def runbook(state: str = "running", **changes: Any) -> Runbook:
    """web1 done, web2 failed at its restart (or running), web3 pending: an upgrade to v2."""
    ok = Mark("Drain web2 in HAProxy", True, "web2 is DRAIN", 90.0)
    bad = Mark("Restart web2 on v2", False, LONG, 95.0)
    second = "failed" if state == "halted" else "running"
    made = Runbook(
        id="r1",
        kind="rolling",
        release="v2",
        title="rolling upgrade to v2",
        command="hotspare upgrade rolling --release v2",
        who="ana@10.0.0.7",
        since=80.0,
        updated=95.0,
        state=state,  # type: ignore[arg-type]
        stages=(
            _stage("web1", "done", (ok,) * 7, 7),
            _stage("web2", second, (ok, bad) if state == "halted" else (ok,), 7),
            _stage("web3", "pending"),
        ),
        before={n: {"release": "v1", "in": True} for n in ("web1", "web2", "web3")},
        problem="web2 to v2: step 2 failed" if state == "halted" else "",
    )
    return replace(made, **changes)


def upgrading(state: str = "running", **changes: Any) -> ClusterState:
    """The test site mid-upgrade: web1 on v2, web2 switched to v2 but still running v1."""
    nodes = (
        node("web1", release="v2", selected_release="v2"),
        node("web2", release="v1", selected_release="v2"),
        node("web3", release="v1", selected_release="v1"),
    )
    lb = balancer(
        replace(server("web1"), sessions=4, http_5xx=2),
        server("web2", "maint", "MAINT"),
        server("web3"),
    )
    return replace(cluster_state(nodes=nodes, balancer=lb), runbook=runbook(state, **changes))


def _plain(cells: rows.Cells) -> list[str]:
    return [c.plain for c in cells]


def test_a_nodes_release_is_the_running_one_or_running_then_selected() -> None:
    assert rows.release(node("web1", release="v2", selected_release="v2")) == ("v2", "")
    assert rows.release(node("web1", release="v1", selected_release="v2"))[0] == "v1→v2"
    assert rows.release(node("web1", release=None, selected_release="v2"))[0] == "?→v2"
    assert rows.release(node("web1", release="v1"))[0] == "v1"
    assert rows.release(node("web1"))[0] == "-"  # cluster.yaml declares neither


def test_the_node_panel_shows_mixed_releases_at_a_glance() -> None:
    cells = {n.name: _plain(rows.node_row(n, None)) for n in upgrading().nodes}
    column = rows.NODE_COLUMNS.index("release")
    assert [cells[n][column] for n in ("web1", "web2", "web3")] == ["v2", "v1→v2", "v1"]


def test_each_nodes_row_names_its_stage_its_last_step_sessions_and_5xx() -> None:
    web1, web2, web3 = (_plain(r) for r in node_rows(upgrading("halted"), INV))
    assert web1[:3] == ["web1", "v2", "1 done"] and web1[5:] == ["4", "2"]
    assert web2[:3] == ["web2", "v1→v2", "2 FAILED"]
    assert web2[3] == "✗ Restart web2 on v2"
    assert web3[:4] == ["web3", "v1", "3 pending", "-"]
    for line in (web1, web2, web3):
        assert sum(len(c) for c in line) + len(line) - 1 <= WIDTH


def test_the_stage_of_a_node_is_the_running_one_before_the_next_before_the_last() -> None:
    book = runbook()
    out = Stage("out", "web2 back out", {"node": "web2"})
    book = replace(book, stages=(*book.stages, out))
    assert stage_of(book, "web2") == (2, book.stages[1])  # running, not the pending "out"
    assert stage_of(book, "web3") == (3, book.stages[2])
    assert stage_of(book, "web9") is None and stage_of(None, "web1") is None


def test_done_stages_are_counted_the_failed_one_shows_every_step() -> None:
    text = stage_lines(runbook("halted")).plain
    assert "✓ 1. web1 to v2  done, 7 steps" in text
    assert "✗ 2. web2 to v2  FAILED at step 2 of 7" in text
    assert "✓ Drain web2 in HAProxy: web2 is DRAIN" in text
    assert "✗ Restart web2 on v2: web3's health URL" in text
    assert "• 3. web3 to v2  pending" in text
    assert all(len(line) <= WIDTH for line in text.splitlines())


def test_the_screen_says_who_started_it_and_the_ways_on_only_to_an_operator() -> None:
    state = upgrading("halted")
    said = upgrade_text(state, INV, 100.0, observer=False).plain
    assert said.startswith(" UPGRADE 2/3 on v2 HALTED ")
    assert "rolling upgrade to v2: halted; at web2 to v2" in said
    assert "by ana@10.0.0.7: hotspare upgrade rolling --release v2" in said
    assert "ways on: r resumes, b rolls back" in said
    assert "ways on" not in upgrade_text(state, INV, 100.0, observer=True).plain
    none = upgrade_text(cluster_state(), INV, 100.0, observer=False).plain
    assert none.startswith("No upgrade has been run") and "n starts" in none


def test_the_banner_says_the_upgrade_while_it_is_open_and_fits_80_columns() -> None:
    for observer in (False, True):
        shown = rows.banner(upgrading("halted"), observer, 78)
        assert "UPGRADE 2/3 on v2 HALTED" in shown.plain
        assert shown.cell_len <= 78, shown.plain
    assert "UPGRADE 2/3 on v2 " in rows.banner(upgrading(), False, 78).plain
    done = upgrading(state="done")
    assert "UPGRADE" not in rows.banner(done, False, 78).plain


def test_a_full_banner_says_the_alarms_severity_alone_never_a_stump() -> None:
    state = upgrading("halted", release="v3-broken")
    sick = cluster_state(nodes=(node("web1", scheduler=False), node("web2", health_status=500)))
    assert len(sick.alarms) == 2
    shown = rows.banner(replace(state, alarms=sick.alarms), True, 78).plain
    assert "UPGRADE 2/3 on v3-broken HALTED" in shown
    assert shown.rstrip().endswith("✗ CRITICAL"), shown  # `a` lists both
    assert len(shown) <= 78


def test_the_palette_opens_the_upgrade_screen() -> None:
    async def go() -> None:
        app, _ = console_app(upgrading())
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            (command,) = [
                c for c in app.get_system_commands(app.screen) if "upgrade screen" in c.title
            ]
            assert command.help == "key U"
            await command.callback()
            await pilot.pause(0.1)
            assert isinstance(app.screen, UpgradeScreen)

    _run(go())


def test_help_lists_the_upgrade_screens_keys_struck_for_an_observer() -> None:
    def struck(observer: bool) -> bool:
        text = help_text(observer)
        at = text.plain.index("Ask the running upgrade to pause")
        return any("strike" in str(s.style) for s in text.spans if s.start <= at < s.end)

    assert "Upgrade screen (U)" in help_text(False).plain
    assert struck(True) and not struck(False)


def _run(test: Any) -> None:
    asyncio.run(test)


def _upgrade_text(app: Any) -> str:
    return str(app.screen.query_one("#upgrade-text", Static).render())


def test_U_opens_the_screen_and_it_repaints_from_each_new_snapshot() -> None:
    async def go() -> None:
        app, feed = console_app(upgrading())
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            assert app.query_one(NodesPanel).get_cell("web2", "release").plain == "v1→v2"
            await pilot.press("U")
            await pilot.pause(0.1)
            assert isinstance(app.screen, UpgradeScreen)
            assert "2 running" in _upgrade_text(app)
            await pilot.press("U")  # again: still one upgrade screen
            await pilot.pause(0.05)
            assert sum(isinstance(s, UpgradeScreen) for s in app.screen_stack) == 1
            feed.push(replace(upgrading("halted"), taken_at=102.0))
            await pilot.pause(0.2)
            assert "2 FAILED" in _upgrade_text(app)
            bar = app.screen.query_one(KeyBar).render().plain
            assert "p  pause" in bar and "b  rollback" in bar and "n  new" in bar
            await pilot.press("escape")
            await pilot.pause(0.05)
            assert not isinstance(app.screen, UpgradeScreen)
            banner = str(app.query_one(Banner).render())
            assert "UPGRADE 2/3 on v2 HALTED" in banner

    _run(go())


def test_an_observer_has_no_upgrade_key() -> None:
    async def go() -> None:
        app, _ = console_app(upgrading("halted"), observer=True)
        app.monitor = object()  # type: ignore[assignment]  # a live site: keys would reach it
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            await pilot.press("U")
            await pilot.pause(0.1)
            screen = app.screen
            assert isinstance(screen, UpgradeScreen)
            upgrade: UpgradeScreen = screen
            assert screen.query_one(KeyBar).render().plain.strip() == "esc  back"
            for key in "prbn":
                await pilot.press(key)
                await pilot.pause(0.05)
                assert app.screen is upgrade and not upgrade.asking, key
            assert not any(isinstance(s, ActionScreen | PromptScreen) for s in app.screen_stack)

    _run(go())


def test_n_asks_the_release_then_plans_it() -> None:
    async def go() -> None:
        app, _ = console_app()
        app.monitor = object()  # type: ignore[assignment]
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            await pilot.press("U")
            await pilot.pause(0.1)
            screen = app.screen
            assert isinstance(screen, UpgradeScreen)
            asked: list[tuple[Any, ...]] = []
            screen._propose = lambda *args: asked.append(args)  # type: ignore[method-assign]
            await pilot.press("n")
            await pilot.pause(0.05)
            assert isinstance(app.screen, PromptScreen)
            await pilot.press(*"v2", "down", *"web3", "down", "0", "enter")
            await pilot.pause(0.05)
            assert asked == [("rolling", "v2", ["web3"], 0.0)]

    _run(go())


def test_the_upgrade_screen_at_80x24(snap_compare: Any) -> None:
    app, _ = console_app(upgrading("halted"))

    async def opened(pilot: Any) -> None:
        await pilot.pause(0.2)
        await pilot.press("U")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=opened)
