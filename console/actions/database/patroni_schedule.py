"""A switchover Patroni carries out by itself at a set time, and cancelling one.

`hotspare patroni switchover MEMBER --at TIME` asks Patroni what `patronictl
switchover --scheduled` asks: ``POST /switchover`` with the leader, the
candidate and ``scheduled_at`` (ISO 8601, with its zone). Patroni writes the
request into the DCS and answers 202; at TIME the leader's Patroni checks the
switchover again and carries it out, or refuses: it then says why in its log
and deletes the schedule. hotspare checks today's switchover conditions
(console/actions/database/patroni.py) when it plans, and reads ``/cluster``
until it shows the schedule. Without --at the command is `hotspare promote
MEMBER` on a Patroni cluster, the same plan.

`hotspare patroni cancel-switchover` asks ``DELETE /switchover`` (what
`patronictl flush CLUSTER switchover` asks), having read ``/cluster`` first,
and reads it until no switchover is scheduled.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from console.actions.context import Context
from console.actions.database.patroni import (
    conditions,
    judged,
    managed,
    plan_switchover,
    read_view,
)
from console.actions.database.patroni_pause import asker, current
from console.actions.plan import Check, Condition, Plan, Step, poll, refused
from console.actions.site import inputs
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.probes import http
from console.probes.patroni_api import patroni_api
from console.state.model import ClusterState
from console.state.patroni import PatroniView, ScheduledSwitchover
from console.text import one_line
from console.units import age

SWITCHOVER = "patroni switchover"
CANCEL = "patroni cancel-switchover"
TARGET = "the site"
REQUEST_TIMEOUT = 10.0
"""curl's --max-time for ``POST`` and ``DELETE /switchover``: Patroni writes one key in the DCS."""
SETTLE = 15.0
"""How long ``/cluster`` may take to show the schedule, or no schedule."""


def parse_at(given: str, now: datetime | None = None) -> datetime:
    """Read --at in the time grammar (console/when.py), looking ahead, to the second.

    A duration counts from now and a bare clock time is the next one; times
    without a zone are in the console's local zone, a trailing "UTC" makes
    them UTC. Unlike --until (a page's promise, to the minute), the moment is
    kept to the second, rounded up.

    Raises:
        ActionError: the text is not a time, or the time is now or has passed.
    """
    now = (now or datetime.now(UTC)).astimezone()
    return inputs.ahead("--at", given, now, timedelta(seconds=1), shown)


def shown(at: datetime) -> str:
    """AT as the plan and its outcome show it: "2026-12-07 14:30:15 UTC"."""
    return at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def plan_patroni_switchover(
    inv: Inventory, state: ClusterState, member: str, at: datetime | None = None
) -> Plan:
    """The plan to have Patroni hand the leader to MEMBER: now, or by itself at AT."""
    if at is None:
        return replace(plan_switchover(inv, state, member), action=SWITCHOVER)
    cfg = managed(inv, member)
    view = state.patroni
    conds = [
        *conditions(view, cfg, switchover=True),
        _ahead(at, state.taken_at),
        _answers(state, cfg),
    ]
    refusals = tuple(c.detail for c in conds if not c.ok)
    if refusals or view is None or len(view.leaders) != 1:
        return refused(SWITCHOVER, member, conds, refusals)
    old = view.leaders[0].name
    summary = (
        f"Patroni hands the leader from {old} to {member} by itself at {shown(at)}: it stops "
        f"{old} cleanly, promotes {member} once caught up, and {old} follows it as a replica "
        "(writes stop for a few seconds then). The conditions below hold now; Patroni checks "
        f"its own again at that time and may refuse then: it says why in {old}'s Patroni log, "
        "no switchover happens, and the schedule is gone (the console's Patroni line no "
        "longer shows 'switchover')"
    )
    return Plan(
        SWITCHOVER,
        member,
        summary,
        (_schedule(cfg, old, at),),
        (),
        member,
        "hotspare patroni cancel-switchover (before that time)",
        tuple(conds),
    )


