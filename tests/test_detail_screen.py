"""The box details screen reads like the console: clock times, ages, words, no Python reprs."""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from console.events import Event
from console.inventory import Inventory
from console.state.model import ClusterState, LogFile, Slot
from console.state.patroni import PatroniMember, PatroniView
from screens import detail
from screens.detail import BoxScreen, describe
from tests.support.console_parts import console_app
from tests.support.verdict_parts import INV, box, cluster_state, db, node

HOSTILE = "[/]ev[bold]il\x1b[31m\x1b]0;pwned\x07"
CLOCK = re.compile(r"\b\d\d:\d\d:\d\d \((now|[\d.]+[smh] ago)\)")
# What a repr of a bool, None, a string, a tuple or a dataclass looks like.
REPRS = re.compile(r"\b(True|False|None)\b|'|\(\d+\.\d+,|\w+\(\w+=")


def _run(test: object) -> None:
    asyncio.run(test)  # type: ignore[arg-type]


async def _details(keys: Sequence[str], *states: ClusterState, events: Sequence[Event] = ()) -> str:
    """The details text after pressing KEYS on the console fed STATES."""
    app, _ = console_app(*states)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.05)
        app.record(events)
        await pilot.press(*keys)
        await pilot.pause(0.05)
        assert isinstance(app.screen, BoxScreen)
        app.export_screenshot()  # really drawn: markup would have raised by now
        return str(app.screen.query_one("#facts").render())


def _no_reprs(text: str) -> None:
    """No Python repr in the facts (the footer's "node's" is English, not a repr)."""
    shown = text.split("\nrecent events\n", 1)[0]
    assert REPRS.search(shown) is None, shown


def _value(text: str, label: str) -> str:
    """The value on the first line whose label is LABEL."""
    found = re.search(rf"^ *{label} +(.*)$", text, re.MULTILINE)
    assert found, f"no {label} in:\n{text}"
    return found[1]


def test_a_standbys_details_have_clock_times_ages_and_words() -> None:
    boxes = tuple(box(b.name, age=12.0) if b.name == "db2" else box(b.name) for b in INV.boxes)
    text = asyncio.run(_details(["tab", "tab", "down", "enter"], cluster_state(boxes=boxes)))
    assert text.startswith("box db2   snapshot 00:01:40 (now)   data 12s")
    assert _value(text, "last_ok") == "00:01:28 (12s ago)"
    assert _value(text, "observed_at") == "00:01:40 (now)"
    assert _value(text, "connected") == "yes"
    assert _value(text, "stale") == "no"
    assert _value(text, "reason") == "none"
    assert _value(text, "replay_paused") == "no"
    assert _value(text, "current_lsn") == "—"
    assert _value(text, "receiver_status") == "streaming"
    _no_reprs(text)
    assert not re.search(r"(?<![\d.])\d{2,}\.\d+(?=\s|$)", text, re.M), "an epoch float shown"


def test_a_primarys_nested_records_are_indented_facts() -> None:
    slot = Slot("db2_slot", False, "0/3", 3 * 1024 * 1024)
    state = cluster_state(databases=(db("db1", slots=(slot,)), db("db2", role="standby")))
    text = asyncio.run(_details(["tab", "tab", "enter"], state))
    assert "  standbys\n    db2\n      client_addr" in text
    assert _value(text, "lag_bytes") == "0B"
    assert "      replay_lag_s        1ms\n" in text
    assert "  slots\n    db2_slot\n      active              inactive\n" in text
    assert _value(text, "retained_bytes") == "3.0MB"
    assert "  archiver\n    archived_count        3\n" in text
    assert _value(text, "last_archived_time") == "00:01:30 (10s ago)"
    _no_reprs(text)


def test_a_web_nodes_details_show_sizes_load_and_its_balancer_server() -> None:
    text = asyncio.run(_details(["enter"], cluster_state()))
    assert text.startswith("box web1 ")
    assert _value(text, "scheduler") == "★ yes"
    assert _value(text, "load") == "0.10 0.10 0.10  (1, 5, 15 min)"
    assert _value(text, "mem_total_kb") == "1000.0kB"
    assert _value(text, "disk_used_pct") == "10%"
    assert "  access_logs\n    /var/log/site/access.hot.web1.log\n      age_s" in text
    assert _value(text, "size") == "100B"
    assert "balancer server web1 (as lb1 sees it)" in text
    assert _value(text, "last_change_s") == "60s"
    _no_reprs(text)


