"""Issue 16, the console: the A/B rollover on the upgrade screen, its two sides and the
read-only window."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.geometry import Region
from textual.widgets import Static

from console.state.balancer import SiteFlags
from console.state.model import ClusterState
from console.state.runbook import Mark, Runbook, Stage
from screens.sides import Window, read_only_window, sides_text, span
from screens.upgradeview import upgrade_text
from tests.support.console_parts import console_app
from tests.support.verdict_parts import INV, balancer, cluster_state, db, node, server
from tests.test_upgrade_screen import _run, _upgrade_text, upgrading

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
