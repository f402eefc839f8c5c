"""Running a plan: one action at a time, judged again under the lock, intent before act.

Observer mode refuses here, in the core, whatever front end asked. A plan
that needs a name typed runs only with that name. Then, in this order:

1. the cluster's action lock is taken (console/actions/lock.py): another
   action running, or one interrupted that this is not a way out of, refuses
   at once, naming it;
2. the plan is built again from a fresh read of the site, under the lock:
   what was shown may be seconds old, what runs is judged now;
3. the intent (the plan, this run's id) is appended to the audit log and
   fsynced: if that fails, nothing is done;
4. each step: the lock is rewritten with the step reached and the command
   that would finish the run from there; the step's precondition is checked
   just before it runs, then its command, then its verification; its result
   is appended to the audit log as it ends. The first step that fails stops
   the plan; the outcome says where the site was left and the way out.

A step may carry its undo: when a later step fails, the steps done so far
are put back in reverse order, unless a step marked ``no_return`` has
begun (after a promotion, starting the old primary again would be split
brain). A plan's ``always`` steps run at the end whatever happened.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal

from console.actions import lock
from console.actions.audit import AuditLog
from console.actions.context import Context
from console.actions.plan import Plan, Step
from console.actions.request import Request, ways_out
from console.authority import Authority
from console.errors import ActionError
from console.probes.haproxy import BalancerProbeError
from console.ssh import BoxError
from console.state.lock import ActionLock, Next

FRESH_READ = 6.0  # seconds the read under the lock may take; a box slower than that is stale

Status = Literal["done", "failed", "refused", "paused"]


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
    run: str = ""
    audit_problem: str | None = None

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
            "way_back": self.plan.way_back if self.status == "failed" else "",
            "run": self.run,
            "audit_problem": self.audit_problem,
        }


def refusal(
    plan: Plan, authority: Authority, typed: str | None, approved: bool = True
) -> str | None:
    """Why PLAN may not run now, or None."""
    if authority.observer:
        return f"observer mode ({authority.why}); nothing changed"
    if plan.refusals:
        return "; ".join(plan.refusals) + "; nothing changed"
    if plan.confirm is not None and typed != plan.confirm:
        return f"this needs {plan.confirm!r} typed to go ahead; nothing changed"
    if not approved:
        return "not confirmed by the operator; nothing changed"
    return None


async def execute(
    request: Request,
    plan: Plan,
    ctx: Context,
    authority: Authority,
    audit: AuditLog,
    typed: str | None = None,
    approved: bool = True,
) -> Outcome:
    """Run REQUEST, whose plan the operator saw as PLAN (unless refused); audit each part.

    Args:
        typed: what the operator typed where the plan asks for a name.
        approved: False when the operator did not say yes (refused, and audited).
    """
    why = refusal(plan, authority, typed, approved)
    if why is not None:
        return refused(plan, why, audit)
    if not request.locked:
        return await _audited(request, plan, ctx, audit, None)
    nexts = [n.as_dict() for n in ways_out(request, plan, past_return=False)]
    fields = lock.record(request.action, request.target, request.command, len(plan.steps), nexts)
    fields["memo"] = dict(plan.memo)  # the fresh plan's replaces it before the first step
    try:
        holding, interrupted = await lock.take(ctx, fields, request.key)
    except lock.LockRefused as exc:
        return refused(plan, f"{exc}; nothing changed", audit)
    except BoxError as exc:
        return refused(plan, f"cannot take the cluster's action lock: {exc.reason}", audit)
    try:
        fresh = await _fresh(ctx, request, interrupted)
        if isinstance(fresh, str):
            return refused(plan, fresh, audit, holding.run)
        why = refusal(fresh, authority, typed)
        if why is not None:
            return refused(fresh, f"judged again under the lock, on a fresh read: {why}", audit)
        holding.record.update(steps=len(fresh.steps), memo=dict(fresh.memo))
        return await _audited(request, fresh, ctx, audit, holding)
    finally:
        left = await holding.release(ctx)
        if left is not None:
            ctx.say(left)


async def _fresh(ctx: Context, request: Request, interrupted: ActionLock | None) -> Plan | str:
    """REQUEST planned again on a fresh read, resuming INTERRUPTED if it is the same command."""
    if interrupted is not None:
        ctx.say(f"taking over from {interrupted.describe()}")
    try:
        state = await ctx.state(FRESH_READ)
        same = interrupted is not None and request.finishes(interrupted)
        return request.build(state, interrupted.memo if same and interrupted else None)
    except ActionError as exc:
        return f"judged again under the lock, on a fresh read: {exc}; nothing changed"


def refused(plan: Plan, why: str, audit: AuditLog, run: str = "") -> Outcome:
    """A refusal of PLAN, audited (nothing was done)."""
    outcome = Outcome("refused", plan, (), why, run=run or run_id())
    try:
        audit.append({"event": "outcome", **outcome.as_dict()})
    except OSError as exc:
        return replace(outcome, audit_problem=_cannot(audit, exc))
    return outcome


def _cannot(audit: AuditLog, exc: OSError) -> str:
    return f"the audit log {audit.path} cannot be written: {exc.strerror or exc}"


def run_id() -> str:
    return uuid.uuid4().hex[:12]


def begin(audit: AuditLog, run: str, plan: Plan, command: str) -> Journal | Outcome:
    """Append and fsync the intent of RUN; its journal, or the refusal when that fails."""
    head = {"run": run, "action": plan.action, "target": plan.target}
    try:
        audit.append({"event": "intent", **head, "command": command, "plan": plan.as_dict()})
    except OSError as exc:
        why = f"{_cannot(audit, exc)}; nothing changed (fix it, or set $HOTSPARE_AUDIT)"
        return Outcome("refused", plan, (), why, run=run, audit_problem=why)
    return Journal(audit, head)


async def _audited(
    request: Request, plan: Plan, ctx: Context, audit: AuditLog, holding: lock.Holding | None
) -> Outcome:
    """Intent first, then the steps, each result appended as it ends, then the outcome."""
    run = holding.run if holding is not None else run_id()
    journal = begin(audit, run, plan, request.command)
    if isinstance(journal, Outcome):
        return journal
    outcome = await _steps(request, plan, ctx, holding, journal)
    return journal.end(outcome)


class Journal:
    """Appends a running action's records; a failure to write is kept, not raised mid-action."""

    def __init__(self, audit: AuditLog, head: dict[str, Any]) -> None:
        self.audit = audit
        self.head = head
        self.problem: str | None = None

    def append(self, record: dict[str, Any]) -> None:
        try:
            self.audit.append({**record, **self.head})
        except OSError as exc:
            self.problem = _cannot(self.audit, exc) + " during the action: its records are partial"

    def end(self, outcome: Outcome, **more: Any) -> Outcome:
        """Append OUTCOME (and MORE); it, with the journal's problem if any."""
        self.append({"event": "outcome", **outcome.as_dict(), **more})
        return replace(outcome, audit_problem=self.problem) if self.problem else outcome


