"""Patroni's maintenance mode: pause stops it managing PostgreSQL, resume hands it back.

While paused, Patroni neither fails over nor starts a PostgreSQL that
stopped, and `hotspare promote` refuses. hotspare asks Patroni what
`patronictl pause` asks (``PATCH /config`` with ``{"pause": true}``), with curl
from one database's box, having first read ``/cluster`` to see whether it is
already so; then it reads ``/cluster`` until ``pause`` says what was asked.
"""

from __future__ import annotations

from console.actions.context import Context
from console.actions.database.patroni import judged, read_view
from console.actions.plan import Check, Condition, Plan, Step, poll, refused
from console.errors import ActionError
from console.inventory import Database, Inventory
from console.probes.patroni_api import patroni_api
from console.state.model import ClusterState
from console.state.patroni import PatroniView
from console.text import one_line

TARGET = "the site"
PATCH_TIMEOUT = 10.0
"""curl's --max-time for ``PATCH /config``: Patroni writes one key in the DCS."""
SETTLE = 15.0
"""How long ``/cluster`` may take to show the new setting."""
READY = ("running", "streaming")


def plan_pause(inv: Inventory, state: ClusterState) -> Plan:
    """The plan to put Patroni in maintenance mode: it stops managing PostgreSQL."""
    return _plan(inv, state, pause=True)


def plan_resume(inv: Inventory, state: ClusterState) -> Plan:
    """The plan to end Patroni's maintenance mode: it manages PostgreSQL again."""
    return _plan(inv, state, pause=False)


def _plan(inv: Inventory, state: ClusterState, pause: bool) -> Plan:
    action = "patroni pause" if pause else "patroni resume"
    cfg = asker(inv, state)
    view = state.patroni
    conds = [current(view), _answers(inv, state, cfg)]
    if not pause and view is not None and view.problem is None:
        conds.append(_takes_over(view))
    refusals = tuple(c.detail for c in conds if not c.ok)
    if refusals or view is None:
        return refused(action, TARGET, conds, refusals)
    if view.paused == pause:
        summary = f"Patroni is {'already' if pause else 'not'} paused: read again, nothing sent"
    elif pause:
        summary = (
            "Patroni stops managing PostgreSQL (maintenance mode): no failover, no restart of "
            "a server that stops, and `hotspare promote` refuses until `hotspare patroni "
            "resume`; PostgreSQL runs on as it is"
        )
    else:
        summary = (
            "Patroni manages PostgreSQL again: it fails over, and starts a server that is "
            "stopped, as it sees fit"
        )
    back = "hotspare patroni resume" if pause else "hotspare patroni pause"
    return Plan(action, TARGET, summary, (_set_pause(cfg, pause),), (), None, back, tuple(conds))


def asker(inv: Inventory, state: ClusterState) -> Database:
    """The database whose box asks Patroni: the leader's if it answers, else the first that does.

    Raises:
        ActionError: cluster.yaml declares no database managed by Patroni.
    """
    declared = [d for d in inv.databases if d.manager == "patroni" and d.patroni_url]
    if not declared:
        raise ActionError(
            "cluster.yaml does not say Patroni manages any database (manager: patroni and "
            "patroni_url, docs/patroni.md): there is no Patroni to ask"
        )
    leaders = {m.name for m in state.patroni.leaders} if state.patroni is not None else set()
    return min(declared, key=lambda d: (not state.answers(d.box), d.name not in leaders))


def current(view: PatroniView | None) -> Condition:
    """Whether the snapshot holds a current reading of Patroni's view."""
    if view is None or view.problem is not None:
        said = view.problem if view is not None else "hotspare has not read it yet"
        return Condition("Patroni's view is current", False, f"Patroni's view is unknown: {said}")
    return Condition("Patroni's view is current", True, "read from /cluster")


def _answers(inv: Inventory, state: ClusterState, cfg: Database) -> Condition:
    what = f"{cfg.box} answers (Patroni is asked from there)"
    if state.answers(cfg.box):
        return Condition(what, True, "its SSH link is up")
    why = []
    for db in inv.databases:
        if db.manager == "patroni":
            fresh = state.freshness(db.box)
            why.append(f"{db.box}: {fresh.reason if fresh and fresh.reason else 'no current data'}")
    said = "; ".join(why)
    return Condition(what, False, f"no database box answers ({said}): see `hotspare status`")


def _takes_over(view: PatroniView) -> Condition:
    """What Patroni finds when it manages the cluster again (shown, never refused)."""
    leaders = view.leaders
    said = [
        f"{leaders[0].name} leads, {leaders[0].state or '?'}"
        if len(leaders) == 1
        else f"{len(leaders)} leaders: Patroni elects one"
    ]
    said += [
        f"{m.name} is {m.state or 'in no known state'}: Patroni starts or follows it"
        for m in view.members
        if m not in leaders and m.state not in READY
    ]
    return Condition("what Patroni takes over", True, "; ".join(said))


def _set_pause(cfg: Database, pause: bool) -> Step:
    """Read /cluster; PATCH /config with the pause asked unless already so; read it back."""
    api = patroni_api(cfg)
    url = api.at("config")
    request = api.request("PATCH", "config", PATCH_TIMEOUT, {"pause": pause})
    word = "paused" if pause else "not paused"

    already: list[bool] = []

    async def act(ctx: Context) -> str:
        already[:] = [(await read_view(ctx, cfg)).paused == pause]
        if already[0]:
            return f"already {word}: nothing sent"
        answer = await ctx.fetch(cfg.box, request)
        problem = api.problem(answer, url)
        if problem is not None:
            raise ActionError(f"{cfg.box}: {problem}")
        if answer.status != 200:
            said = one_line(answer.body, 160) or "no reason given"
            raise ActionError(
                f"Patroni answered {answer.status}, not 200, to PATCH /config: {said}; "
                f"look at Patroni's log on {cfg.box}, then run the command again"
            )
        return "Patroni answered 200: its configuration in the DCS holds it"

    def says(view: PatroniView) -> Check:
        return Check(view.paused == pause, f"/cluster says {'' if view.paused else 'not '}paused")

    async def shows(ctx: Context) -> Check:
        return await judged(ctx, cfg, says)

    async def verify(ctx: Context) -> Check:
        check = await poll(ctx, shows, SETTLE, every=0.5)
        if already and already[0] and check.ok:
            return Check(True, f"already {word}, nothing sent: {check.detail}")
        return check

    return Step(
        title=f"Ask Patroni to {'pause' if pause else 'resume'}",
        where=f"curl on {cfg.box} to Patroni",
        command=request.command(),
        expects=f"Patroni answers; /cluster read first (already {word}: nothing is sent)",
        proves=f"within {SETTLE:g} s /cluster says {word}",
        act=act,
        verify=verify,
    )
