"""Promotion when Patroni manages PostgreSQL: switchover and failover through its REST API.

Patroni holds the leader lock and does the work: it stops the old leader
cleanly, promotes the candidate, and makes the old leader follow it again
(with pg_rewind where its configuration allows). hotspare reads Patroni's
own view first, asks Patroni with curl from a database's box (the leader's
for a switchover, the candidate's for a failover), then watches ``/cluster``
until the new leader shows. It never acts on
PostgreSQL directly here: two managers of one cluster is how split brain
starts.
"""

from __future__ import annotations

from collections.abc import Callable

from console.actions.context import RUN_MARGIN, Context
from console.actions.plan import Check, Condition, Plan, Step, answered, refused
from console.actions.site.checks import checked
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.probes.patroni import CLUSTER_TIMEOUT, PatroniProbeError, probe_patroni
from console.probes.patroni_api import patroni_api
from console.ssh import BoxError
from console.state.model import ClusterState
from console.state.patroni import REPLICA_ROLES, PatroniMember, PatroniView
from console.text import one_line
from console.units import size

POST_TIMEOUT = 30.0
"""curl's --max-time for the POST: Patroni answers once the new leader shows, or after
about twice max(10, loop_wait) seconds."""
SETTLE = 60.0
"""How long the new leader (and, after a switchover, the old one as a replica) may take."""
READY = ("running", "streaming")


def managed(inv: Inventory, name: str) -> Database:
    """The database NAME, which Patroni must manage. Raises ActionError otherwise."""
    try:
        cfg = inv.database(name)
    except KeyError:
        names = ", ".join(db.name for db in inv.databases) or "none"
        raise ActionError(
            f"no database named {name!r} in cluster.yaml (there are: {names})"
        ) from None
    if cfg.manager != "patroni" or cfg.patroni_url is None:
        raise ActionError(
            f"cluster.yaml does not say Patroni manages {name} (manager: patroni and "
            "patroni_url); hotspare's own promote acts on PostgreSQL directly"
        )
    return cfg


def conditions(view: PatroniView | None, cfg: Database, switchover: bool) -> list[Condition]:
    """What must hold in Patroni's view before promoting CFG; each failed detail is a sentence."""
    if view is None or view.problem is not None:
        said = view.problem if view is not None else "hotspare has not read it yet"
        return [Condition("Patroni's view is current", False, f"Patroni's view is unknown: {said}")]
    name = cfg.name
    conds = [
        Condition("Patroni's view is current", True, "read from /cluster"),
        _leader(view, switchover),
    ]
    member = view.member(name)
    if member is None:
        known = ", ".join(m.name for m in view.members) or "none"
        return [
            *conds,
            Condition(
                f"{name} is a Patroni member",
                False,
                f"Patroni has no member {name} (it has: {known}); name the database in "
                "cluster.yaml as Patroni names the member",
            ),
        ]
    conds += [_replica(member), _lag(member, cfg, switchover)]
    conds.append(
        Condition(
            "Patroni is not paused",
            not view.paused,
            "Patroni is paused (maintenance mode): resume it with `hotspare patroni resume` first"
            if view.paused
            else "it manages the cluster",
        )
    )
    planned = view.scheduled_switchover
    conds.append(
        Condition(
            "no switchover is scheduled",
            planned is None,
            "none"
            if planned is None
            else f"Patroni has a switchover scheduled at {planned.at} "
            f"({planned.leader or '?'} to {planned.candidate or 'any'}): cancel it with "
            "`hotspare patroni cancel-switchover`, or let it run first",
        )
    )
    return conds


def _leader(view: PatroniView, switchover: bool) -> Condition:
    leaders = view.leaders
    what = "exactly one leader" if switchover else "at most one leader"
    if len(leaders) > 1:
        names = ", ".join(m.name for m in leaders)
        return Condition(what, False, f"Patroni shows {len(leaders)} leaders ({names}): look first")
    if not leaders:
        if switchover:
            return Condition(what, False, "Patroni shows no leader: a switchover needs one")
        return Condition(what, True, "no leader: Patroni promotes the candidate alone")
    leader = leaders[0]
    if leader.role != "leader":
        return Condition(
            what,
            False,
            f"{leader.name} is a standby leader (a Patroni standby cluster): "
            "hotspare does not promote within a standby cluster",
        )
    return Condition(what, True, f"{leader.name} leads, {leader.state or 'state unknown'}")


def _replica(member: PatroniMember) -> Condition:
    name = member.name
    what = f"{name} is a healthy replica"
    if member.role not in REPLICA_ROLES:
        return Condition(what, False, f"{name} is Patroni's {member.role}, not a replica")
    if member.state not in READY:
        state = member.state or "in no known state"
        return Condition(what, False, f"{name} is {state} in Patroni, not running or streaming")
    if member.nofailover:
        return Condition(what, False, f"{name} has the nofailover tag: Patroni never promotes it")
    return Condition(what, True, f"{member.role.replace('_', ' ')}, {member.state}")


