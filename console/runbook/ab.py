"""The A/B rollover as a runbook: stages, what must hold before it, its finish and its rollback.

Pure but for `written`: from the inventory, a snapshot and the runbook's record.

"A is live; copy A's database; upgrade B; test B; replace A with B"
(../shared/reference/ha-forum-thread.txt). The stages, in order:

1. read-only: A's site goes read-only (the `read-only on` action: the
   balancer's polite page for writes, the role files, the database flag);
2. detach: B's database is A's standby, caught up and promoted on its own
   timeline; A's primary stays read-only and untouched: the way back;
3. migrate (when the release declares one), on B's database only;
4. each B node to the release, out of the balancer;
5. test: B straight, not through the balancer;
6. switch: one `set map` makes B's backend live, then writes go to B;
7. the scheduler moves to B's first node; A's nodes become warm;
8. the gate: B is live, the rollback is open until `hotspare upgrade finish`;
9. finish: A's old primary rejoins as B's standby, the pins are lifted, A's
   nodes move to the release too (spares that match the live side).

The rollback, from wherever the rollover stands: B read-only and its writes
counted (the count shown must be typed), A live and writable again, B's
database stopped and rewound as A's standby (its WAL past the fork kept
aside), the pins lifted, B's nodes back on their release. At no time are
two primaries writable: B's takes writes only once A's is read-only, A's
again only once B's is.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from console.actions.balancer.servers import takes_traffic
from console.actions.context import Context
from console.actions.database.rejoin import keep_dir, rejoin_steps
from console.actions.plan import Plan
from console.actions.roles.scheduler import plan_move_scheduler
from console.actions.site import modes
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.runbook import sides
from console.runbook.migrate import Migration
from console.runbook.rolling import pick_nodes, releases_now
from console.state.model import ClusterState
from console.state.runbook import Runbook, Stage

OPEN = "B is live; the rollback is open until `hotspare upgrade finish`"
COUNTED = (
    "B is read-only, so its count stands still: `hotspare upgrade rollback` shows the rows "
    "only B has, and goes back to A once that count is typed"
)


def plan_read_only(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    message = str(args.get("message") or "") or None
    return modes.plan_read_only_on(inv, state, None, message)


def plan_scheduler(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    return plan_move_scheduler(inv, state, str(args["node"]))


def plan_rejoin(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """ARGS' db rewound to follow ARGS' follow, whichever timeline is the newer.

    The generic rejoin follows the newest timeline; here the way is known: A's
    and B's databases forked from one another at the detach, and a rollback
    takes B's (the newer) back to follow A's.
    """
    name, follow = str(args["db"]), str(args["follow"])
    old, new = inv.database(name), inv.database(follow)
    seen = {d.name: d for d in state.databases if state.answers(d.box)}
    me, lead = seen.get(name), seen.get(follow)
    streams = lead is not None and any(
        link.application_name == name and link.state == "streaming" for link in lead.standbys
    )
    if me is not None and me.role == "standby" and streams:
        return Plan("rejoin", name, f"{name} already streams from {follow}: nothing to do", ())
    refusals: tuple[str, ...] = ()
    if lead is None or lead.role != "primary":
        refusals = (f"{follow} does not answer as a primary: there is nothing to follow",)
    return Plan(
        "rejoin",
        name,
        f"{name} becomes a standby of {follow}: stopped, pg_rewind, its WAL past the fork kept "
        f"in {keep_dir(old)}",
        tuple(rejoin_steps(inv, old, new, failed_over=True)),
        refusals,
    )


def plan_gate(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    return Plan("rollback open", "the site", str(args.get("says") or OPEN), ())


def sides_of(
    inv: Inventory, state: ClusterState, b_names: Sequence[str]
) -> tuple[list[WebNode], list[WebNode], list[str]]:
    """(A's nodes: those serving in the live backend; B's nodes; why it cannot be done)."""
    b = pick_nodes(inv, b_names)
    live = state.balancer.live_backend if state.balancer is not None else ""
    serving = {
        s.name
        for s in (state.balancer.serving if state.balancer else ())
        if takes_traffic(s.operational, s.weight)
    }
    a = [n for n in inv.web_nodes if n.backend == live and n.server in serving and n not in b]
    refusals: list[str] = []
    seen = {n.name: n for n in state.nodes}
    backends = {n.backend for n in b}
    if len(backends) != 1:
        refusals.append(f"B's nodes must share one backend; they are in {', '.join(backends)}")
    elif live in backends:
        refusals.append(
            f"B's nodes are in the live backend {live}: B must be a backend of its own "
            "(`backend:` in cluster.yaml, docs/upgrade.md)"
        )
    for node in b:
        now = seen.get(node.name)
        if now is None or now.role != "warm":
            refusals.append(f"{node.name} must be a warm spare (it is {now.role if now else '?'})")
        elif now.health_status != 200:
            refusals.append(f"{node.name} is not healthy: health {now.health_status}")
    if not a:
        refusals.append(f"no node serves in the live backend {live or '?'}: there is no A side")
    return a, b, refusals


def databases(inv: Inventory, state: ClusterState) -> tuple[str, str, list[str]]:
    """(A's primary, the standby that becomes B's database, why not)."""
    primaries = [d for d in state.databases if d.role == "primary" and d.box]
    if len(primaries) != 1:
        shown = ", ".join(d.name for d in primaries) or "none"
        return "", "", [f"an A/B rollover needs exactly one primary; the site shows: {shown}"]
    a_db = primaries[0]
    cfg = inv.database(a_db.name)
    streaming = {s.application_name: s for s in a_db.standbys if s.state == "streaming"}
    for db in state.databases:
        link = streaming.get(db.name)
        if db.role == "standby" and link is not None:
            lag = link.lag_bytes or 0
            if lag > cfg.switchover_max_lag:
                return a_db.name, db.name, [f"{db.name} is {lag} bytes behind {a_db.name}"]
            return a_db.name, db.name, []
    return a_db.name, "", [f"no standby streams from {a_db.name}: B needs a copy of A's database"]


def rollover(
    inv: Inventory,
    state: ClusterState,
    release: str,
    b_names: Sequence[str],
    message: str | None,
    migration: Migration | None,
    who: str,
    command: str,
) -> tuple[Runbook, list[str]]:
    """The A/B runbook to RELEASE with B_NAMES as B, and why it cannot run now."""
    a, b, refusals = sides_of(inv, state, b_names)
    a_db, b_db, db_refusals = databases(inv, state)
    refusals += db_refusals
    if modes.mode(state) != "normal":
        refusals.append(f"the site is {modes.mode(state)}: an A/B rollover starts from normal")
    schedulers = [n.name for n in state.nodes if n.scheduler]
    common = {
        "a": [n.name for n in a],
        "b": [n.name for n in b],
        "a_db": a_db,
        "b_db": b_db,
        "release": release,
        "a_backend": a[0].backend if a else "",
        "b_backend": b[0].backend if b else "",
        "a_scheduler": schedulers[0] if schedulers else (a[0].name if a else ""),
    }
    now = releases_now(state)
    found = [
        Stage(
            "read-only", "A read-only", {**common, "message": message or ""}, way_back="rollback"
        ),
        Stage("detach", f"copy A's database: detach {b_db or '?'}", common, way_back="rollback"),
    ]
    if migration is not None and migration.when == "before":
        found.append(_migrate(migration, b, b_db))
    found += [_out_of_traffic(n, release, now, "B, out") for n in b]
    if migration is not None and migration.when == "after":
        found.append(_migrate(migration, b, b_db))
    first_b = b[0].name if b else ""
    found += [
        Stage("test", "test B straight", common),
        Stage("switch", f"replace A with B ({common['b_backend']} live)", common),
        Stage("scheduler", f"scheduler to {first_b}", {"node": first_b}),
        Stage("warm", "A's nodes warm", {**common, "side": "a"}),
        Stage("gate", "rollback open", {"says": OPEN}),
        Stage("rejoin", f"{a_db} follows {b_db}", {"db": a_db, "follow": b_db}),
        Stage("settle", "lift the pins", {**common, "follower": a_db}),
    ]
    found += [_out_of_traffic(n, release, now, "A, a spare now") for n in a]
    before = {n.name: {"release": now.get(n.name) or "?", "in": n in a} for n in a + b}
    runbook = Runbook(
        id="",
        kind="ab",
        release=release,
        title=f"A/B rollover to {release}",
        command=command,
        who=who,
        since=round(time.time(), 3),
        updated=round(time.time(), 3),
        state="running",
        stages=tuple(found),
        before=before,
    )
    return runbook, refusals


def _out_of_traffic(node: WebNode, release: str, now: Mapping[str, str | None], said: str) -> Stage:
    """NODE's stage to RELEASE, out of the balancer from start to end (the rolling node stage)."""
    args = {
        "node": node.name,
        "release": release,
        "from": now.get(node.name) or "?",
        "end": "out",
        "min_ready": 1,
        "soak": 0,
    }
    return Stage("node", f"{node.name} to {release} ({said})", args)


