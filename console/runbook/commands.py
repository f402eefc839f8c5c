"""The upgrade commands, front-end neutral: what each would do (a plan to read), then doing it.

`propose` reads the site and the runbook's record and returns a Proposal:
the whole runbook as one plan (every stage's steps, built from the
snapshot), its refusals and what must be typed. `carry_out` runs it the way
every action runs: refused for an observer or without the confirmation,
then under the cluster's action lock, judged again on a fresh read, the
intent audited before anything changes, each step audited as it ends.

- rolling: a new runbook; refused while another one is open.
- resume: the open runbook (paused, halted or interrupted) from where it stands.
- rollback: a runbook returning the nodes an upgrade moved; an open rollback resumes.
- pause: a request the running runbook takes up before its next step.
- abort: a request while it runs (it stops, then rolls back); once stopped, a rollback.
- ab: an A/B rollover (console/runbook/ab.py); it stops at its gate, B live.
- finish: the rollover past its gate: A's database follows B's, for good.
  Its rollback first counts the writes only B has; that count must be typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from console.actions import lock
from console.actions.audit import AuditLog
from console.actions.context import Context
from console.actions.runner import Journal, Outcome, begin, one, refusal, refused, run_id
from console.authority import Authority
from console.errors import ActionError
from console.runbook import ab, engine, rolling, store
from console.runbook.node import check_release
from console.runbook.proposals import (
    Proposal,
    ab_proposal,
    ab_rollback,
    ab_rollback_again,
    ask,
    command_line,
    nothing,
    rolling_proposal,
    whole,
)
from console.ssh import BoxError
from console.state.model import ClusterState

AGAIN = "judged again under the lock"
VERBS = ("rolling", "ab", "finish", "resume", "rollback", "pause", "abort")
ROLLBACKS = ("rollback", "ab-rollback")


async def propose(
    ctx: Context,
    state: ClusterState,
    verb: str,
    release: str | None = None,
    nodes: Sequence[str] | None = None,
    soak: float | None = None,
    least: int | None = None,
    message: str | None = None,
) -> Proposal:
    """What VERB would do now. Raises ActionError for input that cannot be planned.

    NODES: the nodes to roll (rolling), or B's nodes (ab).
    """
    if verb not in VERBS:
        raise ActionError(f"upgrade {verb!r}: expected one of {', '.join(VERBS)}")
    line = command_line(verb, release, nodes, soak, least)
    _, stored = await store.load(ctx)
    if verb == "rolling":
        if not release:
            raise ActionError("upgrade rolling needs --release R")
        return await rolling_proposal(
            ctx, state, stored, check_release(release), nodes, soak, least, line
        )
    if verb == "ab":
        if not release or not nodes:
            raise ActionError("upgrade ab needs --release R and --b NODE,NODE (B's nodes)")
        return await ab_proposal(ctx, state, stored, check_release(release), nodes, message, line)
    live = stored is not None and stored.state == "running"
    if verb == "pause":
        return ask(line, "pause", stored, live)
    if verb == "abort" and live:
        return ask(line, "abort", stored, live)
    if stored is None:
        return Proposal(verb, line, nothing(verb, "there is no upgrade to " + verb))
    if live:
        why = f"it is running ({stored.describe()}): pause or abort it first"
        return Proposal(verb, line, nothing(verb, why))
    if verb == "finish":
        if stored.kind != "ab" or not ab.at_gate(stored):
            why = f"{stored.describe()}: only an A/B rollover waiting with B live can be finished"
            return Proposal(verb, line, nothing(verb, why))
        done = ab.finish(stored)
        return Proposal(verb, line, whole(ctx, state, done, f"finish: {stored.title}"), done)
    if stored.kind == "ab-rollback" and stored.open:
        return await ab_rollback_again(ctx, state, stored, line)
    if verb == "resume" or (stored.kind == "rollback" and stored.open):
        if not stored.open:
            return Proposal(verb, line, nothing(verb, f"{stored.title} is done; nothing to resume"))
        return Proposal(
            verb, line, whole(ctx, state, stored, f"{verb}: {stored.describe()}"), stored
        )
    if stored.kind in ROLLBACKS:
        return Proposal(verb, line, nothing(verb, f"{stored.title} is done; nothing to roll back"))
    if stored.kind == "ab":
        return await ab_rollback(ctx, state, stored, line)
    back = rolling.rollback(ctx.inv, state, stored, "", lock.who(), engine.ROLLBACK)
    return Proposal(verb, line, whole(ctx, state, back, back.title), back)


async def carry_out(
    proposal: Proposal,
    ctx: Context,
    authority: Authority,
    audit: AuditLog,
    typed: str | None = None,
    approved: bool = True,
) -> Outcome:
    """Do what PROPOSAL says, as an operator confirmed it."""
    plan = proposal.plan
    why = refusal(plan, authority, typed, approved)
    if why is not None:
        return refused(plan, why, audit)
    if proposal.request:
        result = await one(plan.steps[0], ctx)
        asked = Outcome("done", plan, (result,), None, run=run_id())
        if not result.ok:
            asked = replace(asked, status="failed", reason=result.check)
        journal = Journal(audit, {"run": asked.run, "action": plan.action, "target": plan.target})
        return journal.end(asked)
    assert proposal.runbook is not None
    return await _run(proposal, ctx, audit)


async def _run(proposal: Proposal, ctx: Context, audit: AuditLog) -> Outcome:
    plan, runbook = proposal.plan, proposal.runbook
    assert runbook is not None
    # A stored runbook (it has an id) is carried on; a new one is started.
    if proposal.verb == "finish":
        key = engine.FINISH
    elif runbook.id:
        key = engine.RESUME
    elif proposal.verb in ("rolling", "ab"):
        key = f"hotspare upgrade {proposal.verb}"
    else:
        key = engine.ROLLBACK
    fields = lock.record(
        "upgrade", runbook.release, proposal.command, len(plan.steps), engine.nexts(runbook)
    )
    try:
        holding, interrupted = await lock.take(ctx, fields, key)
    except lock.LockRefused as exc:
        return refused(plan, f"{exc}; nothing changed", audit)
    except BoxError as exc:
        return refused(plan, f"cannot take the cluster's action lock: {exc.reason}", audit)
    try:
        if interrupted is not None:
            ctx.say(f"taking over from {interrupted.describe()}")
        judged = await _judged_again(ctx, proposal)
        if judged is not None:
            return refused(plan, judged, audit, holding.run)
        journal = begin(audit, holding.run, plan, proposal.command)
        if isinstance(journal, Outcome):
            return journal
        run = engine.Run(ctx, holding, replace(runbook, id=holding.run), journal.append, [])
        try:
            await engine.drive(run, from_scratch=runbook.state == "halted")
        except lock.LockRefused as exc:
            run.status, run.reason = "failed", f"stopped: {exc}"
        outcome = Outcome(run.status, plan, tuple(run.results), _where(run), run=holding.run)
        outcome = journal.end(outcome, runbook=run.runbook.as_dict())
        if run.runbook.state in ("paused", "halted"):
            left = await holding.leave(ctx, run.runbook.state, engine.nexts(run.runbook))
            if left:
                ctx.say(left)
        return outcome
    finally:
        left = await holding.release(ctx)
        if left is not None:
            ctx.say(left)


async def _judged_again(ctx: Context, proposal: Proposal) -> str | None:
    """Why the proposal may not run after all, on a fresh read under the lock; or None."""
    try:
        _, stored = await store.load(ctx)
    except BoxError as exc:
        return f"cannot read the runbook's record under the lock: {exc.reason}; nothing changed"
    if proposal.verb in ("rolling", "ab"):
        if stored is not None and stored.open:
            return f"{AGAIN}: an upgrade is open: {stored.describe()}; nothing changed"
        return None
    runbook = proposal.runbook
    assert runbook is not None
    carried_on = bool(runbook.id)  # the stored one; a new rollback has no id yet
    if carried_on and (stored is None or stored.id != runbook.id or not stored.open):
        return f"{AGAIN}: the runbook changed since the plan was shown; plan again"
    if proposal.verb == "finish" and stored is not None and not ab.at_gate(stored):
        return f"{AGAIN}: {stored.describe()} is not waiting at its gate any more; plan again"
    return None


def _where(run: engine.Run) -> str | None:
    rb = run.runbook
    if run.status == "done":
        return None
    said = run.reason or rb.problem
    if rb.state == "halted":
        said += (
            f"; the site serves on the other nodes. Ways on: `{engine.ROLLBACK}`, "
            f"or fix the cause and `{engine.RESUME}`"
            if rb.kind not in ROLLBACKS
            else f"; fix the cause and `{engine.RESUME}`"
        )
    elif rb.state == "paused" and ab.at_gate(rb) and rb.kind == "ab-rollback":
        pass  # the gate's own words say the way on
    elif rb.state == "paused" and ab.at_gate(rb):
        said += f"; `{engine.FINISH}` makes it for good, `{engine.ROLLBACK}` goes back to A"
    elif rb.state == "paused":
        said += f"; `{engine.RESUME}` carries on, `hotspare upgrade abort` rolls back"
    return said


__all__ = ["carry_out", "propose"]
