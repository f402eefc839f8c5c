"""The stages of a rolling upgrade, and of its rollback, in the order that keeps the site up.

Pure: from the inventory, a snapshot and what the release declares.

Order: nodes out of the balancer first (a warm spare): each is upgraded
while out and, when nodes in service follow, brought in, so capacity never
drops below today's. Then each node in service in turn. A spare brought in
for the roll goes back out at the end. At no time do fewer than `min_ready`
servers take new sessions (default: all that serve once the spare is in,
but one), and the last one is never taken out.

A rollback is the same roll, back to the release each node had, over the
nodes that changed, last changed first.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from console.actions.balancer.servers import ready_in
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.runbook.migrate import Migration
from console.state.model import ClusterState
from console.state.runbook import Runbook, Stage


def serving(inv: Inventory, state: ClusterState) -> set[str]:
    """The web nodes whose servers take new sessions at the snapshot."""
    ready = set(ready_in(state))
    return {n.name for n in inv.web_nodes if n.server in ready}


def releases_now(state: ClusterState) -> dict[str, str | None]:
    """Each node's running release at the snapshot (None when unknown)."""
    return {n.name: n.release for n in state.nodes}


def pick_nodes(inv: Inventory, names: Sequence[str] | None) -> list[WebNode]:
    """The nodes asked for (all, in cluster.yaml's order, when none are named)."""
    if not names:
        return list(inv.web_nodes)
    known = {n.name: n for n in inv.web_nodes}
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(known) or "none"
        raise ActionError(f"no web node named {', '.join(unknown)}; the web nodes are: {listed}")
    return [known[n] for n in dict.fromkeys(names)]


def stages(
    order: Sequence[str],
    live: Collection[str],
    end_in: Mapping[str, bool],
    release: str,
    previous: Mapping[str, str],
    least: int,
    soak: float,
    migration: Migration | None = None,
) -> tuple[Stage, ...]:
    """The stages moving ORDER's nodes to RELEASE.

    LIVE: the nodes serving now. END_IN: whether each must serve at the end.
    PREVIOUS: each node's release now (for the stage's way back).
    """
    out_first = [n for n in order if n not in live]
    in_turn = [n for n in order if n in live]
    found: list[Stage] = []
    if migration is not None and migration.when == "before":
        found.append(_migrate(migration, order[0]))
    brought_in: list[str] = []
    for node in out_first:
        ends_in = end_in.get(node, False) or bool(in_turn)
        if ends_in and not end_in.get(node, False):
            brought_in.append(node)
        found.append(_node(node, release, previous, "in" if ends_in else "out", least, soak))
    for node in in_turn:
        end = "in" if end_in.get(node, True) else "out"
        found.append(_node(node, release, previous, end, least, soak))
    if migration is not None and migration.when == "after":
        found.append(_migrate(migration, order[0]))
    for node in brought_in:
        found.append(
            Stage(
                "out",
                f"{node} back out, a spare as before",
                {"node": node, "min_ready": least},
                way_back=f"hotspare ready {node}",
            )
        )
    return tuple(found)


def _node(
    node: str, release: str, previous: Mapping[str, str], end: str, least: int, soak: float
) -> Stage:
    before = previous.get(node) or "?"
    return Stage(
        "node",
        f"{node} to {release}" + ("" if end == "in" else " (stays out)"),
        {
            "node": node,
            "release": release,
            "from": before,
            "end": end,
            "min_ready": least,
            "soak": soak if end == "in" else 0,
        },
        way_back=f"{node} back to {before}",
    )


def _migrate(migration: Migration, node: str) -> Stage:
    return Stage(
        "migrate",
        f"migrate the database for {migration.release}",
        migration.as_args(node),
        way_back="none: an expand migration stays",
    )


def min_ready(given: int | None, configured: int | None, live: int, brought: int) -> int:
    """The floor of serving servers: given, else cluster.yaml's, else all but one (at least 1)."""
    if given is not None:
        return max(1, given)
    if configured is not None:
        return max(1, configured)
    return max(1, live + brought - 1)


def rolling(
    inv: Inventory,
    state: ClusterState,
    release: str,
    names: Sequence[str] | None,
    soak: float | None,
    least: int | None,
    migration: Migration | None,
    run: str,
    who: str,
    command: str,
) -> Runbook:
    """The runbook of a rolling upgrade of NAMES (all nodes) to RELEASE."""
    picked = pick_nodes(inv, names)
    live = serving(inv, state)
    now = releases_now(state)
    order = [n.name for n in picked]
    out_first = [n for n in order if n not in live]
    in_turn = [n for n in order if n in live]
    brought = len(out_first) if in_turn else 0
    floor = min_ready(least, inv.upgrade.min_ready, len(live), brought)
    before = {n.name: {"release": now.get(n.name) or "?", "in": n.name in live} for n in picked}
    previous = {n: str(before[n]["release"]) for n in order}
    end_in = {n: n in live for n in order}
    found = stages(
        order,
        live,
        end_in,
        release,
        previous,
        floor,
        inv.upgrade.soak if soak is None else soak,
        migration,
    )
    return Runbook(
        id=run,
        kind="rolling",
        release=release,
        title=f"rolling upgrade to {release}",
        command=command,
        who=who,
        since=round(time.time(), 3),
        updated=round(time.time(), 3),
        state="running",
        stages=found,
        before=before,
    )


def changed(runbook: Runbook) -> list[str]:
    """The nodes RUNBOOK may have moved off their release: every node stage begun."""
    return [
        str(s.node)
        for s in runbook.stages
        if s.kind == "node" and s.node and (s.status != "pending" or s.marks)
    ]


def rollback(
    inv: Inventory, state: ClusterState, runbook: Runbook, run: str, who: str, command: str
) -> Runbook:
    """The runbook that returns RUNBOOK's nodes to the release each had before it."""
    if runbook.kind == "rollback":
        raise ActionError("this is already a rollback: resume it with hotspare upgrade resume")
    moved = list(reversed(changed(runbook)))
    live = serving(inv, state)
    before = runbook.before
    found: list[Stage] = []
    # Each release back is its own roll: nodes that had different releases go back apart.
    targets: dict[str, list[str]] = {}
    for node in moved:
        targets.setdefault(str(before.get(node, {}).get("release") or "?"), []).append(node)
    if "?" in targets:
        raise ActionError(
            f"the release {', '.join(targets['?'])} had before the upgrade is not known "
            "(no version_url in cluster.yaml?): switch them back by hand"
        )
    end_in = {n: bool(before.get(n, {}).get("in", True)) for n in moved}
    now_live = len(live)
    out_now = [n for n in moved if n not in live]
    floor = min_ready(None, inv.upgrade.min_ready, now_live, len(out_now) if out_now else 0)
    soak = _soak_of(runbook)
    for release, nodes in targets.items():
        previous = {n: runbook.release for n in nodes}
        found += stages(nodes, live, end_in, release, previous, floor, soak)
    releases = sorted(targets)
    return Runbook(
        id=run,
        kind="rollback",
        release=", ".join(releases) or "-",
        title=f"rollback of the {runbook.title} to {', '.join(releases) or 'nothing'}",
        command=command,
        who=who,
        since=round(time.time(), 3),
        updated=round(time.time(), 3),
        state="running",
        stages=tuple(found),
        before=dict(before),
        undoes=runbook.title,
    )


def _soak_of(runbook: Runbook) -> float:
    for stage in runbook.stages:
        value: Any = stage.args.get("soak")
        if stage.kind == "node" and isinstance(value, int | float) and value > 0:
            return float(value)
    return 0.0