def _migrate(migration: Migration, b: list[WebNode], b_db: str) -> Stage:
    args = {**migration.as_args(b[0].name if b else ""), "database": b_db}
    return Stage("migrate", f"migrate {b_db} for {migration.release}", args)


def args_of(runbook: Runbook) -> dict[str, Any]:
    """The sides as the rollover recorded them (its detach stage's args)."""
    for stage in runbook.stages:
        if stage.kind == "detach":
            return dict(stage.args)
    raise ActionError(f"{runbook.title} has no detach stage: it is not an A/B rollover")


def begun(runbook: Runbook, kind: str) -> bool:
    return any(s.kind == kind and (s.status != "pending" or s.marks) for s in runbook.stages)


def at_gate(runbook: Runbook) -> bool:
    stage = runbook.current
    return stage is not None and stage.kind == "gate"


def finish(runbook: Runbook) -> Runbook:
    """RUNBOOK with its gate passed: `finish` (or the counted rollback) carries on from there."""
    if not at_gate(runbook):
        raise ActionError(f"{runbook.describe()}; it is not waiting at a gate")
    stages = list(runbook.stages)
    stages[runbook.position] = replace(stages[runbook.position], status="done")
    return replace(runbook, stages=tuple(stages))


def past_gate(runbook: Runbook) -> bool:
    return any(s.kind == "gate" and s.status == "done" for s in runbook.stages)


