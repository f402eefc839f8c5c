"""Running a runbook: stage after stage, each planned on a fresh read, every step recorded.

The runner holds the cluster's action lock for the whole run (taken by
console/runbook/commands.py). For each stage not done it reads the site
afresh, builds the stage's plan, and runs its steps through the actions'
own runner (console/actions/runner.py `one`): precondition, command,
verification. Before each step it writes the runbook's record and the lock
(store.sync), and takes up a request left by an operator:

- pause: stop before the next step; the lock is kept, marked paused;
- abort: stop, then run the way back (the rollback of what was done).

A step that fails halts the runbook: the node stage puts its node out of the
balancer again (unless it is the last one serving), the record says what
failed, and the lock is kept, marked halted, for `resume` or `rollback`.
A console killed mid-run leaves the record at the step it began: `resume`
carries on from the first step without a recorded ok (steps are idempotent:
each finds what already holds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from console.actions import lock
from console.actions.catalog import resolve
from console.actions.context import Context
from console.actions.plan import Plan
from console.actions.runner import FRESH_READ, Status, StepResult, one
from console.errors import ActionError
from console.inventory import Inventory
from console.runbook import rolling, store
from console.ssh import BoxError
from console.state.model import ClusterState
from console.state.runbook import Mark, Runbook, Stage

BUILDERS = {
    "migrate": "console.runbook.migrate:plan_migrate",
    "node": "console.runbook.node:plan_node",
    "out": "console.runbook.node:plan_out",
    "read-only": "console.runbook.ab:plan_read_only",
    "detach": "console.runbook.ab_database:plan_detach",
    "test": "console.runbook.ab_site:plan_test",
    "switch": "console.runbook.ab_site:plan_switch",
    "scheduler": "console.runbook.ab:plan_scheduler",
    "warm": "console.runbook.ab_site:plan_warm",
    "gate": "console.runbook.ab:plan_gate",
    "rejoin": "console.runbook.ab:plan_rejoin",
    "settle": "console.runbook.ab_site:plan_settle",
    "back-read-only": "console.runbook.ab_site:plan_back_read_only",
    "count": "console.runbook.ab_database:plan_count",
    "back": "console.runbook.ab_site:plan_back",
    "a-writes": "console.runbook.ab_site:plan_a_writes",
}
RESUME = "hotspare upgrade resume"
ROLLBACK = "hotspare upgrade rollback"
FINISH = "hotspare upgrade finish"


def build(inv: Inventory, state: ClusterState, stage: Stage) -> Plan:
    """STAGE's plan from STATE. Raises ActionError for a stage of an unknown kind."""
    ref = BUILDERS.get(stage.kind)
    if ref is None:
        raise ActionError(f"a runbook stage of kind {stage.kind!r} is not known to this hotspare")
    built: Plan = resolve(ref)(inv, state, stage.args)
    return built


def nexts(runbook: Runbook) -> list[dict[str, str]]:
    """What may take the lock over from this runbook: resume it, or roll it back."""
    gate = runbook.current
    if gate is not None and gate.kind == "gate" and runbook.kind == "ab-rollback":
        # The rollback carried on: it takes over as any resumed runbook does.
        return [{"command": ROLLBACK, "does": "counts B's writes, typed to go on", "key": RESUME}]
    if gate is not None and gate.kind == "gate":
        return [
            {
                "command": FINISH,
                "does": "makes B for good: A's database follows B's",
                "key": FINISH,
            },
            {
                "command": ROLLBACK,
                "does": "counts B's writes, then A is live again",
                "key": ROLLBACK,
            },
        ]
    said = [
        {"command": RESUME, "does": "carries on from the first step not proven done", "key": RESUME}
    ]
    finished = any(s.kind == "gate" and s.status == "done" for s in runbook.stages)
    if runbook.kind not in ("rollback", "ab-rollback") and not finished:
        said.append({"command": ROLLBACK, "does": "returns the nodes it moved", "key": ROLLBACK})
    return said


def carried(stage: Stage, plan: Plan) -> int:
    """How many of PLAN's first steps STAGE's ok marks prove done: the resumed run starts after.

    The plan is built again from a fresh read, and may differ from the one the
    marks were made on (a scheduler move finds the old scheduler already
    stopped, and plans no step for it): only the leading steps it has in
    common with the marks, title for title, count as done.
    """
    count = 0
    for mark, step in zip(stage.marks[: stage.done_steps], plan.steps, strict=False):
        if mark.title != step.title:
            break
        count += 1
    return count


@dataclass
class Run:
    """One run of a runbook by this console: what it did, where it stopped."""

    ctx: Context
    holding: lock.Holding
    runbook: Runbook
    journal: Callable[[dict[str, Any]], None]
    results: list[StepResult]
    status: Status = "done"
    reason: str | None = None
    step_count: int = 0

    async def save(self, title: str, begins: bool = False) -> str:
        """Write the record and the lock (BEGINS: a step begins); the request taken up, or ""."""
        self.step_count += 1 if begins else 0
        try:
            self.runbook, request = await store.sync(
                self.ctx, self.holding, self.runbook, self.step_count, title, nexts(self.runbook)
            )
        except BoxError as exc:
            self.ctx.say(f"could not write the runbook's record: {exc.reason}")
            return ""
        return request

    def stage(self, index: int, **changes: Any) -> Stage:
        stages = list(self.runbook.stages)
        stages[index] = replace(stages[index], **changes)
        self.runbook = replace(self.runbook, stages=tuple(stages))
        return stages[index]


