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

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from console.actions import lock
from console.actions.audit import AuditLog
from console.actions.context import Context
from console.actions.plan import Check, Plan, Step
from console.actions.runner import Journal, Outcome, begin, one, refusal, refused, run_id
from console.authority import Authority
from console.errors import ActionError
from console.runbook import ab, engine, migrate, rolling, sides, store
from console.runbook.node import check_release
from console.ssh import BoxError
from console.state.model import ClusterState
from console.state.runbook import Runbook

AGAIN = "judged again under the lock"
VERBS = ("rolling", "ab", "finish", "resume", "rollback", "pause", "abort")
ROLLBACKS = ("rollback", "ab-rollback")


@dataclass(frozen=True)
class Proposal:
    """What an upgrade command would do.

    Attributes:
        verb: one of VERBS.
        command: the command line that asks for it again.
        plan: the whole of it, to read before saying yes.
        runbook: the runbook it runs (new, stored, or a rollback), or None.
        request: "pause" or "abort" when it only asks the running runbook.
    """

    verb: str
    command: str
    plan: Plan
    runbook: Runbook | None = None
    request: str = ""


def command_line(
    verb: str,
    release: str | None,
    nodes: Sequence[str] | None,
    soak: float | None,
    least: int | None,
) -> str:
    words = ["hotspare", "upgrade", verb]
    if release:
        words += ["--release", release]
    if nodes:
        words += ["--b" if verb == "ab" else "--nodes", ",".join(nodes)]
    if soak is not None:
        words += ["--soak", f"{soak:g}"]
    if least is not None:
        words += ["--min-ready", str(least)]
    return " ".join(words)


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
        return await _rolling(ctx, state, stored, check_release(release), nodes, soak, least, line)
    if verb == "ab":
        if not release or not nodes:
            raise ActionError("upgrade ab needs --release R and --b NODE,NODE (B's nodes)")
        return await _ab(ctx, state, stored, check_release(release), nodes, message, line)
    live = stored is not None and stored.state == "running"
    if verb == "pause":
        return _ask(line, "pause", stored, live)
    if verb == "abort" and live:
        return _ask(line, "abort", stored, live)
    if stored is None:
        return Proposal(verb, line, _nothing(verb, "there is no upgrade to " + verb))
    if live:
        why = f"it is running ({stored.describe()}): pause or abort it first"
        return Proposal(verb, line, _nothing(verb, why))
    if verb == "finish":
        if stored.kind != "ab" or not ab.at_gate(stored):
            why = f"{stored.describe()}: only an A/B rollover waiting with B live can be finished"
            return Proposal(verb, line, _nothing(verb, why))
        done = ab.finish(stored)
        return Proposal(verb, line, _whole(ctx, state, done, f"finish: {stored.title}"), done)
    if stored.kind == "ab-rollback" and stored.open:
        return await _ab_rollback_again(ctx, state, stored, line)
    if verb == "resume" or (stored.kind == "rollback" and stored.open):
        if not stored.open:
            return Proposal(
                verb, line, _nothing(verb, f"{stored.title} is done; nothing to resume")
            )
        return Proposal(
            verb, line, _whole(ctx, state, stored, f"{verb}: {stored.describe()}"), stored
        )
    if stored.kind in ROLLBACKS:
        return Proposal(verb, line, _nothing(verb, f"{stored.title} is done; nothing to roll back"))
    if stored.kind == "ab":
        return await _ab_rollback(ctx, state, stored, line)
    back = rolling.rollback(ctx.inv, state, stored, "", lock.who(), engine.ROLLBACK)
    return Proposal(verb, line, _whole(ctx, state, back, back.title), back)


