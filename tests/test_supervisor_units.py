"""The supervisor's view without a lab: `sv status` read strictly, the alarms, cluster.yaml's key.

`sv status` output is what runit 2.1.2 prints (seen on the lab); anything else
becomes the state's problem, never an exception. The restart plan's refusals
are judged on a built snapshot.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest

from console.actions.supervisor import plan_restart
from console.cli.tables import render
from console.inventory import Inventory, InventoryError, load
from console.inventory.model import Hooks, Supervisor
from console.probes.node import parse, script
from console.state import codec
from console.state.supervisor import SupervisorState, parse_sv_status
from tests.support.verdict_parts import INV, cluster_state, node, nodes_with, only, run

DIR = "/srv/sv/site"
GOOD_LAB = Path(__file__).resolve().parent / "inventory_cases" / "good_lab.yaml"


@pytest.mark.parametrize(
    ("line", "state", "pid", "seconds", "want_up", "paused"),
    [
        (f"run: {DIR}: (pid 123) 45s\n", "run", 123, 45, True, False),
        (f"run: {DIR}: (pid 123) 45s; run: log: (pid 124) 45s\n", "run", 123, 45, True, False),
        (f"down: {DIR}: 3s, normally up\n", "down", None, 3, False, False),
        (f"down: {DIR}: 0s, normally up, want up\n", "down", None, 0, True, False),
        (f"run: {DIR}: (pid 9) 2s, want down, got TERM\n", "run", 9, 2, False, False),
        (f"run: {DIR}: (pid 9) 70s, paused\n", "run", 9, 70, True, True),
        (f"finish: {DIR}: (pid 10) 1s\n", "finish", 10, 1, True, False),
        (f"ok: run: {DIR}: (pid 22752) 0s\n", None, None, None, None, False),
    ],
)
def test_sv_status_lines_are_read_field_by_field(
    line: str,
    state: str | None,
    pid: int | None,
    seconds: int | None,
    want_up: bool | None,
    paused: bool,
) -> None:
    seen = parse_sv_status(line, DIR, restarts=2)
    assert (seen.state, seen.pid, seen.state_s, seen.want_up, seen.paused) == (
        state,
        pid,
        seconds,
        want_up,
        paused,
    )
    assert seen.restarts == 2 and seen.service == DIR


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"fail: {DIR}: runsv not running\n", "runsv not running"),
        (
            f"warning: {DIR}: unable to open supervise/ok: access denied\n",
            "unable to open supervise/ok: access denied",
        ),
        ("fail: /x: unable to change to service directory: file does not exist", "unable to"),
        ("", "no answer from sv status"),
        (f"run: {DIR}: (pid 1) 5s, on fire\n", "on fire"),
        ("\x1b]0;pwned\x07 run: nothing", "?]0;pwned? run: nothing"),
    ],
)
def test_what_is_not_a_status_is_the_problem_never_an_exception(line: str, problem: str) -> None:
    seen = parse_sv_status(line, DIR)
    assert seen.state is None and seen.up is None
    assert problem in (seen.problem or "")
    assert "\x1b" not in (seen.problem or "")


def test_the_short_and_the_long_words() -> None:
    up = parse_sv_status(f"run: {DIR}: (pid 7) 125s", DIR)
    assert up.short() == "up 2m"
    assert up.said() == "runit: up, pid 7, for 2m, restarts not counted"
    down = parse_sv_status(f"down: {DIR}: 4s, normally up, want up", DIR, restarts=3)
    assert down.short() == "DOWN"
    assert down.said() == "runit: down, for 4s, wants it up, 3 restarts"
    assert parse_sv_status("fail: x: runsv not running", DIR).short() == "sv?"


def _load_with(tmp_path: Path, value: str) -> Inventory:
    """The lab's good inventory with `supervisor: VALUE` in web_defaults (just before web_nodes)."""
    path = tmp_path / "cluster.yaml"
    text = GOOD_LAB.read_text().replace("web_nodes:\n", f"  supervisor: {value}\nweb_nodes:\n", 1)
    path.write_text(text)
    return load(path)


