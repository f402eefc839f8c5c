"""Restarting one member's PostgreSQL through Patroni, never with pg_ctl.

hotspare asks the member's own Patroni (``POST /restart``, what `patronictl
restart` asks), with curl from the member's box; Patroni stops and starts
PostgreSQL and answers once it is back. With ``--pending`` the body says
``restart_pending``: Patroni restarts only if a changed setting waits for a
restart, and says so otherwise. Then the member's ``GET /patroni`` is read
until PostgreSQL runs with a new postmaster start time (the same one when
nothing was pending), and for the leader, ``/cluster`` until it leads again.
The leader keeps the leader lock throughout, but takes no writes while its
PostgreSQL restarts.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.actions.context import RUN_MARGIN, Context
from console.actions.database.patroni import managed, read_view
from console.actions.database.patroni_pause import current
from console.actions.plan import Check, Condition, Plan, Step, answered, refused
from console.actions.site.checks import checked
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.probes import http
from console.probes.patroni import PatroniProbeError
from console.probes.patroni_api import PatroniApi, api_of, patroni_api
from console.probes.patroni_rest import READ_TIMEOUT, MemberStatus, probe_member
from console.ssh import BoxError
from console.state.model import ClusterState
from console.state.patroni import LEADER_ROLES, PatroniView
from console.text import one_line

RESTART_TIMEOUT = 60.0
"""curl's --max-time for ``POST /restart``: Patroni answers once PostgreSQL is back."""
SETTLE = 60.0
"""How long PostgreSQL may take to run again (and the leader to lead) after Patroni answers."""
NOT_PENDING = "restart conditions are not satisfied"
"""Patroni's 503 answer when ``restart_pending`` was asked and none is pending."""
NOTHING_PENDING = "no restart pending: Patroni restarted nothing"


@dataclass
class _Seen:
    """What the steps of one run pass on: PostgreSQL before the POST, and whether it restarts."""

    before: MemberStatus | None = None
    restarts: bool = True


def plan_restart(inv: Inventory, state: ClusterState, member: str, pending: bool = False) -> Plan:
    """The plan to have Patroni restart MEMBER's PostgreSQL; with PENDING only if one is pending."""
    cfg = managed(inv, member)
    view = state.patroni
    conds = _conditions(view, state, cfg, pending)
    refusals = tuple(c.detail for c in conds if not c.ok)
    me = view.member(member) if view is not None else None
    if refusals or me is None:
        return refused("patroni restart", member, conds, refusals)
    leader = me.role in LEADER_ROLES
    seen = _Seen()
    body = {"restart_pending": True} if pending else {}
    said = "if a restart is pending, " if pending else ""
    summary = f"{said}Patroni restarts {member}'s PostgreSQL ({me.role})"
    if leader:
        summary += (
            f"; {member} is the leader: writes stop for a few seconds while its PostgreSQL "
            "restarts (Patroni keeps the leader lock: no failover)"
        )
    return Plan(
        "patroni restart",
        member,
        summary,
        (_ask(cfg, body, leader, seen), _watch(cfg, leader, seen)),
        (),
        member if leader else None,
        "",
        tuple(conds),
    )


def _conditions(
    view: PatroniView | None, state: ClusterState, cfg: Database, pending: bool
) -> list[Condition]:
    conds = [current(view)]
    if view is None or view.problem is not None:
        return conds
    me = view.member(cfg.name)
    if me is None:
        known = ", ".join(m.name for m in view.members) or "none"
        conds.append(
            Condition(
                f"{cfg.name} is a Patroni member",
                False,
                f"Patroni has no member {cfg.name} (it has: {known}); name the database in "
                "cluster.yaml as Patroni names the member",
            )
        )
        return conds
    role = me.role.replace("_", " ")
    conds.append(Condition(f"{cfg.name} is a Patroni member", True, f"{role}, {me.state or '?'}"))
    answers = state.answers(cfg.box)
    conds.append(
        Condition(
            f"{cfg.box} answers (its Patroni is asked from there)",
            answers,
            "its SSH link is up"
            if answers
            else f"{cfg.box} does not answer: hotspare asks {cfg.name}'s Patroni from its own "
            "box; see `hotspare status`",
        )
    )
    if pending:
        seen = (
            "Patroni's view has one pending now"
            if me.pending_restart
            else "Patroni's view has none pending now: most likely nothing is restarted"
        )
        conds.append(
            Condition(
                "only if a restart is pending",
                True,
                f"Patroni restarts it only if a changed setting waits for a restart ({seen}; "
                "Patroni decides when it is asked)",
            )
        )
    return conds