async def _steps(
    request: Request,
    plan: Plan,
    ctx: Context,
    holding: lock.Holding | None,
    journal: Journal,
) -> Outcome:
    results: list[StepResult] = []
    status: Status = "done"
    left: str | None = None
    undone: tuple[StepResult, ...] = ()
    past_return = False
    total = len(plan.steps)
    for n, step in enumerate(plan.steps, 1):
        ctx.say(f"{n}/{total} {step.title}")
        past_return = past_return or step.no_return
        if holding is not None:
            lost = await _at_step(holding, ctx, n, step, ways_out(request, plan, past_return))
            if lost is not None:
                result = StepResult(step.title, False, "", lost, 0.0)
                results.append(result)
                status, left = "failed", f"stopped before step {n} ({step.title}): {lost}"
                break
        result = await one(step, ctx)
        results.append(result)
        journal.append({"event": "step", "step": n, "steps": total, **result.as_dict()})
        ctx.say(f"{n}/{total} {'ok' if result.ok else 'FAILED'}: {result.check}")
        if not result.ok:
            status, left = "failed", f"stopped at step {n} ({step.title}): {result.check}"
            if not past_return:
                undone = await _undo(plan.steps[:n], ctx)
            left += _after_failure(request, plan, undone, past_return)
            break
    cleanup = []
    for step in plan.always:
        ctx.say(f"finally: {step.title}")
        cleanup.append(await one(step, ctx))
        ctx.say(f"finally {'ok' if cleanup[-1].ok else 'FAILED'}: {cleanup[-1].check}")
    run = holding.run if holding is not None else str(journal.head["run"])
    return Outcome(status, plan, tuple(results), left, undone, tuple(cleanup), run)


async def _at_step(
    holding: lock.Holding, ctx: Context, n: int, step: Step, nexts: list[Next]
) -> str | None:
    """Write step N into the lock; why the run must stop, or None.

    Only a lock taken over or removed stops the run. A lock box that does not
    answer does not: the step may still be needed to leave the site whole,
    and the run's own steps say what they find.
    """
    try:
        await holding.at_step(ctx, n, step.title, [x.as_dict() for x in nexts])
    except lock.LockRefused as exc:
        return str(exc)
    except BoxError as exc:
        ctx.say(f"could not record step {n} in the action lock: {exc.reason}")
    return None


async def _undo(done: tuple[Step, ...], ctx: Context) -> tuple[StepResult, ...]:
    """Put back the steps in DONE, last first (the failed one too: undos are idempotent)."""
    results = []
    for step in reversed(done):
        if step.undo is not None:
            ctx.say(f"putting back: {step.undo.title}")
            results.append(await one(step.undo, ctx))
            ctx.say(f"put back {'ok' if results[-1].ok else 'FAILED'}: {results[-1].check}")
    return tuple(results)


def _after_failure(
    request: Request, plan: Plan, undone: tuple[StepResult, ...], past_return: bool
) -> str:
    """Where the failure left the site, and the commands out of it from there."""
    said = ""
    if undone:
        failed = [r for r in undone if not r.ok]
        said += "; put back: " + ", ".join(r.title for r in undone)
        if failed:
            said += "; NOT put back: " + ", ".join(f"{r.title} ({r.check})" for r in failed)
    if past_return:
        said += "; past the point of no return, nothing was put back"
        said += f"; to finish it once the cause is fixed: {request.command}"
    if plan.way_back and (past_return or not undone or any(not r.ok for r in undone)):
        said += f"; way back: {plan.way_back}"
    return said


async def one(step: Step, ctx: Context) -> StepResult:
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
