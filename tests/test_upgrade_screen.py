"""Issue 15, the console: the upgrade screen's rows, the banner, the release column, its keys."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from textual.geometry import Region
from textual.widgets import Static

from console.state.balancer import SiteFlags
from console.state.model import ClusterState
from console.state.runbook import Mark, Runbook, Stage
from screens import rows
from screens.action import ActionScreen
from screens.help import help_text
from screens.panels import Banner, KeyBar, NodesPanel
from screens.prompt import PromptScreen
from screens.sides import Window, read_only_window, sides_text, span
from screens.upgrade import UpgradeScreen
from screens.upgradeview import WIDTH, node_rows, stage_lines, stage_of, upgrade_text
from tests.support.console_parts import console_app
from tests.support.verdict_parts import INV, balancer, cluster_state, db, node, server

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


# The A/B rollover: web1 and web2 are A (backend site, on db1), web3 is B (site_b, on db2).
AB = {
    "a": ["web1", "web2"],
    "b": ["web3"],
    "a_db": "db1",
    "b_db": "db2",
    "a_backend": "site",
    "b_backend": "site_b",
    "release": "v2",
    "a_scheduler": "web1",
}
FLAGS = "Switch the site flags on the balancer"


def _ab_stage(kind: str, status: str = "done", *marks: Mark) -> Stage:
    return Stage(kind, f"the {kind} stage", AB, status, marks, len(marks))  # type: ignore[arg-type]


def ab_runbook(gate: bool = False, kind: str = "ab") -> Runbook:
    """A read-only at 17 s; web3 moved and tested; at the gate, B took writes at 80 s."""
    read_only = _ab_stage(
        "read-only",
        "done",
        Mark(FLAGS, True, "HAProxy's map has mode read-only", 17.0),
        Mark("Save the site flags for a reload", True, "saved", 18.0),
    )
    switched = Mark(FLAGS, True, "HAProxy's map has mode normal", 80.0)
    stages = (
        read_only,
        _ab_stage("detach", "done", Mark("Promote db2", True, "db2 is on timeline 2", 30.0)),
        Stage("node", "web3 to v2 (B, out)", {"node": "web3", "release": "v2"}, "done"),
        _ab_stage("test"),
        _ab_stage("switch", "done", switched) if gate else _ab_stage("switch", "pending"),
        Stage("gate", "rollback open", {"says": "B is live"}, "pending"),
    )
    return Runbook(
        id="ab1",
        kind=kind,
        release="v2",
        title="A/B rollover to v2",
        command="hotspare upgrade ab --release v2 --b web3",
        who="ana@10.0.0.7",
        since=10.0,
        updated=80.0,
        state="running",
        stages=stages,
        before={n: {"release": "v1", "in": n != "web3"} for n in ("web1", "web2", "web3")},
    )


def ab_state(gate: bool = False) -> ClusterState:
    """A live and read-only, B detached on db2 (its own timeline); at the gate, B live."""
    a_pin, b_pin = "10.0.0.5:5432", "10.0.0.6:5432"
    a_role = "warm" if gate else "hot"
    nodes = (
        node("web1", role=a_role, read_only=True, release="v1", database=a_pin),
        node("web2", role=a_role, read_only=True, release="v1", database=a_pin),
        node("web3", role="hot" if gate else "warm", release="v2", database=b_pin),
    )
    lb = balancer(
        server("web1"),
        server("web2"),
        replace(server("web3"), backend="site_b"),
        flags=SiteFlags("normal" if gate else "read-only", "back soon", None),
    )
    databases = (
        db("db1", read_only_default=True, current_lsn="0/3000060", standbys=()),
        db("db2", timeline=2, current_lsn="0/3000100" if gate else "0/30000D8", standbys=()),
    )
    state = cluster_state(
        nodes=nodes, balancer=replace(lb, live="site_b" if gate else "site"), databases=databases
    )
    return replace(state, runbook=ab_runbook(gate))


def _halves(text: str) -> tuple[list[str], list[str]]:
    """The A panel's lines and the B panel's, from the sides' text."""
    split = [line.partition(" │") for line in text.splitlines() if " │" in line]
    return [a.rstrip() for a, _, _ in split], [b[1:] for _, _, b in split if b]


def test_a_live_and_read_only_b_detached_on_its_own_database() -> None:
    state = ab_state()
    a, b = _halves(sides_text(INV, state, ab_runbook(), 100.0).plain)
    assert a[0] == "A site  LIVE, read-only"
    assert a[1].split() == ["web1", "hot", "v1", "read-only"]
    assert a[2].split() == ["web2", "hot", "v1", "read-only"]
    assert a[3:] == [" pinned to db1", "  db1 primary, timeline 1", "  at 0/3000060, read-only"]
    assert b[0] == "B site_b  not live"
    assert b[1].split() == ["web3", "warm", "v2", "writable"]
    assert b[2:5] == [" pinned to db2", "  db2 primary, timeline 2", "  at 0/30000D8, writable"]
    said = upgrade_text(state, INV, 100.0, observer=False).plain
    assert "read-only for 1m23s, since 00:00:17" in said  # the flags switched at 17 s
    assert said.index("A site  LIVE") < said.index("node   release") < said.index("stages")


