"""The cluster's action lock: where it lives, what its file says, when its holder is gone.

Pure parsing and judgement here; taking it between two real processes is in
tests/test_races.py and tests/test_interrupted.py, against the lab.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace

import pytest

from console.actions import catalog, lock
from console.actions.plan import Plan
from console.actions.request import Request, ways_out
from console.probes import lock as found
from console.state.verdicts import action_alarms
from tests.support import verdict_parts as parts

INV = parts.INV


def _file(record: dict[str, object], age: int = 2, run: str = "abc123") -> str:
    now = 1_800_000_000
    return f"{now}\n{now - age}\n{found.MAGIC} {run}\n{json.dumps(record)}\n"


def _record(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "who": "ana@jump1",
        "host": "jump1.example",
        "pid": 4242,
        "pid_start": "99",
        "action": "promote",
        "target": "db2",
        "command": "hotspare promote db2 --rejoin",
        "step": 6,
        "steps": 18,
        "title": "Stop db1",
        "since": 1_799_999_000,
        "next": [{"command": "hotspare promote db2 --rejoin", "does": "finishes it"}],
        "memo": {"old": "db1", "guard": True},
    }
    return base | changes


def test_the_lock_is_beside_the_flags_map_on_the_balancer() -> None:
    inv = replace(INV, balancer=replace(INV.balancer, flags_map="/etc/haproxy/site-flags.map"))  # type: ignore[type-var]
    assert found.where(inv) == ("lb1", "/etc/haproxy/hotspare-action.lock")


def test_without_a_balancer_it_is_beside_the_first_databases_data_directory() -> None:
    inv = replace(INV, balancer=None)
    db1 = replace(inv.databases[0], data_dir="/var/lib/postgresql/15/main/")
    inv = replace(inv, databases=(db1, *inv.databases[1:]))
    assert found.where(inv) == (db1.box, "/var/lib/postgresql/15/hotspare-action.lock")


def test_no_file_is_no_lock() -> None:
    assert found.parse("") is None


def test_a_live_holder_elsewhere_is_running_and_a_silent_one_is_gone() -> None:
    running = found.parse(_file(_record(), age=2))
    assert running is not None and running.gone is None
    assert running.describe().startswith("promote db2 running: step 6/18 (Stop db1) by ana@jump1")
    silent = found.parse(_file(_record(), age=int(found.GONE_AFTER) + 1))
    assert silent is not None and silent.gone == f"no heartbeat for {found.GONE_AFTER + 1:.0f} s"
    assert "interrupted at step 6/18 (Stop db1)" in silent.describe()


def test_a_holder_on_this_machine_is_gone_as_soon_as_its_process_ends() -> None:
    here = socket.gethostname()
    mine = found.parse(
        _file(_record(host=here, pid=os.getpid(), pid_start=found.process_start(os.getpid())))
    )
    assert mine is not None and mine.gone is None
    dead = found.parse(_file(_record(host=here, pid=2**22 + 7)))
    assert dead is not None and dead.gone == f"process {2**22 + 7} on {here} has ended"
    reused = found.parse(_file(_record(host=here, pid=os.getpid(), pid_start="1")))
    assert reused is not None and reused.gone is not None, "a pid reused by another process"


def test_an_interrupted_action_is_critical_and_says_the_command_that_finishes_it() -> None:
    held = found.parse(_file(_record(), age=60))
    (alarm,) = action_alarms(held)
    assert alarm.code == "action-interrupted" and alarm.severity == "critical"
    assert alarm.message.endswith(
        "(no heartbeat for 60 s): run `hotspare promote db2 --rejoin` (finishes it)"
    )
    (running,) = action_alarms(found.parse(_file(_record())))
    assert running.code == "action-running" and running.severity == "warning"


def test_a_file_that_is_not_a_hotspare_lock_still_keeps_actions_out() -> None:
    held = found.parse("1800000000\n1800000000\nsomething else\n")
    assert held is not None and held.action == "an unknown action"
    assert held.advice() == "check the site, then `hotspare unlock`"


def test_what_the_lock_file_says_cannot_break_out_of_a_line_or_the_screen() -> None:
    held = found.parse(_file(_record(who="x\x1b[2J\u202eevil", title="a\nb")))
    assert held is not None
    assert held.who.isprintable() and "\x1b" not in held.describe()


def test_the_take_command_writes_one_json_line_and_quotes_it_for_the_shell() -> None:
    record = lock.record("drain", "web1", "hotspare drain web1", 3, [])
    command = lock.take_command("/srv/lb/hotspare-action.lock", "r1", record, None)
    assert "flock -w 5 9" in command
    assert "exit 75" in command  # held: print it and say so
    assert json.dumps(record, ensure_ascii=True, separators=(",", ":")) in command.replace(
        "'\"'\"'", "'"
    )


def _request(plan: Plan) -> Request:
    return Request(
        "drain",
        "web1",
        "hotspare drain web1 --timeout 30",
        "hotspare drain web1",
        lambda state, resume: plan,
    )


def test_an_action_without_a_point_of_no_return_names_its_way_back_as_an_undo() -> None:
    plan = Plan("drain", "web1", "", (), way_back="hotspare ready web1")
    nexts = ways_out(_request(plan), plan, past_return=False)
    assert [(n.command, n.key) for n in nexts] == [
        ("hotspare drain web1 --timeout 30", "hotspare drain web1"),
        ("hotspare ready web1", "hotspare ready web1"),
    ]
    assert [n.command for n in ways_out(_request(plan), plan, past_return=True)] == [
        "hotspare drain web1 --timeout 30"
    ]


def test_a_way_back_that_is_not_one_plain_command_is_not_offered() -> None:
    plan = Plan("promote", "db2", "", (), way_back="hotspare promote db1 (after `rejoin`)")
    assert len(ways_out(_request(plan), plan, past_return=False)) == 1


@pytest.mark.parametrize(
    ("name", "target", "given", "line"),
    [
        ("promote", "db2", {"rejoin": True}, "hotspare promote db2 --rejoin"),
        ("drain", "web1", {"timeout": 120.0}, "hotspare drain web1"),
        ("weight", "web1", {"weight": 50}, "hotspare weight web1 50"),
        (
            "maintenance on",
            None,
            {"until": "45m", "message": "be back"},
            "hotspare maintenance on --until 45m --message 'be back'",
        ),
    ],
)
def test_the_command_that_asks_again_keeps_the_options_given(
    name: str, target: str | None, given: dict[str, object], line: str
) -> None:
    action = next(a for a in catalog.ACTIONS if a.name == name)
    assert catalog.command(action, target, given)[0] == line


def test_every_action_but_unlock_takes_the_lock() -> None:
    assert [a.name for a in catalog.ACTIONS if not a.locked] == ["unlock"]


def test_the_console_shows_an_interrupted_action_as_critical_with_its_command() -> None:
    import asyncio

    from screens.panels import Banner, Timeline
    from tests.support.console_parts import console_app
    from tests.support.verdict_parts import cluster_state

    held = found.parse(_file(_record(), age=60))
    interrupted = replace(cluster_state(taken_at=101.0), action=held, alarms=action_alarms(held))

    async def go() -> None:
        app, feed = console_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            feed.push(interrupted)
            await pilot.pause(0.1)
            banner = str(app.query_one(Banner).render())
            assert "CRITICAL" in banner
            lines = "\n".join(app.query_one(Timeline).lines)
            assert "promote db2 interrupted at step 6/18 (Stop db1)" in lines
            assert "hotspare promote db2 --rejoin" in lines

    asyncio.run(go())


def test_a_plan_shown_while_another_console_acts_says_so_but_not_for_this_consoles_own_run() -> (
    None
):
    from tests.support.verdict_parts import cluster_state

    plan = Plan("drain", "web1", "", ())
    other = found.parse(_file(_record()))
    mine = found.parse(
        _file(
            _record(
                host=socket.gethostname(),
                pid=os.getpid(),
                pid_start=found.process_start(os.getpid()),
            )
        )
    )
    assert other is not None and mine is not None and mine.mine()
    shown = _request(plan).plan(replace(cluster_state(), action=other))
    assert shown.refusals == (f"another action is running: {other.describe()}",)
    assert _request(plan).plan(replace(cluster_state(), action=mine)).refusals == ()
