"""The runbook's pure parts: its record read strictly, its judgement, the order of a roll."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from console.actions.context import Context
from console.actions.plan import Check
from console.errors import ActionError
from console.inventory import InventoryError, load
from console.probes import http
from console.probes import runbook as probe
from console.probes.node import started_of
from console.runbook import rolling
from console.runbook.node import answers, check_release, fill, version_of
from console.state.lock import ActionLock
from console.state.runbook import MAGIC, Mark, Runbook, Stage, from_record, to_record
from tests.support.verdict_parts import balancer, cluster_state, inventory, node, server

GOOD_LAB = Path(__file__).resolve().parent / "inventory_cases" / "good_lab.yaml"


def book(**changes: object) -> Runbook:
    stages = (
        Stage("node", "web3 to v2", {"node": "web3", "release": "v2"}, "done"),
        Stage(
            "node",
            "web1 to v2",
            {"node": "web1", "release": "v2"},
            "running",
            (Mark("Drain web1", True, "ok", 1.0), Mark("Switch web1", False, "no", 2.0)),
        ),
        Stage("node", "web2 to v2", {"node": "web2", "release": "v2"}),
    )
    made = Runbook(
        "run1",
        "rolling",
        "v2",
        "rolling upgrade to v2",
        "hotspare upgrade rolling --release v2",
        "root@vm",
        1.0,
        2.0,
        "running",
        stages,
        {"web1": {"release": "v1", "in": True}, "web3": {"release": "v1", "in": False}},
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def held(run: str = "run1", gone: str | None = None) -> ActionLock:
    return ActionLock(run, "root@vm", "vm", 1, "upgrade", "v2", "", 1, 9, "x", 1.0, 0.0, gone)


def test_a_record_reads_back_as_it_was_written() -> None:
    original = book()
    assert from_record(to_record(original)) == original


def test_the_readers_judgement_is_never_written_back() -> None:
    assert to_record(book(state="interrupted"))["state"] == "running"


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"magic": "something-else"},
        [],
    ],
)
def test_what_is_not_a_runbook_record_is_no_runbook(record: object) -> None:
    assert (from_record(record) if isinstance(record, dict) else None) is None


def test_a_hostile_record_is_read_strictly_and_made_printable() -> None:
    found = from_record(
        {
            "magic": MAGIC,
            "id": "r\x1b[2J",
            "state": "exploded",
            "title": "evil\x07title",
            "stages": [
                "not a stage",
                {"kind": 5},
                {
                    "kind": "node",
                    "title": "web1\x1b]0;x\x07",
                    "status": "weird",
                    "marks": [
                        {"title": "t", "ok": "yes", "check": None, "at": "never"},
                        7,
                    ],
                    "args": {"node": "web1", "nested": {"a": 1}, "list": [1, "\x1b"]},
                },
            ],
            "before": {"web1": "v1", "web2": {"release": "v1", "in": True}},
            "since": "yesterday",
        }
    )
    assert found is not None
    assert found.state == "halted"  # an unknown state is never taken for a running one
    assert "\x1b" not in found.id and "\x07" not in found.title
    assert len(found.stages) == 1
    stage = found.stages[0]
    assert stage.status == "pending" and "\x1b" not in stage.title
    assert stage.marks == (Mark("t", False, "", 0.0),)  # "yes" is not true
    assert "nested" not in stage.args and "\x1b" not in "".join(stage.args["list"])
    assert found.before == {"web2": {"release": "v1", "in": True}}
    assert found.since == 0.0


def test_a_running_runbook_whose_lock_is_gone_or_not_its_own_is_interrupted() -> None:
    running = book()
    assert running.judged(held()).state == "running"
    assert running.judged(None).state == "interrupted"
    assert running.judged(held(gone="process 1 on vm has ended")).state == "interrupted"
    assert running.judged(held(run="other")).state == "interrupted"
    assert book(state="halted").judged(None).state == "halted"


def test_position_progress_and_banner() -> None:
    running = book()
    assert running.position == 1 and running.current is running.stages[1]
    assert running.progress() == (2, 3)
    assert running.banner() == "UPGRADE 2/3 on v2"
    assert book(state="halted").banner() == "UPGRADE 2/3 on v2 HALTED"
    assert running.stages[1].done_steps == 1
    back = book(kind="rollback", release="v1")
    assert back.banner().startswith("ROLLBACK 2/3 to v1")


def test_the_probe_splits_the_lock_from_the_record_and_reads_the_request() -> None:
    record = json.dumps({"magic": MAGIC, "id": "r", "state": "paused", "stages": []})
    read = probe.parse(f"LOCK\n{probe.SEPARATOR}\nstamp 1.2\nrequest pause\n{record}\n")
    assert read.lock_text == "LOCK\n" and read.stamp == "1.2" and read.request == "pause"
    assert read.runbook is not None and read.runbook.state == "paused"
    same = probe.parse(f"\n{probe.SEPARATOR}\nstamp 1.2\nrequest \n{probe.UNCHANGED}\n")
    assert same.unchanged and same.runbook is None and same.request == ""
    junk = probe.parse(f"\n{probe.SEPARATOR}\nstamp 1\nrequest rm -rf\n{{not json\n")
    assert junk.runbook is None and junk.request == ""
    assert junk.broken.startswith("it is not JSON")
    other = probe.parse(f'\n{probe.SEPARATOR}\nstamp 1\nrequest \n{{"magic": "x"}}\n')
    assert other.broken == "it is not a hotspare runbook record"
    none = probe.parse("")
    assert none.runbook is None and not none.unchanged


def test_a_roll_takes_the_spare_first_brings_it_in_and_puts_it_back_out() -> None:
    migration = rolling.Migration("v2", "/r/v2/migrate.sql", "before", True, "ab", 2)
    found = rolling.stages(
        ["web1", "web2", "web3"],
        {"web1", "web2"},
        {"web1": True, "web2": True, "web3": False},
        "v2",
        {"web1": "v1", "web2": "v1", "web3": "v1"},
        2,
        5.0,
        migration,
    )
    assert [(s.kind, s.node, s.args.get("end")) for s in found] == [
        ("migrate", "web1", None),
        ("node", "web3", "in"),
        ("node", "web1", "in"),
        ("node", "web2", "in"),
        ("out", "web3", None),
    ]
    after = rolling.stages(
        ["web1"], {"web1"}, {"web1": True}, "v3", {}, 1, 0, replace(migration, when="after")
    )
    assert [s.kind for s in after] == ["node", "migrate"]


def test_a_spare_alone_stays_out() -> None:
    found = rolling.stages(["web3"], {"web1", "web2"}, {"web3": False}, "v2", {}, 2, 5.0)
    assert [(s.kind, s.args.get("end")) for s in found] == [("node", "out")]


def test_min_ready_is_all_that_serve_once_the_spare_is_in_but_one() -> None:
    assert rolling.min_ready(None, None, live=2, brought=1) == 2
    assert rolling.min_ready(None, None, live=2, brought=0) == 1
    assert rolling.min_ready(None, None, live=1, brought=0) == 1  # never 0: the last one stays
    assert rolling.min_ready(None, 3, live=2, brought=1) == 3
    assert rolling.min_ready(0, 3, live=2, brought=1) == 1


def test_a_rolling_runbook_from_the_snapshot() -> None:
    inv = inventory()
    state = cluster_state(nodes=tuple(node(n, release="v1") for n in ("web1", "web2", "web3")))
    made = rolling.rolling(inv, state, "v2", None, None, None, None, "r", "me", "cmd")
    assert [s.title for s in made.stages] == [
        "web3 to v2",
        "web1 to v2",
        "web2 to v2",
        "web3 back out, a spare as before",
    ]
    assert {s.args.get("min_ready") for s in made.stages} == {2}
    assert made.before["web3"] == {"release": "v1", "in": False}


def test_a_rollback_returns_only_the_nodes_begun_last_first() -> None:
    inv = inventory()
    state = cluster_state(
        balancer=balancer(server("web1", "maint", "MAINT"), server("web2"), server("web3")),
    )
    halted = book(state="halted")
    back = rolling.rollback(inv, state, halted, "r2", "me", "cmd")
    # web1 is out now (halted): it goes first and comes back in; web3 then leaves, a spare.
    assert [(s.node, s.args.get("release"), s.args.get("end")) for s in back.stages] == [
        ("web1", "v1", "in"),
        ("web3", "v1", "out"),
    ]
    assert back.kind == "rollback" and back.undoes == "rolling upgrade to v2"
    with pytest.raises(ActionError, match="already a rollback"):
        rolling.rollback(inv, state, back, "r3", "me", "cmd")


def test_a_rollback_refuses_when_a_previous_release_is_unknown() -> None:
    unknown = book(before={"web1": {"release": "?", "in": True}})
    with pytest.raises(ActionError, match="not known"):
        rolling.rollback(inventory(), cluster_state(), unknown, "r", "me", "cmd")


def test_hook_values_are_shell_quoted_and_release_names_checked() -> None:
    web1 = inventory().web_node("web1")
    assert fill("go {node} {release} {address}", web1, "127.0.0.1", "v 2;x") == (
        "go web1 'v 2;x' 127.0.0.1"
    )
    assert check_release("v2.1-rc+3") == "v2.1-rc+3"
    for bad in ("", "../x", "-v", "a b", "x" * 65):
        with pytest.raises(ActionError):
            check_release(bad)


def test_the_version_answer_is_json_or_a_first_word() -> None:
    assert version_of('{"release": "v2", "node": "web1"}') == "v2"
    assert version_of("v3-broken built 2026-12-01\n") == "v3-broken"
    assert version_of("") is None
    assert version_of('{"release": "\\u001b[2Jv9"}') == "?[2Jv9"  # the escape made harmless


def test_the_upgrade_section_is_read_and_its_mistakes_are_named(tmp_path: Path) -> None:
    text = GOOD_LAB.read_text()
    good = tmp_path / "good.yaml"
    good.write_text(
        text + "upgrade:\n  min_ready: 2\n  smoke:\n    - http://{address}:8000/\n  soak: 10\n"
    )
    loaded = load(good)
    assert loaded.upgrade.min_ready == 2 and loaded.upgrade.soak == 10.0
    assert loaded.upgrade.smoke == ("http://{address}:8000/",)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "upgrade:\n  smoke: http://x/\n  soak: -1\n  sleep: 3\n")
    with pytest.raises(InventoryError) as caught:
        load(bad)
    said = str(caught.value)
    assert "upgrade.smoke" in said and "expected a list of URLs" in said
    assert "upgrade.soak" in said and "upgrade.sleep" in said


def test_a_runbook_stopped_on_purpose_is_a_warning_an_interrupted_one_critical() -> None:
    from console.state.verdicts import action_alarms

    paused = replace(held(gone="paused on purpose; its runbook waits"), stopped="paused")
    (alarm,) = action_alarms(paused)
    assert (alarm.code, alarm.severity) == ("action-paused", "warning")
    assert "upgrade v2 paused at step 1/9" in alarm.message
    (alarm,) = action_alarms(replace(paused, stopped="halted"))
    assert (alarm.code, alarm.severity) == ("action-halted", "warning")
    (alarm,) = action_alarms(held(gone="process 1 on vm has ended"))
    assert (alarm.code, alarm.severity) == ("action-interrupted", "critical")


def test_a_server_kept_out_by_a_paused_runbook_is_planned_not_overdue() -> None:
    from console.state.planned import PLAN_GRACE_S, servers

    old = replace(server("web1", "maint", "MAINT"), last_change_s=PLAN_GRACE_S + 1)
    paused = replace(held(gone="paused on purpose; its runbook waits"), stopped="paused")
    assert servers([old], paused) == (("web1 maint",), [])
    planned, alarms = servers([old], held(gone="process 1 on vm has ended"))
    assert planned == () and [a.code for a in alarms] == ["backends-out"]


class _Answers:
    """Just enough of Context for `answers`: health 200, then the version answer given."""

    def __init__(self, version: str) -> None:
        self.version = version

    async def fetch(self, box: str, request: http.Request) -> http.Answer:
        body = self.version if request.url.endswith("version") else "ok"
        return http.Answer(0, 200, body)


def test_a_restart_is_proven_by_a_process_started_after_it_was_asked() -> None:
    web1 = replace(inventory().web_node("web1"), version_url="http://127.0.0.1:8000/version")
    asked = [1000.0]  # the box's clock when the restart hook ran
    before = json.dumps({"release": "v1", "started": 999.5})  # a restart already under way
    after = json.dumps({"release": "v1", "started": 1000.2})

    def judged(version: str, since: list[float]) -> Check:
        async def ask() -> Check:
            return await answers(web1, "v1", since)(cast(Context, _Answers(version)))

        return asyncio.run(ask())

    check = judged(before, asked)
    assert not check.ok and "started before the restart was asked" in check.detail
    assert judged(after, asked).ok
    # No start time in the answer, or no clock read: the release alone proves it, as before.
    assert judged(json.dumps({"release": "v1"}), asked).ok
    assert judged(before, []).ok
    assert started_of(before) == 999.5 and started_of('{"started": true}') is None
