"""Running a plan: step by step, each verified, stopping at the first failure, always audited.

Observer mode refuses here, in the core, whatever front end asked. A plan
that needs a name typed runs only with that name. Each step's precondition
is checked just before it runs (the site may have moved since planning),
then its command, then its verification; the first step that fails stops
the plan, and the outcome says where the site was left and the way back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from console.actions.audit import AuditLog
from console.actions.context import ActionError, Context
from console.actions.plan import Plan, Step
from console.authority import Authority
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
    for n, step in enumerate(plan.steps, 1):
        ctx.say(f"{n}/{len(plan.steps)} {step.title}")
        result = await _one(step, ctx)
        results.append(result)
        ctx.say(f"{n}/{len(plan.steps)} {'ok' if result.ok else 'FAILED'}: {result.check}")
        if not result.ok:
            left = f"stopped at step {n} ({step.title}): {result.check}"
            if plan.way_back:
                left += f"; way back: {plan.way_back}"
            return Outcome("failed", plan, tuple(results), left)
    return Outcome("done", plan, tuple(results), None)


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