async def drive(run: Run, from_scratch: bool = False) -> Run:
    """Run RUN's runbook from where it stands; RUN says how it ended.

    FROM_SCRATCH: a stage that failed before starts again from its first step
    (the cause may have been fixed anywhere); an interrupted one carries on
    from its first step without an ok mark.
    """
    run.runbook = replace(run.runbook, state="running", problem="", id=run.holding.run)
    await run.save("starting")  # a request left before this run began is not this run's
    while True:
        index = run.runbook.position
        if index >= len(run.runbook.stages):
            break
        if not await _stage(run, index, from_scratch):
            return run
    run.runbook = replace(run.runbook, state="done", problem="")
    await run.save("done")
    return run


async def _stage(run: Run, index: int, from_scratch: bool) -> bool:
    """Run stage INDEX; False when the runbook stopped (paused, halted, aborted)."""
    ctx, stage = run.ctx, run.runbook.stages[index]
    if stage.kind == "gate":  # only `finish` passes it (it marks the gate done)
        run.runbook = replace(run.runbook, state="paused", problem=str(stage.args.get("says")))
        run.status, run.reason = "paused", run.runbook.problem
        await run.save("paused")
        return False
    try:
        state = await ctx.state(FRESH_READ)
        plan = build(ctx.inv, state, stage)
    except ActionError as exc:
        return await _halt(run, index, f"{stage.title}: cannot be planned: {exc}")
    if plan.refusals:
        why = "; ".join(plan.refusals)
        return await _halt(run, index, f"{stage.title}: refused on a fresh read: {why}")
    start = 0 if stage.status == "failed" or from_scratch else carried(stage, plan)
    stage = run.stage(index, status="running", steps=len(plan.steps), marks=stage.marks[:start])
    total = len(plan.steps)
    for n in range(start, total):
        step = plan.steps[n]
        label = f"{stage.title}: {n + 1}/{total} {step.title}"
        if await _requested(run, await run.save(label, begins=True)):
            return False
        ctx.say(label)
        result = await one(step, ctx)
        if ctx.remembered:
            notes = {**run.runbook.notes, **ctx.remembered}
            run.runbook = replace(run.runbook, notes=notes)
            ctx.remembered.clear()
        run.results.append(replace(result, title=f"{stage.title}: {result.title}"))
        run.journal(
            {
                "event": "step",
                "stage": stage.title,
                "step": n + 1,
                "steps": total,
                **result.as_dict(),
            }
        )
        mark = Mark(step.title, result.ok, result.check, round(time.time(), 3))
        stage = run.stage(index, marks=(*stage.marks, mark))
        ctx.say(f"{'ok' if result.ok else 'FAILED'}: {result.check}")
        if not result.ok:
            await _keep_out(run, stage, plan, n, state)
            return await _halt(
                run, index, f"{stage.title}: step {n + 1} ({step.title}) failed: {result.check}"
            )
    run.stage(index, status="done")
    return True


async def _keep_out(
    run: Run, stage: Stage, plan: Plan, failed_at: int, state: ClusterState
) -> None:
    """After a node stage failed at or past switching its node: keep the node out.

    Planned from the stage's own read (STATE): each step judges HAProxy again
    just before it acts, and a hung box is not waited for once more.
    """
    if stage.kind != "node" or failed_at < int(plan.memo.get("out_after", len(plan.steps))):
        return
    from console.runbook.node import keep_out

    try:
        steps = keep_out(run.ctx.inv, state, run.ctx.inv.web_node(str(stage.node)))
    except (ActionError, KeyError) as exc:
        run.ctx.say(f"cannot plan keeping {stage.node} out: {exc}")
        return
    for step in steps:
        run.ctx.say(f"keeping it out: {step.title}")
        result = await one(step, run.ctx)
        run.results.append(replace(result, title=f"keep out: {result.title}"))
        run.journal({"event": "step", "stage": f"keep {stage.node} out", **result.as_dict()})
        run.ctx.say(f"{'ok' if result.ok else 'FAILED'}: {result.check}")


async def _halt(run: Run, index: int, why: str) -> bool:
    run.stage(index, status="failed")
    run.runbook = replace(run.runbook, state="halted", problem=why)
    run.status, run.reason = "failed", why
    await run.save("halted")
    return False


async def _requested(run: Run, request: str) -> bool:
    """Take up REQUEST; True when the run must stop here."""
    if request == "pause":
        run.runbook = replace(run.runbook, state="paused", problem="paused by an operator")
        run.status, run.reason = "paused", "paused before the next step, as asked"
        await run.save("paused")
        return True
    if request == "abort":
        await _abort(run)
        return True
    return False


async def _abort(run: Run) -> None:
    """Replace the runbook by its rollback and run that, under the same lock."""
    ctx = run.ctx
    ctx.say("abort asked: running the way back of what was done")
    try:
        state = await ctx.state(FRESH_READ)
        if run.runbook.kind == "ab":
            from console.runbook import ab

            shown = sum((await ab.written(ctx, run.runbook)).values())
            back = ab.rollback(ctx.inv, state, run.runbook, shown, run.runbook.who, ROLLBACK)
            back = replace(back, id=run.holding.run)
        else:
            back = rolling.rollback(
                ctx.inv, state, run.runbook, run.holding.run, run.runbook.who, ROLLBACK
            )
    except ActionError as exc:
        run.runbook = replace(run.runbook, state="halted", problem=f"abort asked, but {exc}")
        run.status, run.reason = "failed", run.runbook.problem
        await run.save("halted")
        return
    undone = run.runbook.title
    run.runbook = back
    await drive(run)
    if run.status == "done":
        run.status, run.reason = "failed", f"aborted: {undone} was rolled back"