def plan_cancel_switchover(inv: Inventory, state: ClusterState) -> Plan:
    """The plan to have Patroni forget the switchover it has scheduled."""
    cfg = asker(inv, state)
    view = state.patroni
    conds = [current(view), _answers(state, cfg)]
    planned = view.scheduled_switchover if view is not None and view.problem is None else None
    if view is not None and view.problem is None:
        conds.append(
            Condition(
                "a switchover is scheduled",
                planned is not None,
                _described(planned)
                if planned is not None
                else "Patroni has no switchover scheduled (read from /cluster): there is "
                "nothing to cancel",
            )
        )
    refusals = tuple(c.detail for c in conds if not c.ok)
    if refusals or planned is None:
        return refused(CANCEL, TARGET, conds, refusals)
    stays = f"; {planned.leader} stays the leader" if planned.leader else ""
    summary = f"Patroni forgets its switchover ({_described(planned)}): none happens then{stays}"
    back = (
        f"hotspare patroni switchover {shlex.quote(planned.candidate)} "
        f"--at {shlex.quote(planned.at)} (while that time is ahead)"
        if planned.candidate
        else ""
    )
    return Plan(CANCEL, TARGET, summary, (_cancel(cfg),), (), None, back, tuple(conds))


def _described(planned: ScheduledSwitchover) -> str:
    return f"at {planned.at}, {planned.leader or '?'} to {planned.candidate or 'any replica'}"


def _ahead(at: datetime, now: float) -> Condition:
    left = at.timestamp() - now
    if left <= 0:
        return Condition("the time is ahead", False, f"{shown(at)} has passed: give a time ahead")
    return Condition("the time is ahead", True, f"{shown(at)}, in {age(left)}")


def _answers(state: ClusterState, cfg: Database) -> Condition:
    what = f"{cfg.box} answers (Patroni is asked from there)"
    if state.answers(cfg.box):
        return Condition(what, True, "its SSH link is up")
    fresh = state.freshness(cfg.box)
    why = fresh.reason if fresh is not None and fresh.reason else "no current data"
    return Condition(what, False, f"{cfg.box} does not answer ({why}): see `hotspare status`")


def _request(cfg: Database, method: str, body: dict[str, str] | None = None) -> http.Request:
    """METHOD /switchover to CFG's Patroni, as curl on CFG's box makes it (TLS, password)."""
    return patroni_api(cfg).request(method, "switchover", REQUEST_TIMEOUT, body)


def _problem(cfg: Database, answer: http.Answer, request: http.Request) -> str | None:
    """Why ANSWER to REQUEST is no answer from CFG's Patroni, or its 401 or 403; else None."""
    return patroni_api(cfg).problem(answer, request.url)


def scheduled_as_asked(view: PatroniView, old: str, candidate: str, at: datetime) -> Check:
    """Whether VIEW shows the switchover from OLD to CANDIDATE at AT (or it has happened)."""
    planned = view.scheduled_switchover
    if planned is None:
        leaders = [m.name for m in view.leaders]
        if leaders == [candidate]:
            return Check(True, f"the time came already: {candidate} leads")
        return Check(False, "/cluster shows no switchover scheduled")
    said = f"/cluster shows a switchover {_described(planned)}"
    try:
        same = datetime.fromisoformat(planned.at) == at
    except ValueError:
        same = False
    return Check(same and (planned.leader, planned.candidate) == (old, candidate), said)