def test_the_supervisor_key_names_runit_and_a_service_directory(tmp_path: Path) -> None:
    inv = _load_with(tmp_path, "runit:/srv/{node}/service")
    assert inv.web_node("web2").supervisor == Supervisor("runit", "/srv/web2/service")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("/srv/site", "expected runit:DIR"),
        ("runitt:/srv/site", "(did you mean 'runit'?)"),
        ("daemontools:/service/site", "hotspare knows (runit)"),
        ("runit:srv/site", "the service directory must be absolute"),
        ("runit:/srv/{nod}", "unknown placeholder {nod}"),
    ],
)
def test_a_bad_supervisor_names_the_key_and_what_to_write(
    tmp_path: Path, value: str, said: str
) -> None:
    with pytest.raises(InventoryError) as raised:
        _load_with(tmp_path, value)
    (problem,) = raised.value.problems
    assert problem.key == "web_defaults.supervisor"
    assert said in problem.message, problem.message


def test_the_probe_asks_sv_with_a_timeout_and_reads_its_answer() -> None:
    web = replace(INV.web_node("web2"), supervisor=Supervisor("runit", DIR))
    said = script(web)
    assert f"timeout 2 sv status {DIR}" in said and f"{DIR}/restarts" in said
    answer = "health 200 0.01\nsv " + _b64(f"run: {DIR}: (pid 42) 9s\n") + "\nsvrestarts 1\n"
    seen = parse(answer, web, 100.0).supervisor
    assert seen == SupervisorState("runit", DIR, "run", 42, 9, True, False, 1)
    missing = parse("sv missing\nsvrestarts \n", web, 100.0).supervisor
    assert missing is not None and missing.state is None and "install runit" in str(missing.problem)
    assert parse(answer, INV.web_node("web2"), 100.0).supervisor is None  # none configured


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _sv(state: str | None, **more: object) -> SupervisorState:
    return SupervisorState("runit", DIR, state, **more)  # type: ignore[arg-type]


def test_a_site_the_supervisor_has_down_is_an_alarm_that_says_what_to_do() -> None:
    down = only("supervisor-down", nodes=nodes_with("web2", supervisor=_sv("down", state_s=30)))
    assert down.severity == "critical" and down.subject == ("web2",)
    assert f"`sv up {DIR}`" in down.message and "hotspare restart web2" in down.message
    failing = _sv("down", state_s=1, want_up=True)
    crash = only("supervisor-down", nodes=nodes_with("web3", supervisor=failing))
    assert "wants the site up but it is down" in crash.message
    paused = only("supervisor-paused", nodes=nodes_with("web2", supervisor=_sv("run", paused=True)))
    assert "sv cont" in paused.message
    unknown = _sv(None, problem="runsv not running")
    asked = only("supervisor-unknown", nodes=nodes_with("web1", supervisor=unknown))
    assert "runsv not running" in asked.message
    fine = nodes_with("web2", supervisor=_sv("run", pid=5, state_s=9, want_up=True))
    assert not [a for a in run(nodes=fine)[1] if a.code.startswith("supervisor")]


def test_a_snapshot_with_supervisors_comes_back_as_it_was_and_fits_80_columns() -> None:
    views = [_sv("run", pid=5, state_s=90000, want_up=True, restarts=2), _sv("down"), _sv(None)]
    nodes = tuple(
        replace(node(n), supervisor=v) for n, v in zip(("web1", "web2", "web3"), views, strict=True)
    )
    state = replace(cluster_state(nodes=nodes), environment="production")
    back = codec.decode(json.loads(json.dumps(codec.encode(state))))
    assert back == state
    text = render(state)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "SV" in text and "up 1d" in text and "DOWN" in text and "sv?" in text


def test_restart_refuses_the_last_ready_node_and_a_node_it_cannot_restart() -> None:
    web2 = replace(INV.web_node("web2"), supervisor=Supervisor("runit", DIR))
    inv = replace(INV, web_nodes=tuple(web2 if w.name == "web2" else w for w in INV.web_nodes))
    state = cluster_state()
    assert plan_restart(inv, state, "web2").refusals == ()
    bare = plan_restart(inv, state, "web1")  # no supervisor, no restart hook
    assert any("supervisor: runit:" in r and "hooks.restart" in r for r in bare.refusals)
    hooked = replace(inv, hooks=Hooks(None, None, restart="/bin/site-restart {node}"))
    assert plan_restart(hooked, state, "web1").refusals == ()
    assert "site-restart web1" in plan_restart(hooked, state, "web1").describe()