async def _rolling(
    ctx: Context,
    state: ClusterState,
    stored: Runbook | None,
    release: str,
    nodes: Sequence[str] | None,
    soak: float | None,
    least: int | None,
    line: str,
) -> Proposal:
    picked = rolling.pick_nodes(ctx.inv, nodes)
    refusals: list[str] = []
    balancer = ctx.inv.balancer
    if balancer is None:
        refusals.append("cluster.yaml declares no balancer: a roll takes nodes out through it")
    elif state.balancer is None or not state.answers(balancer.box):
        said = next((a.message for a in state.alarms if a.code.startswith("balancer")), "no answer")
        refusals.append(f"the balancer's state is not known now ({said}): a roll needs it")
    if stored is not None and stored.open:
        refusals.append(
            f"an upgrade is open: {stored.describe()}; "
            f"`{engine.RESUME}` or `{engine.ROLLBACK}` first"
        )
    checks = await asyncio.gather(
        *(migrate.read_manifest(ctx, node, release) for node in picked), return_exceptions=True
    )
    for found in checks:
        if isinstance(found, ActionError | BoxError):
            refusals.append(str(found.reason if isinstance(found, BoxError) else found))
        elif isinstance(found, BaseException):
            raise found
    migration = None
    if not refusals:
        first = checks[0]
        assert not isinstance(first, BaseException)  # else it is among the refusals
        migration = await migrate.declared(ctx, picked[0], release, first)
    runbook = rolling.rolling(
        ctx.inv,
        state,
        release,
        [n.name for n in picked],
        soak,
        least,
        migration,
        "",
        lock.who(),
        line,
    )
    plan = _whole(
        ctx,
        state,
        runbook,
        f"{runbook.title}: {len(runbook.stages)} stages, migration: {migrate.describe(migration)}",
    )
    plan = replace(plan, refusals=(*refusals, *plan.refusals), confirm=release)
    return Proposal("rolling", line, plan, runbook)


async def _ab(
    ctx: Context,
    state: ClusterState,
    stored: Runbook | None,
    release: str,
    b_names: Sequence[str],
    message: str | None,
    line: str,
) -> Proposal:
    b_nodes = rolling.pick_nodes(ctx.inv, b_names)
    refusals = _balancer_known(ctx, state)
    if stored is not None and stored.open:
        refusals.append(
            f"an upgrade is open: {stored.describe()}; finish, resume or roll it back first"
        )
    migration = None
    try:
        manifest = await migrate.read_manifest(ctx, b_nodes[0], release)
        migration = await migrate.declared(ctx, b_nodes[0], release, manifest)
    except ActionError as exc:
        refusals.append(str(exc))
    except BoxError as exc:
        refusals.append(exc.reason)
    runbook, why = ab.rollover(
        ctx.inv, state, release, b_names, message, migration, lock.who(), line
    )
    said = (
        f"{runbook.title}: A = {', '.join(ab.args_of(runbook)['a']) or '?'}, "
        f"B = {', '.join(n.name for n in b_nodes)}; migration: {migrate.describe(migration)}; "
        "it stops with B live and the rollback open (`hotspare upgrade finish` ends it)"
    )
    plan = _whole(ctx, state, runbook, said)
    plan = replace(plan, refusals=(*refusals, *why, *plan.refusals), confirm=release)
    return Proposal("ab", line, plan, runbook)


def _balancer_known(ctx: Context, state: ClusterState) -> list[str]:
    balancer = ctx.inv.balancer
    if balancer is None:
        return ["cluster.yaml declares no balancer: an upgrade goes through it"]
    if state.balancer is None or not state.answers(balancer.box):
        said = next((a.message for a in state.alarms if a.code.startswith("balancer")), "no answer")
        return [f"the balancer's state is not known now ({said}): an upgrade needs it"]
    return []


async def _ab_rollback(ctx: Context, state: ClusterState, stored: Runbook, line: str) -> Proposal:
    """The rollback of an A/B rollover: B's writes since the switch counted, shown, typed."""
    if stored.state == "running":
        why = f"it is running ({stored.describe()}): pause or abort it first"
        return Proposal("rollback", line, _nothing("rollback", why))
    try:
        counts = await ab.written(ctx, stored)
        total = sum(counts.values())
        back = ab.rollback(ctx.inv, state, stored, total, lock.who(), engine.ROLLBACK)
    except ActionError as exc:
        return Proposal("rollback", line, _nothing("rollback", str(exc)))
    return _counted(ctx, state, back, counts, line)