def _schedule(cfg: Database, old: str, at: datetime) -> Step:
    """POST /switchover with the time; then /cluster until it shows the schedule."""
    name = cfg.name
    body = {"leader": old, "candidate": name, "scheduled_at": at.isoformat(timespec="seconds")}
    request = _request(cfg, "POST", body)

    async def pre(ctx: Context) -> Check:
        view = await read_view(ctx, cfg)
        failed = [c.detail for c in conditions(view, cfg, switchover=True) if not c.ok]
        leaders = [m.name for m in view.leaders]
        if leaders != [old]:
            failed.append(f"the leader is {', '.join(leaders) or 'none'} now, not {old}")
        if at.timestamp() <= ctx.clock():
            failed.append(f"{shown(at)} has passed while planning: give a time further ahead")
        return Check(not failed, "; ".join(failed) or "Patroni's view still allows it")

    async def act(ctx: Context) -> str:
        answer = await ctx.fetch(cfg.box, request)
        said = one_line(answer.body, 160) or "no reason given"
        if answer.exit == 28:
            return f"no answer from Patroni in time ({said}); /cluster decides"
        problem = _problem(cfg, answer, request)
        if problem is not None:
            raise ActionError(f"{cfg.box}: {problem}")
        if answer.status != 202:
            raise ActionError(
                f"Patroni answered {answer.status}, not 202, to POST /switchover: {said}; "
                f"look at Patroni's log on {cfg.box}"
            )
        return f"Patroni answered 202: {said}"

    async def shows(ctx: Context) -> Check:
        return await judged(ctx, cfg, lambda view: scheduled_as_asked(view, old, name, at))

    async def verify(ctx: Context) -> Check:
        return await poll(ctx, shows, SETTLE, every=0.5)

    return Step(
        title=f"Ask Patroni to switch over from {old} to {name} at {shown(at)}",
        where=f"curl on {cfg.box} to Patroni",
        command=request.command(),
        expects=f"Patroni's view still allows it, read again just before ({old} leads, "
        "nothing scheduled, the time still ahead)",
        proves=f"Patroni answers 202; within {SETTLE:g} s /cluster shows the switchover "
        f"scheduled at that time, from {old} to {name}",
        act=act,
        verify=verify,
        pre=pre,
    )


def _cancel(cfg: Database) -> Step:
    """Read /cluster; DELETE /switchover unless none is scheduled; read it until none is."""
    request = _request(cfg, "DELETE")
    already: list[bool] = []

    async def act(ctx: Context) -> str:
        already[:] = [(await read_view(ctx, cfg)).scheduled_switchover is None]
        if already[0]:
            return "no switchover is scheduled any more (it ran, or was cancelled): nothing sent"
        answer = await ctx.fetch(cfg.box, request)
        problem = _problem(cfg, answer, request)
        if problem is not None:
            raise ActionError(f"{cfg.box}: {problem}")
        said = one_line(answer.body, 160) or "no reason given"
        if answer.status == 404:
            return f"Patroni answered 404, none scheduled any more: {said}"
        if answer.status != 200:
            raise ActionError(
                f"Patroni answered {answer.status}, not 200, to DELETE /switchover: {said}; "
                f"look at Patroni's log on {cfg.box}, then run the command again"
            )
        return f"Patroni answered 200: {said}"

    def none(view: PatroniView) -> Check:
        planned = view.scheduled_switchover
        if planned is None:
            return Check(True, "/cluster shows no switchover scheduled")
        return Check(False, f"/cluster still shows a switchover {_described(planned)}")

    async def gone(ctx: Context) -> Check:
        return await judged(ctx, cfg, none)

    async def verify(ctx: Context) -> Check:
        check = await poll(ctx, gone, SETTLE, every=0.5)
        if already and already[0] and check.ok:
            return Check(True, f"none scheduled any more, nothing sent: {check.detail}")
        return check

    return Step(
        title="Ask Patroni to cancel its scheduled switchover",
        where=f"curl on {cfg.box} to Patroni",
        command=request.command(),
        expects="/cluster read first (none scheduled any more: nothing is sent)",
        proves=f"within {SETTLE:g} s /cluster shows no switchover scheduled",
        act=act,
        verify=verify,
    )
