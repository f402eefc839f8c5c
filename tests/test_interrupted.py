"""A console killed (SIGKILL) at every step of an action: nothing is lost, and it says so.

For each action and each of its steps: the action runs as its own process
and is killed as that step begins. Then `status` must name the interrupted
action and the command that finishes it; that command must be accepted and
leave a healthy site; no acknowledged commit may be missing and no moment
may have two writable members; the audit log must hold the killed run's
intent (written before its first step) and no outcome for it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.actions.audit import AuditLog
from console.lab.layout import LabLayout
from tests.support.dbwatch import Watch, Writer
from tests.support.labclient import eventually, hotspare, is_primary, streams
from tests.support.operators import Operator, run

Check = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Leg:
    """One action to kill at a step and then finish: its words and what it must end in."""

    words: tuple[str, ...]
    steps: int  # the plan's step count on the lab; the test says when the plan changes
    ends: Check
    confirm: str = ""


def _server(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in state["balancer"]["servers"] if s["name"] == name)


def _node(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in state["nodes"] if n["name"] == name)


def _mode(state: dict[str, Any]) -> str:
    return str(state["verdicts"]["site_mode"])


def _promote(new: str, old: str) -> tuple[Leg, ...]:
    def ends(s: dict[str, Any]) -> bool:
        v = s["verdicts"]
        return v["primaries"] == [new] and v["standbys_streaming"] == [old] and _mode(s) == "normal"

    return (Leg(("promote", new, "--rejoin"), 18, ends, confirm=new),)


def _warm(node: str) -> Check:
    return lambda s: _node(s, node)["role"] == "warm" and _server(s, node)["admin"] == "maint"


def _hot(node: str) -> Check:
    return lambda s: _node(s, node)["role"] == "hot" and _server(s, node)["operational"] == "UP"


def _scheduler(node: str) -> Check:
    return lambda s: s["verdicts"]["schedulers"] == [node]


# Each case is a round trip: killed there, finished, killed on the way back, finished;
# the lab ends as it began. A promotion goes to whichever member is the standby.
CASES: dict[str, Callable[[LabLayout], tuple[Leg, ...]]] = {
    "promote": lambda lab: (
        _promote("db1", "db2") if is_primary(lab, "db2") else _promote("db2", "db1")
    ),
    "read-only": lambda lab: (
        Leg(("read-only", "on"), 9, lambda s: _mode(s) == "read-only"),
        Leg(("read-only", "off"), 9, lambda s: _mode(s) == "normal"),
    ),
    "node": lambda lab: (
        Leg(("node", "warm", "web2"), 6, _warm("web2")),
        Leg(("node", "hot", "web2"), 6, _hot("web2")),
    ),
    "scheduler": lambda lab: (
        Leg(("scheduler", "move", "web2"), 6, _scheduler("web2")),
        Leg(("scheduler", "move", "web1"), 6, _scheduler("web1")),
    ),
}
STEPS = {"promote": 18, "read-only": 9, "node": 6, "scheduler": 6}
PARAMS = [(name, n) for name, steps in STEPS.items() for n in range(1, steps + 1)]


@pytest.fixture(scope="module")
def members(lab: LabLayout, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabLayout]:
    """One primary and one streaming standby, either way round; db1 primary again at the end."""
    yield lab
    if not is_primary(lab, "db1"):
        audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
        done = run(lab, audit, "promote", "db1", "--rejoin", "--yes", "--confirm", "db1")
        assert done.returncode == 0, done.stdout + done.stderr
    eventually(lambda: streams(lab, "db1", "db2"), timeout=30)


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's audit log, for the killed process and the in-process commands alike."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(path))
    return path


def _yes(leg: Leg) -> list[str]:
    return ["--yes", *(["--confirm", leg.confirm] if leg.confirm else [])]


@pytest.mark.parametrize(("name", "step"), PARAMS, ids=[f"{n}-step{s}" for n, s in PARAMS])
def test_killed_at_a_step_status_names_it_and_its_command_finishes_it(
    members: LabLayout,
    audit_file: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    step: int,
) -> None:
    lab = members
    eventually(lambda: streams(lab, "db1", "db2") or streams(lab, "db2", "db1"), timeout=30)
    writer, watch = Writer(lab, seconds=120).start(), Watch(lab, seconds=120).start()
    try:
        for leg in CASES[name](lab):
            _kill_and_finish(lab, audit_file, capsys, leg, step)
    except BaseException:
        _unlock(lab, capsys)  # so the next case does not start behind this one's lock
        raise
    finally:
        writer.stop()
        watch.stop()
    primary = "db2" if is_primary(lab, "db2") else "db1"
    assert writer.acked, "the writer committed nothing: the check proves nothing"
    assert writer.missing_on(primary) == [], "acknowledged commits lost"
    assert watch.both_writable() == [], "two writable members at once"


def _kill_and_finish(
    lab: LabLayout, audit: Path, capsys: pytest.CaptureFixture[str], leg: Leg, step: int
) -> None:
    operator = Operator.start(lab, audit, *leg.words, *_yes(leg))
    line = operator.wait_for(rf"^\s+{step}/\d+ ")
    operator.kill()
    assert f"{step}/{leg.steps} " in line, f"the plan of {leg.words} changed: {line!r}"

    code, state = hotspare(lab, capsys, "status")
    assert code == 2, "an interrupted action is critical: status exits 2"
    held = state["action"]
    assert held is not None and held["gone"], state["action"]
    alarm = next(a for a in state["alarms"] if a["code"] == "action-interrupted")
    assert alarm["severity"] == "critical"
    assert " ".join(leg.words[:2]) in alarm["message"], alarm["message"]
    assert "interrupted at" in alarm["message"]
    finish = held["next"][0]["command"]
    assert finish in alarm["message"]
    assert shlex.split(finish)[1:] == list(leg.words), finish

    records = list(AuditLog(audit, "lab").records())
    mine = [r for r in records if r.get("run") == held["id"]]
    assert [r["event"] for r in mine][:1] == ["intent"], "no intent before the first step"
    assert "outcome" not in [r["event"] for r in mine]

    code, answer = hotspare(lab, capsys, *shlex.split(finish)[1:], *_yes(leg))
    assert code == 0, f"{finish}: {answer and answer.get('reason')}"
    after = eventually(lambda: _settled(lab, capsys, leg), timeout=20)
    assert after["action"] is None
    assert not [a for a in after["alarms"] if a["code"].startswith("action-")]


def _settled(lab: LabLayout, capsys: pytest.CaptureFixture[str], leg: Leg) -> dict[str, Any] | None:
    _, state = hotspare(lab, capsys, "status")
    return state if state is not None and leg.ends(state) else None


def _unlock(lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> None:
    _, state = hotspare(lab, capsys, "status")
    held = state and state.get("action")
    if held:
        what = f"{held['action']} {held['target']}"
        hotspare(lab, capsys, "unlock", "--force", "--confirm", what, "--yes")