def _lag(member: PatroniMember, cfg: Database, switchover: bool) -> Condition:
    name, limit = member.name, cfg.switchover_max_lag
    if not switchover:
        behind = size(member.lag) if member.lag is not None else "an unknown amount"
        return Condition(
            f"what {name} has not received is lost",
            True,
            f"{behind} behind the leader; a failover does not wait for it",
        )
    what = f"{name} is caught up"
    if member.lag is None:
        return Condition(what, False, f"Patroni does not know {name}'s lag: wait for it to stream")
    if member.lag > limit:
        return Condition(
            what,
            False,
            f"{name} is {size(member.lag)} behind the leader, more than switchover_max_lag "
            f"({size(limit)}): wait for it to catch up",
        )
    return Condition(what, True, f"{size(member.lag)} behind (at most {size(limit)})")


def plan_switchover(inv: Inventory, state: ClusterState, candidate: str) -> Plan:
    """The plan to have Patroni hand the leader to CANDIDATE while the leader is healthy."""
    cfg = managed(inv, candidate)
    conds = conditions(state.patroni, cfg, switchover=True)
    refusals = tuple(c.detail for c in conds if not c.ok)
    if refusals or state.patroni is None:
        return refused("promote", candidate, conds, refusals)
    old = state.patroni.leaders[0].name
    body = {"leader": old, "candidate": candidate}
    ask = _ask(cfg, "switchover", body, old, _via(inv, old, cfg))
    steps = (ask, _watch(cfg, old, switchover=True))
    summary = (
        f"Patroni hands the leader from {old} to {candidate}: it stops {old} cleanly, "
        f"promotes {candidate} once caught up, and {old} follows it as a replica"
    )
    return Plan(
        "promote", candidate, summary, steps, (), candidate, f"hotspare promote {old}", tuple(conds)
    )


def plan_failover(inv: Inventory, state: ClusterState, candidate: str) -> Plan:
    """The plan to have Patroni promote CANDIDATE now, with or without a leader."""
    cfg = managed(inv, candidate)
    conds = conditions(state.patroni, cfg, switchover=False)
    refusals = tuple(c.detail for c in conds if not c.ok)
    if refusals or state.patroni is None:
        return refused("failover", candidate, conds, refusals)
    leaders = state.patroni.leaders
    old = leaders[0].name if leaders else None
    # The candidate's Patroni: a failover is for a leader that may not answer.
    steps = (_ask(cfg, "failover", {"candidate": candidate}, old, cfg), _watch(cfg, old, False))
    summary = f"Patroni promotes {candidate} now" + (
        f"; {old} is demoted and, once rewound or re-cloned, follows it"
        if old
        else "; there is no leader to wait for"
    )
    back = f"hotspare promote {old} (once Patroni shows {old} streaming again)" if old else ""
    return Plan("failover", candidate, summary, steps, (), candidate, back, tuple(conds))


async def read_view(ctx: Context, cfg: Database) -> PatroniView:
    """Patroni's view now, read on CFG's box. Raises ActionError if Patroni does not answer."""
    assert cfg.patroni_url is not None  # managed() checked it

    async def run(command: str) -> str:
        return (await ctx.run(cfg.box, command, CLUSTER_TIMEOUT + RUN_MARGIN)).stdout

    try:
        return await probe_patroni(run, patroni_api(cfg), ctx.clock())
    except PatroniProbeError as exc:
        raise ActionError(f"{cfg.box}: {exc}") from exc


async def judged(ctx: Context, cfg: Database, judge: Callable[[PatroniView], Check]) -> Check:
    """Patroni's view read on CFG's box, as JUDGE sees it; not yet when Patroni does not
    answer (it may be busy for a moment, and a watch asks again)."""
    try:
        view = await read_view(ctx, cfg)
    except (ActionError, BoxError) as exc:
        return Check(False, str(exc))
    return judge(view)


def _via(inv: Inventory, leader: str | None, candidate: Database) -> Database:
    """Whose Patroni to ask for a switchover: the leader's, which acts on it at once;
    another member only passes it on through etcd, and the leader takes it up at its
    next loop, up to loop_wait later. The candidate's when the leader is not in
    cluster.yaml as Patroni names it."""
    found = next((d for d in inv.databases if d.name == leader), None)
    return found if found is not None and found.patroni_url else candidate