def test_events_about_the_box_show_with_their_time() -> None:
    events = [
        Event(70.0, "web1", "went DOWN", "critical"),
        Event(80.0, "web10", "not this box's"),
        Event(88.0, "web1, web2", "an alarm naming both"),
    ]
    text = asyncio.run(_details(["enter"], cluster_state(), events=events))
    after = text.split("recent events\n", 1)[1]
    assert "  00:01:10 (30s ago)  web1: went DOWN\n" in after
    assert "  00:01:28 (12s ago)  web1, web2: an alarm naming both\n" in after
    assert "not this box's" not in after


def test_hostile_names_and_escapes_show_as_text() -> None:
    logs = (LogFile(f"/var/log/{HOSTILE}", 1.0, 10),)
    hostile = replace(node("web1", role_problem=HOSTILE, access_logs=logs), name=HOSTILE)
    nodes = (hostile, node("web2"), node("web3"))
    boxes = tuple(
        box(b.name, stale=True, age=31.0, reason=HOSTILE) if b.name == "web1" else box(b.name)
        for b in INV.boxes
    )
    events = [Event(99.0, HOSTILE, HOSTILE, "warning")]
    text = asyncio.run(_details(["enter"], cluster_state(nodes=nodes, boxes=boxes), events=events))
    assert "\x1b" not in text and "\x07" not in text and "pwned" not in text
    assert "web node [/]ev[bold]il\n" in text
    assert _value(text, "role_problem") == "[/]ev[bold]il"
    assert _value(text, "reason") == "[/]ev[bold]il"
    assert _value(text, "stale") == "STALE"
    assert "/var/log/[/]ev[bold]il\n" in text
    assert "[/]ev[bold]il: [/]ev[bold]il\n" in text.split("recent events\n", 1)[1]
    assert "data STALE 31s" in text


def test_a_hostile_box_name_opens_safely() -> None:
    async def go() -> None:
        app, _ = console_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            await app.push_screen(BoxScreen(HOSTILE, app))
            await pilot.pause(0.05)
            app.export_screenshot()
            facts = str(app.screen.query_one("#facts").render())
            assert facts.startswith("box [/]ev[bold]il   snapshot")
            assert "\x1b" not in facts

    _run(go())


@dataclass
class Source:
    """Not the app: anything with these four attributes feeds the screen."""

    state: ClusterState | None
    inv: Inventory = INV
    events: list[Event] = field(default_factory=list)
    clock: Callable[[], float] = lambda: 100.0


def test_the_balancer_box_shows_its_servers_and_flags_nested() -> None:
    text = str(describe(Source(cluster_state()), "lb1"))
    assert "\nbalancer\n  observed_at             00:01:40 (now)\n  frontend " in text
    assert "  servers\n    web1\n      admin               ready\n" in text
    assert "  flags\n    mode                  normal\n    message               none\n" in text
    _no_reprs(text)


def test_a_patroni_member_is_shown_with_its_database() -> None:
    member = PatroniMember("db1", "leader", "running", "10.0.0.5", 5432, 1, None)
    state = replace(cluster_state(), patroni=PatroniView((member,), False, None, 100.0))
    text = str(describe(Source(state), "db1"))
    assert "\npatroni member db1\n  role                    leader\n" in text
    assert _value(text, "nofailover") == "no"


def test_before_the_first_snapshot_it_says_so() -> None:
    assert str(describe(Source(None), "db1")) == "box db1\n\nno data yet\n"


def test_old_times_carry_their_date_and_a_clock_ahead_says_so() -> None:
    standby = cluster_state().databases[1]
    ahead = replace(standby, last_replayed_commit=3 * 86400.0 + 3.0)
    state = cluster_state(databases=(cluster_state().databases[0], ahead))
    text = str(describe(Source(state, clock=lambda: 3 * 86400.0), "db2"))
    assert _value(text, "observed_at") == "1970-01-01 00:01:40 (72h ago)"
    assert _value(text, "last_replayed_commit") == ("00:00:03 (3.0s ahead of this machine's clock)")


def test_the_detail_screen_does_not_import_the_app() -> None:
    """Not even under TYPE_CHECKING: screens.app imports screens.detail."""
    tree = ast.parse(Path(detail.__file__).read_text())
    imported: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module:
            imported.add(n.module)
        elif isinstance(n, ast.Import):
            imported.update(a.name for a in n.names)
    assert "screens.app" not in imported and "screens" not in imported


def test_details_at_80x24(snap_compare: Any) -> None:
    app, _ = console_app()

    async def open_db2(pilot: Any) -> None:
        await pilot.pause(0.2)
        await pilot.press("tab", "tab", "down", "enter")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_db2)