async def _ab_rollback_again(
    ctx: Context, state: ClusterState, stored: Runbook, line: str
) -> Proposal:
    """An open A/B rollback carried on, its count (if not done) read again."""
    if stored.state == "running":
        why = f"it is running ({stored.describe()}): pause it first"
        return Proposal("rollback", line, _nothing("rollback", why))
    count_stage = next((s for s in stored.stages if s.kind == "count"), None)
    counts: dict[str, int] = {}
    if count_stage is not None and count_stage.status != "done":
        b_db = ctx.inv.database(str(count_stage.args["b_db"]))
        at_switch = [str(v) for v in count_stage.args.get("baseline") or []]
        counts = await sides.written_since(ctx, b_db, at_switch)
    back = ab.recount(stored, sum(counts.values()))
    if ab.at_gate(back):
        back = ab.finish(back)  # B is read-only: the count shown is the final one
    return _counted(ctx, state, back, counts, line)


def _counted(
    ctx: Context, state: ClusterState, back: Runbook, counts: dict[str, int], line: str
) -> Proposal:
    """The rollback's plan; the count to type once it is final (B read-only, the gate passed)."""
    count = sum(counts.values())
    said = back.title
    confirm = None
    if any(s.kind == "count" and s.status != "done" for s in back.stages):
        so_far = f"B has written {count} row(s) since the switch ({sides.told(counts)})"
        if ab.past_gate(back):
            confirm = str(count)
            said += (
                f"; {so_far}: A does not have them; B's database is rewound to follow A's, "
                f"its WAL past the fork kept aside. Type {count} to go back to A"
            )
        else:
            said += f"; {so_far}, and takes writes: it goes read-only first, then stops to count"
    plan = _whole(ctx, state, back, said)
    return Proposal("rollback", line, replace(plan, confirm=confirm), back)


def _ask(line: str, what: str, stored: Runbook | None, live: bool) -> Proposal:
    verb = what
    if stored is None or not live:
        shown = stored.describe() if stored is not None else "no upgrade"
        return Proposal(verb, line, _nothing(verb, f"nothing is running to {what}: {shown}"))
    does = {
        "pause": "stops before its next step and keeps the lock (resume carries on)",
        "abort": "stops before its next step, then runs the way back of what it did",
    }[what]

    async def act(ctx: Context) -> str:
        problem = await store.ask(ctx, what)
        if problem:
            raise ActionError(f"could not leave the request: {problem}")
        return f"{what} asked"

    async def verify(ctx: Context) -> Check:
        return Check(True, f"the runner takes it up at its next step boundary: it {does}")

    step = Step(
        title=f"Ask the running upgrade to {what}",
        where="the runbook's request file, beside the action lock",
        command=f"echo {what} > hotspare-runbook.request",
        expects=f"{stored.title} is running",
        proves=f"the request is left; the runner {does}",
        act=act,
        verify=verify,
    )
    plan = Plan(f"upgrade {what}", stored.release, f"{what} {stored.describe()}", (step,))
    return Proposal(what, line, plan, stored, request=what)


def _nothing(verb: str, why: str) -> Plan:
    return Plan(f"upgrade {verb}", "the site", "nothing is done", (), (why,))


def _whole(ctx: Context, state: ClusterState, runbook: Runbook, summary: str) -> Plan:
    """RUNBOOK's stages not done yet as one plan, each step titled with its stage."""
    steps: list[Step] = []
    refusals: list[str] = []
    for stage in runbook.stages:
        if stage.status == "done":
            continue
        try:
            plan = engine.build(ctx.inv, state, stage)
        except ActionError as exc:
            refusals.append(f"{stage.title}: {exc}")
            continue
        skip = engine.carried(stage, plan) if stage.status == "running" else 0
        steps += [replace(s, title=f"{stage.title}: {s.title}") for s in plan.steps[skip:]]
        if stage is runbook.current and plan.refusals:
            refusals += [f"{stage.title}: {r}" for r in plan.refusals]
    return Plan(
        action=f"upgrade {runbook.kind}",
        target=runbook.release,
        summary=summary,
        steps=tuple(steps),
        refusals=tuple(refusals),
        way_back=engine.ROLLBACK if runbook.kind != "rollback" else "",
    )


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


__all__ = ["Proposal", "carry_out", "propose"]