async def read_member(ctx: Context, cfg: Database) -> MemberStatus:
    """CFG's own status from its Patroni, read on its box. Raises ActionError if it does not say."""

    async def run(command: str) -> str:
        return (await ctx.run(cfg.box, command, READ_TIMEOUT + RUN_MARGIN)).stdout

    try:
        return await probe_member(run, patroni_api(cfg))
    except PatroniProbeError as exc:
        raise ActionError(f"{cfg.box}: {exc}") from exc


def _ask(cfg: Database, body: dict[str, bool], leader: bool, seen: _Seen) -> Step:
    """POST /restart to the member's own Patroni, from its box, having read how it runs."""
    name = cfg.name
    api = patroni_api(cfg)
    url = api.at("restart")
    request = api.request("POST", "restart", RESTART_TIMEOUT, body)
    as_planned = "the leader" if leader else "a replica"

    async def pre(ctx: Context) -> Check:
        status = seen.before = await read_member(ctx, cfg)
        me = (await read_view(ctx, cfg)).member(name)
        if me is None:
            return Check(False, f"Patroni has no member {name} any more: look first")
        if (me.role in LEADER_ROLES) != leader:
            return Check(False, f"{name} is Patroni's {me.role} now, not {as_planned}: plan again")
        return Check(True, f"{name} {status.state}, PostgreSQL started {status.started or '?'}")

    async def ask(ctx: Context) -> Check:
        check = judge(await ctx.fetch(cfg.box, request), url, bool(body), cfg.box, api)
        seen.restarts = check.detail != NOTHING_PENDING
        return check

    act, verify = answered(ask)

    return Step(
        title=f"Ask Patroni to restart {name}'s PostgreSQL",
        where=f"curl on {cfg.box} to Patroni",
        command=request.command(),
        expects=f"{name} is {as_planned} still, and its Patroni says how PostgreSQL runs",
        proves="Patroni answers 200 once PostgreSQL is back"
        + (" (or that no restart is pending)" if body else ""),
        act=act,
        verify=verify,
        pre=pre,
    )


def judge(
    answer: http.Answer, url: str, pending: bool, box: str, api: PatroniApi | None = None
) -> Check:
    """What Patroni's ANSWER to POST /restart at URL (from BOX, through API) says, for the step."""
    said = one_line(answer.body, 160) or "no text"
    problem = (api or api_of(url)).problem(answer, url)
    if answer.exit == 28:
        return Check(True, f"no answer from Patroni in {RESTART_TIMEOUT:g} s; watching")
    if problem is not None:
        return Check(False, problem)
    if answer.status == 200:
        return Check(True, f"Patroni answered 200: {said}")
    if answer.status == 503 and pending and NOT_PENDING in said:
        return Check(True, NOTHING_PENDING)
    return Check(
        False,
        f"Patroni answered {answer.status}, not 200: {said}; look at Patroni's log on {box} "
        "and at `hotspare status`",
    )


def _watch(cfg: Database, leader: bool, seen: _Seen) -> Step:
    """Read the member's /patroni (and, for the leader, /cluster) until it runs again."""
    name = cfg.name

    async def probe(ctx: Context) -> Check:
        try:
            status = await read_member(ctx, cfg)
            view = await read_view(ctx, cfg) if leader else None
        except (ActionError, BoxError) as exc:
            return Check(False, str(exc))  # PostgreSQL or Patroni busy restarting: ask again
        assert seen.before is not None  # the restart's precondition read it
        return running_again(status, seen.before, seen.restarts, view, name)

    leads = f", and {name} is the only leader again" if leader else ""
    return checked(
        f"Watch until {name}'s PostgreSQL runs again",
        f"curl on {cfg.box} to Patroni",
        f"GET {patroni_api(cfg).at('patroni')}"
        + (" and /cluster" if leader else "")
        + " (every 1 s)",
        "Patroni took the request",
        f"within {SETTLE:g} s Patroni says {name}'s PostgreSQL is running{leads}",
        probe,
        SETTLE,
        every=1.0,
    )


def running_again(
    status: MemberStatus,
    before: MemberStatus,
    restarts: bool,
    view: PatroniView | None,
    name: str,
) -> Check:
    """Whether STATUS shows the member running, restarted since BEFORE if it RESTARTS, and
    VIEW (the leader's restart) shows it the only leader."""
    if status.state != "running":
        return Check(False, f"{name}'s PostgreSQL is {status.state} so far")
    since = f"started {status.started or '?'}"
    if status.started == before.started:
        if restarts:
            return Check(False, f"{name}'s PostgreSQL runs, {since} as before: not restarted yet")
        said = f"{name} running, not restarted ({since} as before)"
    else:
        said = f"{name} running again, {since}"
    if view is not None:
        leaders = [m.name for m in view.leaders]
        if leaders != [name]:
            return Check(False, f"{said}; the leader is {', '.join(leaders) or 'none'}")
        said += "; still the leader"
    return Check(True, said)
