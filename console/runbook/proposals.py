"""What an upgrade command would do: a Proposal, with the whole runbook as one plan to read.

Each verb's proposal is built here from the site and the runbook's record
(console/runbook/commands.py picks the verb and carries a proposal out):
a new rolling upgrade or A/B rollover with its refusals, the rollback of
an A/B rollover with the count of B's writes to type, a request to pause or
abort the running runbook, or nothing to do and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from console.actions import lock
from console.actions.context import Context
from console.actions.plan import Check, Plan, Step
from console.errors import ActionError
from console.runbook import ab, engine, migrate, rolling, sides, store
from console.ssh import BoxError
from console.state.model import ClusterState
from console.state.runbook import Runbook


@dataclass(frozen=True)
class Proposal:
    """What an upgrade command would do.

    Attributes:
        verb: one of commands.VERBS.
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


async def rolling_proposal(
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
    plan = whole(
        ctx,
        state,
        runbook,
        f"{runbook.title}: {len(runbook.stages)} stages, migration: {migrate.describe(migration)}",
    )
    plan = replace(plan, refusals=(*refusals, *plan.refusals), confirm=release)
    return Proposal("rolling", line, plan, runbook)


async def ab_proposal(
    ctx: Context,
    state: ClusterState,
    stored: Runbook | None,
    release: str,
    b_names: Sequence[str],
    message: str | None,
    line: str,
) -> Proposal:
    b_nodes = rolling.pick_nodes(ctx.inv, b_names)
    refusals = balancer_known(ctx, state)
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
    plan = whole(ctx, state, runbook, said)
    plan = replace(plan, refusals=(*refusals, *why, *plan.refusals), confirm=release)
    return Proposal("ab", line, plan, runbook)


def balancer_known(ctx: Context, state: ClusterState) -> list[str]:
    balancer = ctx.inv.balancer
    if balancer is None:
        return ["cluster.yaml declares no balancer: an upgrade goes through it"]
    if state.balancer is None or not state.answers(balancer.box):
        said = next((a.message for a in state.alarms if a.code.startswith("balancer")), "no answer")
        return [f"the balancer's state is not known now ({said}): an upgrade needs it"]
    return []


async def ab_rollback(ctx: Context, state: ClusterState, stored: Runbook, line: str) -> Proposal:
    """The rollback of an A/B rollover: B's writes since the switch counted, shown, typed."""
    if stored.state == "running":
        why = f"it is running ({stored.describe()}): pause or abort it first"
        return Proposal("rollback", line, nothing("rollback", why))
    try:
        counts = await ab.written(ctx, stored)
        total = sum(counts.values())
        back = ab.rollback(ctx.inv, state, stored, total, lock.who(), engine.ROLLBACK)
    except ActionError as exc:
        return Proposal("rollback", line, nothing("rollback", str(exc)))
    return counted(ctx, state, back, counts, line)


async def ab_rollback_again(
    ctx: Context, state: ClusterState, stored: Runbook, line: str
) -> Proposal:
    """An open A/B rollback carried on, its count (if not done) read again."""
    if stored.state == "running":
        why = f"it is running ({stored.describe()}): pause it first"
        return Proposal("rollback", line, nothing("rollback", why))
    count_stage = next((s for s in stored.stages if s.kind == "count"), None)
    counts: dict[str, int] = {}
    if count_stage is not None and count_stage.status != "done":
        b_db = ctx.inv.database(str(count_stage.args["b_db"]))
        at_switch = [str(v) for v in count_stage.args.get("baseline") or []]
        counts = await sides.written_since(ctx, b_db, at_switch)
    back = ab.recount(stored, sum(counts.values()))
    if ab.at_gate(back):
        back = ab.finish(back)  # B is read-only: the count shown is the final one
    return counted(ctx, state, back, counts, line)


def counted(
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
    plan = whole(ctx, state, back, said)
    return Proposal("rollback", line, replace(plan, confirm=confirm), back)


def ask(line: str, what: str, stored: Runbook | None, live: bool) -> Proposal:
    verb = what
    if stored is None or not live:
        shown = stored.describe() if stored is not None else "no upgrade"
        return Proposal(verb, line, nothing(verb, f"nothing is running to {what}: {shown}"))
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


def nothing(verb: str, why: str) -> Plan:
    return Plan(f"upgrade {verb}", "the site", "nothing is done", (), (why,))


def whole(ctx: Context, state: ClusterState, runbook: Runbook, summary: str) -> Plan:
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