async def written(ctx: Context, runbook: Runbook) -> dict[str, int]:
    """Rows B's database wrote since the switch, by table (none when B never went live)."""
    if not begun(runbook, "switch") or not sides.baseline(runbook.notes):
        return {}
    b_db = ctx.inv.database(str(args_of(runbook)["b_db"]))
    return await sides.written_since(ctx, b_db, sides.baseline(runbook.notes))


def rollback(
    inv: Inventory, state: ClusterState, runbook: Runbook, shown: int, who: str, command: str
) -> Runbook:
    """The runbook that returns the site to A from wherever RUNBOOK stands.

    Once B took writes, the rollback first makes B read-only and stops: the
    rows only B has are counted then, when no more can come, and that count
    must be typed to go on (SHOWN: the count so far).
    """
    if past_gate(runbook):
        raise ActionError(
            f"{runbook.title} was finished: A's database follows B's now; there is no way back"
        )
    common = args_of(runbook)
    switched = begun(runbook, "switch")
    detached = begun(runbook, "detach")
    found: list[Stage] = []
    if switched:
        baseline = sides.baseline(runbook.notes)
        found += [
            Stage("back-read-only", "B read-only", common),
            Stage("gate", "B's writes counted", {"says": COUNTED}),
            Stage("count", "count B's writes", {**common, "baseline": baseline, "shown": shown}),
        ]
    found += [
        Stage("back", f"A live again ({common['a_backend']})", common),
        Stage(
            "scheduler", f"scheduler to {common['a_scheduler']}", {"node": common["a_scheduler"]}
        ),
        Stage("warm", "B's nodes warm", {**common, "side": "b"}),
        Stage("a-writes", "A takes writes", common),
    ]
    if detached:  # stopped cleanly by the rejoin, its files (B's rows) kept
        found.append(
            Stage(
                "rejoin",
                f"{common['b_db']} follows {common['a_db']}",
                {"db": common["b_db"], "follow": common["a_db"]},
            )
        )
    found.append(Stage("settle", "lift the pins", {**common, "follower": common["b_db"]}))
    for name in sides.names(common, "b"):
        was = str(runbook.before.get(name, {}).get("release") or "?")
        if was != "?" and begun_node(runbook, name):
            args = {"node": name, "release": was, "from": runbook.release, "end": "out"}
            found.append(Stage("node", f"{name} back to {was}", {**args, "min_ready": 1}))
    return Runbook(
        id="",
        kind="ab-rollback",
        release=", ".join(sorted({str(v.get("release")) for v in runbook.before.values()})),
        title=f"rollback of the {runbook.title}",
        command=command,
        who=who,
        since=round(time.time(), 3),
        updated=round(time.time(), 3),
        state="running",
        stages=tuple(found),
        before=dict(runbook.before),
        undoes=runbook.title,
        notes=dict(runbook.notes),
    )


def begun_node(runbook: Runbook, name: str) -> bool:
    return any(
        s.kind == "node" and s.node == name and (s.status != "pending" or s.marks)
        for s in runbook.stages
    )


def recount(runbook: Runbook, shown: int) -> Runbook:
    """An open A/B rollback with its count stage (not done yet) showing SHOWN."""
    stages = [
        replace(s, args={**s.args, "shown": shown})
        if s.kind == "count" and s.status != "done"
        else s
        for s in runbook.stages
    ]
    return replace(runbook, stages=tuple(stages))