def test_b_live_at_the_gate_the_rollback_open() -> None:
    state = ab_state(gate=True)
    said = upgrade_text(state, INV, 100.0, observer=False).plain
    assert said.startswith(" A/B: B live, rollback open ")
    a, b = _halves(said)
    assert a[0] == "A site  not live" and a[1].split() == ["web1", "warm", "v1", "read-only"]
    assert a[3:] == [" pinned to db1", "  db1 primary, timeline 1", "  at 0/3000060, read-only"]
    assert b[0] == "B site_b  LIVE, writable" and b[1].split()[:2] == ["web3", "hot"]
    assert b[4] == "  at 0/3000100, writable"
    assert "was read-only for 1m03s (00:00:17 to 00:01:20), writes back" in said


def test_a_side_on_a_standby_or_following_the_primary_says_so() -> None:
    state = ab_state()
    unpinned = tuple(replace(n, database="") for n in state.nodes)
    standby = db("db2", role="standby", replay_lsn="0/3000050")
    state = replace(state, nodes=unpinned, databases=(state.databases[0], standby))
    a, b = _halves(sides_text(INV, state, ab_runbook(), 100.0).plain)
    assert a[3:5] == [" follows the primary", "  db1 primary, timeline 1"]
    assert b[2:5] == [
        " follows the primary",
        "  db1 primary, timeline 1",
        "  at 0/3000060, read-only",
    ]
    pinned = replace(state, nodes=tuple(replace(n, database="10.0.0.6:5432") for n in unpinned))
    _, b = _halves(sides_text(INV, pinned, ab_runbook(), 100.0).plain)
    assert b[3:5] == ["  db2 standby, timeline 1", "  replayed 0/3000050, read-only"]


def test_the_read_only_window_runs_from_the_flags_switch_to_their_return() -> None:
    book = ab_runbook()
    assert read_only_window(book) == Window(17.0, None)
    assert read_only_window(ab_runbook(gate=True)) == Window(17.0, 80.0)
    assert Window(17.0, None).seconds(100.0) == 83.0 and Window(17.0, 80.0).seconds(500.0) == 63.0
    # No mark says the flags switched yet: the stage's first mark is the start.
    ro = replace(book.stages[0], status="running", marks=(Mark("Tell web1", True, "told", 15.0),))
    assert read_only_window(replace(book, stages=(ro, *book.stages[1:]))) == Window(15.0, None)
    # Not begun: no window; a rollback from before B went live: read-only since before it.
    fresh = replace(book.stages[0], status="pending", marks=())
    assert read_only_window(replace(book, stages=(fresh,))) is None
    back = replace(book, kind="ab-rollback", since=40.0, stages=(fresh,))
    assert read_only_window(back) == Window(40.0, None, before=True)
    assert [span(s) for s in (0, 9.7, 83, 3600 + 5 * 60 + 9)] == ["0s", "9s", "1m23s", "1h05m09s"]


def test_without_an_ab_runbook_the_screen_has_no_sides() -> None:
    said = upgrade_text(upgrading("halted"), INV, 100.0, observer=False).plain
    assert " │" not in said and "LIVE" not in said and "read-only for" not in said


def _shown_lines(app: Any) -> list[str]:
    """The upgrade screen's text as drawn in its window, line by line."""
    widget = app.screen.query_one("#upgrade-text", Static)
    region = Region(0, 0, widget.size.width, widget.size.height)
    return [strip.text.rstrip() for strip in widget.render_lines(region)]


def test_the_sides_fit_80x24_every_word_whole() -> None:
    async def go() -> None:
        for state in (ab_state(), ab_state(gate=True)):
            app, _ = console_app(state)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause(0.1)
                await pilot.press("U")
                await pilot.pause(0.1)
                text = _upgrade_text(app)
                width = app.screen.query_one("#upgrade-text", Static).size.width
                assert all(len(line) <= width for line in text.splitlines()), width
                shown = "\n".join(_shown_lines(app)[:16])  # no scrolling needed to see them
                assert "…" not in shown, shown
                for word in ("LIVE", "not live", "read-only", "writable", "pinned to db2"):
                    assert word in shown, (word, shown)
                assert "read-only for 1m23s" in shown or "was read-only for 1m03s" in shown

    _run(go())


def test_the_ab_upgrade_screen_at_80x24(snap_compare: Any) -> None:
    app, _ = console_app(ab_state())

    async def opened(pilot: Any) -> None:
        await pilot.pause(0.2)
        await pilot.press("U")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=opened)
