"""The promotion lock, and the runner's undo, point of no return and cleanup (no box touched)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from console.actions.audit import AuditLog
from console.actions.context import Context
from console.actions.plan import Check, Plan, Step
from console.actions.request import Request
from console.actions.runner import Outcome, execute
from console.authority import Authority
from console.errors import ActionError
from console.inventory import Inventory
from tests.support import verdict_parts as parts

if TYPE_CHECKING:
    from console.monitor import Monitor

INV = parts.INV


# --- the runner ------------------------------------------------------------------------


@dataclass
class _BareMonitor:
    """A Context reads only .inv and .links from its monitor; these steps touch no box."""

    inv: Inventory = INV
    links: dict[str, Any] = field(default_factory=dict)


def _step(log: list[str], title: str, ok: bool = True, **more: Any) -> Step:
    """A step that records its run in LOG and verifies as OK says; no I/O."""

    async def act(ctx: Context) -> str:
        log.append(title)
        return f"did {title}"

    async def verify(ctx: Context) -> Check:
        return Check(ok, f"{title} {'holds' if ok else 'broke'}")

    return Step(title, "nowhere", title, "-", "-", act, verify, **more)


def _run(tmp_path: Path, plan: Plan) -> tuple[Outcome, dict[str, Any]]:
    """Run PLAN without the cluster's lock (these steps touch no box); its outcome record."""
    audit = AuditLog(tmp_path / "audit.jsonl", "lab")
    ctx = Context(cast("Monitor", _BareMonitor()))
    request = Request(
        "promote",
        "db2",
        "hotspare promote db2",
        "hotspare promote db2",
        lambda state, resume: plan,
        locked=False,
    )
    authority = Authority.decide(False, False, "lab")
    outcome = asyncio.run(execute(request, plan, ctx, authority, audit))
    (record,) = [r for r in audit.records() if r["event"] == "outcome"]
    return outcome, record


def _plan(steps: list[Step], always: tuple[Step, ...] = ()) -> Plan:
    return Plan("promote", "db2", "test", tuple(steps), way_back="undo by hand", always=always)


def test_a_failure_before_the_point_of_no_return_puts_back_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "b", undo=_step(log, "undo b")),
        _step(log, "c"),
        _step(log, "d", ok=False, undo=_step(log, "undo d")),
        _step(log, "e", undo=_step(log, "undo e")),
    ]
    outcome, record = _run(tmp_path, _plan(steps))
    assert log == ["a", "b", "c", "d", "undo d", "undo b", "undo a"]
    assert outcome.status == "failed"
    assert [r.title for r in outcome.undone] == ["undo d", "undo b", "undo a"]
    assert outcome.reason == "stopped at step 4 (d): d broke; put back: undo d, undo b, undo a"
    assert [r["title"] for r in record["undone"]] == ["undo d", "undo b", "undo a"]


def test_a_failure_past_the_point_of_no_return_puts_nothing_back(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "promote", no_return=True),
        _step(log, "takes writes", ok=False, undo=_step(log, "undo writes")),
    ]
    outcome, _ = _run(tmp_path, _plan(steps))
    assert log == ["a", "promote", "takes writes"]
    assert outcome.undone == ()
    assert outcome.reason is not None
    assert "past the point of no return, nothing was put back" in outcome.reason
    assert outcome.reason.endswith("; way back: undo by hand")


def test_the_point_of_no_return_counts_from_when_that_step_begins(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "promote", ok=False, no_return=True),
    ]
    outcome, _ = _run(tmp_path, _plan(steps))
    assert log == ["a", "promote"] and outcome.undone == ()


def test_an_undo_that_fails_is_reported_not_put_back(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        _step(log, "a", undo=_step(log, "undo a")),
        _step(log, "stop", undo=_step(log, "start again", ok=False)),
        _step(log, "caught up", ok=False),
    ]
    outcome, _ = _run(tmp_path, _plan(steps))
    assert log == ["a", "stop", "caught up", "start again", "undo a"]
    assert [(r.title, r.ok) for r in outcome.undone] == [("start again", False), ("undo a", True)]
    assert outcome.reason == (
        "stopped at step 3 (caught up): caught up broke; put back: start again, undo a; "
        "NOT put back: start again (start again broke); way back: undo by hand"
    )


def test_an_action_error_fails_the_step_with_its_message(tmp_path: Path) -> None:
    async def act(ctx: Context) -> str:
        raise ActionError("db1: pg_ctl stop exited 1")

    async def verify(ctx: Context) -> Check:
        raise AssertionError("not reached")

    outcome, _ = _run(tmp_path, _plan([Step("stop", "-", "-", "-", "-", act, verify)]))
    assert outcome.reason == (
        "stopped at step 1 (stop): db1: pg_ctl stop exited 1; way back: undo by hand"
    )


@pytest.mark.parametrize("fails", [False, True])
def test_always_steps_run_at_the_end_and_are_the_cleanup(tmp_path: Path, fails: bool) -> None:
    log: list[str] = []
    steps = [_step(log, "a", undo=_step(log, "undo a")), _step(log, "b", ok=not fails)]
    always = (_step(log, "release"), _step(log, "second", ok=False))
    outcome, record = _run(tmp_path, _plan(steps, always))
    assert log[-2:] == ["release", "second"]
    assert outcome.status == ("failed" if fails else "done")
    assert [(r.title, r.ok) for r in outcome.cleanup] == [("release", True), ("second", False)]
    assert [r["title"] for r in record["cleanup"]] == ["release", "second"]
    assert [r["title"] for r in record["undone"]] == (["undo a"] if fails else [])
    assert json.loads(json.dumps(outcome.as_dict()))["cleanup"][0]["check"] == "release holds"


def test_a_refused_plan_runs_no_step_and_no_cleanup(tmp_path: Path) -> None:
    log: list[str] = []
    plan = replace(_plan([_step(log, "a")], (_step(log, "release"),)), refusals=("no",))
    outcome, record = _run(tmp_path, plan)
    assert log == [] and outcome.status == "refused"
    assert record["undone"] == [] and record["cleanup"] == []
