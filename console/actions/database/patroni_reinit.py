"""Rebuilding one replica from the leader through Patroni (what `patronictl reinit` does).

hotspare asks the member's own Patroni (``POST /reinitialize``), with curl
from the member's box: Patroni stops that PostgreSQL, deletes its data
directory and copies the leader again (its create_replica_methods, by
default pg_basebackup), then starts it as a replica. Then the member's
``GET /patroni`` is read until PostgreSQL runs with a new postmaster start
time, and ``/cluster`` until Patroni has it streaming. Never the leader:
Patroni refuses that itself, and the plan refuses it first.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.actions.context import Context
from console.actions.database.patroni import managed, read_view
from console.actions.database.patroni_pause import current
from console.actions.database.patroni_restart import read_member, running_again
from console.actions.plan import Check, Condition, Plan, Step, answered, refused
from console.actions.site.checks import checked
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.probes.patroni_api import patroni_api
from console.probes.patroni_rest import MemberStatus
from console.ssh import BoxError
from console.state.model import ClusterState
from console.state.patroni import LEADER_ROLES, PatroniView
from console.text import one_line

POST_TIMEOUT = 15.0
"""curl's --max-time for ``POST /reinitialize``: Patroni answers once it has begun."""
SETTLE = 300.0
"""How long the copy may take: the whole database is copied again from the leader."""


@dataclass
class _Seen:
    """PostgreSQL's status before the request, for the watch to tell a new start."""

    before: MemberStatus | None = None


def plan_reinit(inv: Inventory, state: ClusterState, member: str) -> Plan:
    """The plan to have Patroni rebuild MEMBER, a replica, from the leader; its name typed."""
    cfg = managed(inv, member)
    view = state.patroni
    conds = _conditions(view, state, cfg)
    refusals = tuple(c.detail for c in conds if not c.ok)
    if refusals or view is None:
        return refused("patroni reinit", member, conds, refusals)
    leader = next(m.name for m in view.leaders)
    summary = (
        f"Patroni deletes {member}'s data directory and copies it again from {leader}, "
        f"then starts it as a replica: {member} serves nothing until the copy is done, and "
        "what only it had (nothing, on a healthy replica) is gone"
    )
    seen = _Seen()
    steps = (_ask(cfg, seen), _watch(cfg, seen))
    return Plan("patroni reinit", member, summary, steps, (), member, "", tuple(conds))


def _conditions(view: PatroniView | None, state: ClusterState, cfg: Database) -> list[Condition]:
    conds = [current(view)]
    if view is None or view.problem is not None:
        return conds
    me = view.member(cfg.name)
    if me is None:
        known = ", ".join(m.name for m in view.members) or "none"
        detail = f"Patroni has no member {cfg.name} (it has: {known})"
        return [*conds, Condition(f"{cfg.name} is a Patroni replica", False, detail)]
    if me.role in LEADER_ROLES:
        detail = (
            f"{cfg.name} is Patroni's {me.role}: a leader is never rebuilt (its data is the "
            "cluster's); switch over first (`hotspare promote` another member)"
        )
        return [*conds, Condition(f"{cfg.name} is a Patroni replica", False, detail)]
    role = f"{me.role.replace('_', ' ')}, {me.state or '?'}"
    conds.append(Condition(f"{cfg.name} is a Patroni replica", True, role))
    leads = len(view.leaders) == 1
    names = ", ".join(m.name for m in view.leaders) or "none"
    conds.append(Condition("one leader to copy from", leads, f"leaders: {names}"))
    answers = state.answers(cfg.box)
    said = "its SSH link is up" if answers else f"{cfg.box} does not answer: see `hotspare status`"
    conds.append(Condition(f"{cfg.box} answers (its Patroni is asked from there)", answers, said))
    return conds


def _ask(cfg: Database, seen: _Seen) -> Step:
    name = cfg.name
    api = patroni_api(cfg)
    url = api.at("reinitialize")
    request = api.request("POST", "reinitialize", POST_TIMEOUT, {})

    async def pre(ctx: Context) -> Check:
        seen.before = await read_member(ctx, cfg)
        me = (await read_view(ctx, cfg)).member(name)
        if me is None or me.role in LEADER_ROLES:
            now = "not a member" if me is None else f"Patroni's {me.role}"
            return Check(False, f"{name} is {now} now, not a replica: plan again")
        return Check(True, f"{name} a replica, {me.state or '?'}")

    async def ask(ctx: Context) -> Check:
        answer = await ctx.fetch(cfg.box, request)
        said = one_line(answer.body, 160) or "no text"
        problem = api.problem(answer, url)
        if problem is not None:
            return Check(False, problem)
        if answer.status == 200:
            return Check(True, f"Patroni answered 200: {said}")
        log = f"look at Patroni's log on {cfg.box}"
        return Check(False, f"Patroni answered {answer.status}, not 200: {said}; {log}")

    act, verify = answered(ask)
    return Step(
        title=f"Ask Patroni to rebuild {name} from the leader",
        where=f"curl on {cfg.box} to Patroni",
        command=request.command(),
        expects=f"{name} is a replica still",
        proves="Patroni answers 200: the rebuild has begun",
        act=act,
        verify=verify,
        pre=pre,
    )


def _watch(cfg: Database, seen: _Seen) -> Step:
    name = cfg.name

    async def probe(ctx: Context) -> Check:
        try:
            status = await read_member(ctx, cfg)
            view = await read_view(ctx, cfg)
        except (ActionError, BoxError) as exc:
            return Check(False, str(exc))  # Patroni busy copying: ask again
        assert seen.before is not None  # the request's precondition read it
        again = running_again(status, seen.before, True, None, name)
        me = view.member(name)
        if not again.ok or me is None or me.state != "streaming":
            state = me.state if me is not None else "not listed"
            return Check(False, f"{again.detail}; Patroni has it {state}")
        return Check(True, f"{again.detail}; streaming")

    return checked(
        f"Watch until {name} streams again",
        f"curl on {cfg.box} to Patroni",
        f"GET {patroni_api(cfg).at('patroni')} and /cluster (every 1 s)",
        "Patroni began the rebuild",
        f"within {SETTLE:g} s {name}'s PostgreSQL runs again, newly started, streaming",
        probe,
        SETTLE,
        every=1.0,
    )
