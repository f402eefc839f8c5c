"""Running a plan: step by step, each verified, stopping at the first failure, always audited.

Observer mode refuses here, in the core, whatever front end asked. A plan
that needs a name typed runs only with that name. Each step's precondition
is checked just before it runs (the site may have moved since planning),
then its command, then its verification; the first step that fails stops
the plan, and the outcome says where the site was left and the way back.

A step may carry its undo: when a later step fails, the steps done so far
are put back in reverse order, unless a step marked ``no_return`` has
begun (after a promotion, starting the old primary again would be split
brain). A plan's ``always`` steps run at the end whatever happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from console.actions.audit import AuditLog
from console.actions.context import Context
from console.actions.plan import Plan, Step
from console.authority import Authority
from console.errors import ActionError
from console.probes.haproxy import BalancerProbeError
from console.ssh import BoxError

Status = Literal["done", "failed", "refused"]


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    title: str
    ok: bool
    answer: str
    check: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "ok": self.ok,
            "answer": self.answer,
            "check": self.check,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Outcome:
    """How an action ended."""

    status: Status
    plan: Plan
    results: tuple[StepResult, ...]
    reason: str | None
    undone: tuple[StepResult, ...] = ()
    cleanup: tuple[StepResult, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.plan.action,
            "target": self.plan.target,
            "outcome": self.status,
            "reason": self.reason,
            "plan": self.plan.as_dict(),
            "steps": [result.as_dict() for result in self.results],
            "undone": [result.as_dict() for result in self.undone],
            "cleanup": [result.as_dict() for result in self.cleanup],
            "way_back": self.plan.way_back,
        }


def refusal(
    plan: Plan, authority: Authority, typed: str | None, approved: bool = True
) -> str | None:
    """Why PLAN may not run now, or None."""
    if authority.observer:
        return f"observer mode ({authority.why}); nothing changed"
    if plan.refusals:
        return "; ".join(plan.refusals)
    if plan.confirm is not None and typed != plan.confirm:
        return f"this needs {plan.confirm!r} typed to go ahead; nothing changed"
    if not approved:
        return "not confirmed by the operator; nothing changed"
    return None


async def execute(
    plan: Plan,
    ctx: Context,
    authority: Authority,
    audit: AuditLog,
    typed: str | None = None,
    approved: bool = True,
) -> Outcome:
    """Run PLAN (unless refused) and append its record to AUDIT.

    Args:
        typed: what the operator typed where the plan asks for a name.
        approved: False when the operator did not say yes (refused, and audited).

    Raises:
        OSError: the audit log cannot be written (after the action ran).
    """
    why = refusal(plan, authority, typed, approved)
    if why is not None:
        outcome = Outcome("refused", plan, (), why)
    else:
        outcome = await _steps(plan, ctx)
    audit.append(outcome.as_dict())
    return outcome


async def _steps(plan: Plan, ctx: Context) -> Outcome:
    results: list[StepResult] = []
    status: Status = "done"
    left: str | None = None
    undone: tuple[StepResult, ...] = ()
    past_return = False
    for n, step in enumerate(plan.steps, 1):
        ctx.say(f"{n}/{len(plan.steps)} {step.title}")
        past_return = past_return or step.no_return
        result = await _one(step, ctx)
        results.append(result)
        ctx.say(f"{n}/{len(plan.steps)} {'ok' if result.ok else 'FAILED'}: {result.check}")
        if not result.ok:
            status, left = "failed", f"stopped at step {n} ({step.title}): {result.check}"
            if not past_return:
                undone = await _undo(plan.steps[:n], ctx)
            left += _after_failure(plan, undone, past_return)
            break
    cleanup = []
    for step in plan.always:
        ctx.say(f"finally: {step.title}")
        cleanup.append(await _one(step, ctx))
        ctx.say(f"finally {'ok' if cleanup[-1].ok else 'FAILED'}: {cleanup[-1].check}")
    return Outcome(status, plan, tuple(results), left, undone, tuple(cleanup))


async def _undo(done: tuple[Step, ...], ctx: Context) -> tuple[StepResult, ...]:
    """Put back the steps in DONE, last first (the failed one too: undos are idempotent)."""
    results = []
    for step in reversed(done):
        if step.undo is not None:
            ctx.say(f"putting back: {step.undo.title}")
            results.append(await _one(step.undo, ctx))
            ctx.say(f"put back {'ok' if results[-1].ok else 'FAILED'}: {results[-1].check}")
    return tuple(results)


def _after_failure(plan: Plan, undone: tuple[StepResult, ...], past_return: bool) -> str:
    said = ""
    if undone:
        failed = [r for r in undone if not r.ok]
        said += "; put back: " + ", ".join(r.title for r in undone)
        if failed:
            said += "; NOT put back: " + ", ".join(f"{r.title} ({r.check})" for r in failed)
    if past_return:
        said += "; past the point of no return, nothing was put back"
    if plan.way_back and (past_return or not undone or any(not r.ok for r in undone)):
        said += f"; way back: {plan.way_back}"
    return said


async def _one(step: Step, ctx: Context) -> StepResult:
    started = time.monotonic()
    answer = ""
    try:
        if step.pre is not None:
            before = await step.pre(ctx)
            if not before.ok:
                detail = f"precondition not met: {before.detail}"
                return StepResult(step.title, False, "", detail, time.monotonic() - started)
        answer = await step.act(ctx)
        check = await step.verify(ctx)
    except (ActionError, BoxError, BalancerProbeError) as exc:
        reason = exc.reason if isinstance(exc, BoxError) else str(exc)
        return StepResult(step.title, False, answer, reason, time.monotonic() - started)
    return StepResult(step.title, check.ok, answer, check.detail, time.monotonic() - started)