def _ask(cfg: Database, action: str, body: dict[str, str], old: str | None, via: Database) -> Step:
    """POST /switchover or /failover to VIA's Patroni, from VIA's box."""
    api = patroni_api(via)
    url = api.at(action)
    request = api.request("POST", action, POST_TIMEOUT, body)

    async def pre(ctx: Context) -> Check:
        view = await read_view(ctx, cfg)
        failed = [c.detail for c in conditions(view, cfg, action == "switchover") if not c.ok]
        leaders = [m.name for m in view.leaders]
        if old is not None and action == "switchover" and leaders != [old]:
            failed.append(f"the leader is {', '.join(leaders) or 'none'} now, not {old}")
        return Check(not failed, "; ".join(failed) or "Patroni's view still allows it")

    async def ask(ctx: Context) -> Check:
        answer = await ctx.fetch(via.box, request)
        said = one_line(answer.body, 160) or "no text"
        problem = api.problem(answer, url)
        if answer.exit == 28 or (answer.status == 503 and "status unknown" in said):
            # Patroni took the request but did not see the outcome in its own wait.
            return Check(True, f"no outcome from Patroni in time ({said}); watching")
        if problem is not None:
            return Check(False, problem)
        if answer.status == 200:
            return Check(True, f"Patroni answered 200: {said}")
        return Check(False, f"Patroni answered {answer.status}, not 200: {said}")

    act, verify = answered(ask)

    candidate = body["candidate"]
    return Step(
        title=f"Ask Patroni to {action.replace('over', ' over')} to {candidate}",
        where=f"curl on {via.box} to Patroni",
        command=request.command(),
        expects="Patroni's view still allows it, read again just before"
        + (f" ({old} leads)" if old and action == "switchover" else ""),
        proves="Patroni answers 200 (it waits for the new leader before it answers)",
        act=act,
        verify=verify,
        pre=pre,
    )


WATCH_EVERY = 0.5
"""Seconds between reads while watching: one curl on the box's open shell each."""


def _streaming(member: str) -> str:
    """The states of MEMBER's replication connections (member names are safe names)."""
    return f"SELECT state FROM pg_stat_replication WHERE application_name = '{member}'"


def _watch(cfg: Database, old: str | None, switchover: bool) -> Step:
    """Poll /cluster until CFG leads and, after a switchover, OLD streams from it again.

    That OLD streams is read on the new leader itself (its pg_stat_replication, where
    Patroni names each replica's connection after the member): Patroni's own view says
    so only at the replica's next loop, up to loop_wait later.
    """
    name = cfg.name
    follower = old if switchover else None

    async def probe(ctx: Context) -> Check:
        leads = await judged(ctx, cfg, lambda view: done(view, name, None))
        if not leads.ok or follower is None:
            return leads
        from console import dbconn  # psycopg, loaded only to run

        try:
            rows = await ctx.sql(cfg, _streaming(follower))
        except (BoxError, *dbconn.FAILURES) as exc:  # the new primary may be busy: ask again
            return Check(False, f"{name} leads; its replication view: {one_line(str(exc), 80)}")
        states = [str(r[0]) for r in rows]
        if "streaming" in states:
            return Check(True, f"{name} leads; {follower} streams from it")
        seen = ", ".join(states) or "not connected"
        return Check(False, f"{name} leads; {follower} is {seen} so far")

    back = f", and {old} streams from it again" if follower else ""
    sql = f"; then on {name}: {_streaming(follower)}" if follower else ""
    return checked(
        f"Watch Patroni until {name} leads",
        f"curl on {cfg.box} to Patroni" + (f", SQL on {name}" if follower else ""),
        f"GET {patroni_api(cfg).at('cluster')} (every {WATCH_EVERY:g} s){sql}",
        "Patroni took the request",
        f"within {SETTLE:g} s {name} is the only leader, running{back}",
        probe,
        SETTLE,
        every=WATCH_EVERY,
    )


def done(view: PatroniView, candidate: str, follower: str | None) -> Check:
    """Whether VIEW shows CANDIDATE as the only running leader and FOLLOWER as a replica."""
    leaders = view.leaders
    names = ", ".join(m.name for m in leaders) or "none"
    if [m.name for m in leaders] != [candidate] or leaders[0].state != "running":
        state = f", {leaders[0].state or '?'}" if len(leaders) == 1 else ""
        return Check(False, f"leader: {names}{state}")
    if follower is None:
        return Check(True, f"{candidate} leads, running")
    member = view.member(follower)
    if member is None or member.role not in REPLICA_ROLES or member.state not in READY:
        seen = f"{member.role}, {member.state or '?'}" if member else "not a member"
        return Check(False, f"{candidate} leads; {follower} is {seen} so far")
    return Check(True, f"{candidate} leads; {follower} is a replica, {member.state}")
