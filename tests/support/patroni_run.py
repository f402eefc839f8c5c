"""Running Patroni action plans on canned curl output: a fake context and its answers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any, cast

import pytest

from console.actions.context import Context
from console.actions.database import patroni_pause
from console.actions.plan import Check, Plan, Probe
from console.actions.site import checks
from console.probes import http
from console.ssh import RemoteTimeout, Result
from console.state.model import ClusterState
from tests.support import verdict_parts as parts
from tests.support.patroni_parts import answered, fixture


class CannedCtx:
    """Just enough of Context: canned answers to ctx.run, each command kept."""

    def __init__(self, *outputs: str) -> None:
        self.outputs = list(outputs)
        self.sent: list[tuple[str, str]] = []

    async def run(self, box: str, command: str, timeout: float) -> Result:
        self.sent.append((box, command))
        output = self.outputs.pop(0)
        if output == "timeout":
            raise RemoteTimeout(box, "did not finish")
        return Result(0, output, "")

    async def fetch(self, *args: Any) -> http.Answer:
        return await Context.fetch(cast(Context, self), *args)

    def clock(self) -> float:
        return 100.0


async def poll_without_sleeps(ctx: Any, probe: Probe, timeout: float, every: float = 0.25) -> Check:
    """Polls until the probe passes or the canned answers run out."""
    while True:
        check = await probe(ctx)
        if check.ok or not cast(CannedCtx, ctx).outputs:
            return check


def skip_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes pause, restart and reinit poll without sleeping (for an autouse fixture):
    the last two watch through the shared watching step."""
    monkeypatch.setattr(patroni_pause, "poll", poll_without_sleeps)
    monkeypatch.setattr(checks, "poll", poll_without_sleeps)


def run_plan(plan: Plan, ctx: CannedCtx) -> list[Check]:
    """Each step's precondition, act and verification, until one fails."""

    async def go() -> list[Check]:
        checks: list[Check] = []
        for step in plan.steps:
            if step.pre is not None and not (before := await step.pre(cast(Context, ctx))).ok:
                return [*checks, before]
            await step.act(cast(Context, ctx))
            checks.append(await step.verify(cast(Context, ctx)))
            if not checks[-1].ok:
                break
        return checks

    return asyncio.run(go())


def cluster_answer(paused: bool) -> str:
    return answered(
        json.dumps(json.loads(fixture("healthy")) | ({"pause": True} if paused else {}))
    )


def member_answer(started: str = "2026-12-07 12:34:27.281961+00:00", state: str = "running") -> str:
    data = json.loads(fixture("member_replica")) | {
        "postmaster_start_time": started,
        "state": state,
    }
    return answered(json.dumps(data))


LATER = "2026-12-07 12:40:00.000001+00:00"


def with_boxes(state: ClusterState, stale: set[str]) -> ClusterState:
    boxes = tuple(
        parts.box(b.box, stale=True, reason="connection refused") if b.box in stale else b
        for b in state.boxes
    )
    return replace(state, boxes=boxes)
