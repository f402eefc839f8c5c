"""One node moved to a release, the careful way: out, switched, restarted, proven, back in.

The steps, in order (each run again finds what already holds and says so):

1. out of the balancer: drain (sessions reach 0), then maint, the state saved
   for a reload; the drain first checks that at least `min_ready` other
   servers still take new sessions, and never takes the last one out;
2. switch: cluster.yaml's `upgrade` hook on the node's box ({node},
   {release}, {address}); proven by the node's `current` link when
   cluster.yaml says where its releases are;
3. restart: the `restart` hook; proven when the health URL answers 200 and
   the version URL names the release;
4. smoke: each smoke URL fetched from the balancer's box straight to the
   node, before it takes traffic;
5. back in (when the stage ends "in"): ready, its health check UP, saved;
6. soak: the node watched for `soak` seconds: a single 5xx it answers or a
   failed health check fails the stage.

When a step fails, `keep_out` takes the node out again (maint), unless that
would leave the site no server: a node that fails stays out, the site serves
on the others.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from console.actions.balancer import nodes, servers
from console.actions.context import Context
from console.actions.plan import Check, Plan, Probe, Step, poll
from console.actions.roles.hot_warm import health_up
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes import http
from console.probes.node import started_of
from console.state.model import ClusterState
from console.text import one_line, printable

RELEASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
HTTP_TIME = 5.0
SOAK_EVERY = 1.0


def check_release(name: str) -> str:
    """NAME if it can name a release (letters, digits, . _ + -); else ActionError."""
    if not RELEASE.fullmatch(name):
        raise ActionError(
            f"{name!r} cannot name a release: use letters, digits and . _ + - (at most 64)"
        )
    return name


def fill(template: str, node: WebNode, address: str, release: str = "") -> str:
    """A hook's command: {node}, {address} and {release} filled in, each shell-quoted."""
    said = template.replace("{node}", shlex.quote(node.name))
    said = said.replace("{address}", shlex.quote(address))
    return said.replace("{release}", shlex.quote(release))


def version_of(body: str) -> str | None:
    """The release a version URL's answer names: JSON {"release": ...}, else its first word."""
    text = body.strip()
    try:
        loaded = json.loads(text)
    except ValueError:
        loaded = None
    if isinstance(loaded, dict):
        found = loaded.get("release") or loaded.get("version")
        return printable(str(found))[:64] if found is not None else None
    first = text.split()[0] if text.split() else ""
    return printable(first)[:64] or None


def _hook_step(
    inv: Inventory, node: WebNode, name: str, release: str, title: str, proves: str, verify: Probe
) -> Step:
    template = getattr(inv.hooks, name)
    address = inv.box(node.box).address
    command = fill(template or "", node, address, release)

    async def act(ctx: Context) -> str:
        if not template:
            raise ActionError(f"cluster.yaml has no `{name}` hook (hooks.{name})")
        result = await ctx.run(node.box, command)
        if result.exit_status != 0:
            why = one_line(result.stderr or result.stdout, 200) or "no message"
            raise ActionError(f"hook {name} on {node.box} exited {result.exit_status}: {why}")
        return one_line(result.stdout, 200) or "exit 0"

    return Step(
        title=title,
        where=f"ssh {node.box}",
        command=command or f"(no `{name}` hook in cluster.yaml)",
        expects=f"cluster.yaml's `{name}` hook",
        proves=proves,
        act=act,
        verify=verify,
    )


def _switched(node: WebNode, release: str) -> Probe:
    async def probe(ctx: Context) -> Check:
        if node.releases is None:
            return Check(True, "the hook exited 0 (cluster.yaml names no releases directory)")
        link = posixpath.join(node.releases, "current")
        result = await ctx.run(node.box, f"readlink {shlex.quote(link)}")
        found = posixpath.basename(result.stdout.strip().rstrip("/"))
        if result.exit_status != 0 or not found:
            return Check(False, f"{link} is not a link on {node.box}")
        return Check(found == release, f"{link} points at {printable(found)}")

    return probe


def answers(node: WebNode, release: str, since: list[float] | None = None) -> Probe:
    """Health 200 and, when there is a version URL, that it names RELEASE; with SINCE (the
    box's clock when the restart was asked, once noted), that its process started after it.

    Without SINCE, a restart already under way when this one was asked could answer for it
    (it may resolve `current` after the switch), and the one asked would follow a moment
    later, under the smoke test's feet."""
    health = http.Request("GET", node.health_url, HTTP_TIME)
    version = http.Request("GET", node.version_url, HTTP_TIME) if node.version_url else None

    async def probe(ctx: Context) -> Check:
        answer = await ctx.fetch(node.box, health)
        problem = answer.problem(health.url, f"{node.name}'s site")
        if problem is not None:
            return Check(False, problem)
        if answer.status != 200:
            said = one_line(answer.body, 120)
            return Check(False, f"{node.name}'s health URL answers {answer.status}: {said}")
        if version is None:
            return Check(True, f"{node.name}'s health URL answers 200 (no version_url to ask)")
        seen = await ctx.fetch(node.box, version)
        problem = seen.problem(version.url, f"{node.name}'s site")
        if problem is not None:
            return Check(False, problem)
        running = version_of(seen.body) if seen.status == 200 else None
        if running != release:
            return Check(False, f"{node.name} answers 200 but runs {running or '?'}, not {release}")
        started = started_of(seen.body)
        if since and started is not None and started < since[0]:
            return Check(
                False,
                f"{node.name} runs {release} but started before the restart was asked "
                f"({since[0] - started:.1f} s before): that restart is still to come",
            )
        return Check(True, f"{node.name} answers 200 and runs {release}")

    return probe


def smoke(inv: Inventory, node: WebNode, box: str) -> Step | None:
    address = inv.box(node.box).address
    url_address = f"[{address}]" if ":" in address else address
    urls = [
        u.replace("{node}", node.name).replace("{address}", url_address) for u in inv.upgrade.smoke
    ]
    if not urls:
        return None
    seen: list[str] = []

    async def act(ctx: Context) -> str:
        seen.clear()
        for url in urls:
            answer = await ctx.fetch(box, http.Request("GET", url, HTTP_TIME))
            problem = answer.problem(url, f"{node.name}'s site")
            if problem is not None:
                raise ActionError(problem)
            if answer.status is None or answer.status >= 400:
                raise ActionError(f"{url} answers {answer.status}: {one_line(answer.body, 120)}")
            seen.append(f"{url} {answer.status}")
        return "; ".join(seen)

    async def verify(ctx: Context) -> Check:
        return Check(len(seen) == len(urls), "; ".join(seen) or "nothing fetched")

    return Step(
        title=f"Smoke-test {node.name} before it takes traffic",
        where=f"curl on {box}, straight to {node.name}",
        command="; ".join(f"curl {u}" for u in urls),
        expects=f"{node.name} is out of the balancer and healthy",
        proves="every smoke URL answers below 400",
        act=act,
        verify=verify,
    )


def _soak(node: WebNode, seconds: float) -> Step:
    said: list[str] = []

    async def act(ctx: Context) -> str:
        first = await servers.stat_of(ctx, node)
        start_5xx = int(first.get("hrsp_5xx") or 0)
        start_total = int(first.get("stot") or 0)
        ends = time.monotonic() + seconds
        while True:
            row = await servers.stat_of(ctx, node)
            errors = int(row.get("hrsp_5xx") or 0) - start_5xx
            served = int(row.get("stot") or 0) - start_total
            status = row.get("status", "?")
            if errors > 0:
                raise ActionError(f"{node.name} answered {errors} 5xx of {served} sessions")
            if not status.startswith("UP"):
                raise ActionError(f"{node.server} went {status} ({row.get('check_status')})")
            if time.monotonic() >= ends:
                said[:] = [f"{served} sessions, no 5xx, health UP for {seconds:g} s"]
                return said[0]
            await asyncio.sleep(min(SOAK_EVERY, max(0.0, ends - time.monotonic())))

    async def verify(ctx: Context) -> Check:
        return Check(bool(said), said[0] if said else "not watched")

    return Step(
        title=f"Soak {node.name} for {seconds:g} s",
        where="HAProxy runtime API",
        command="show stat (every 1 s): hrsp_5xx, status",
        expects=f"{node.name} takes traffic",
        proves="it answers no 5xx and stays UP the whole time",
        act=act,
        verify=verify,
    )


def keeps_min_ready(node: WebNode, least: int) -> Probe:
    """A precondition: taking NODE out leaves at least LEAST other servers taking new sessions.

    Only the live backend serves the site: a node in another takes nothing from it.
    """

    async def pre(ctx: Context) -> Check:
        name, live = servers.backend_of(ctx.inv, node), await servers.live_of(ctx)
        if name != live:
            return Check(True, f"{node.name} is in backend {name}, not the live {live}")
        rows = await servers.rows_of(ctx, name)
        mine = rows.get(node.server)
        serving = [
            s
            for s, r in rows.items()
            if servers.takes_traffic(r.get("status", ""), r.get("weight", ""))
        ]
        if mine is None or node.server not in serving:
            return Check(True, f"{node.name} takes no new sessions now; nothing is taken away")
        others = [s for s in serving if s != node.server]
        if len(others) < least:
            listed = ", ".join(others) or "none"
            return Check(
                False,
                f"only {len(others)} other server(s) take new sessions ({listed}); "
                f"min_ready is {least}",
            )
        return Check(
            True, f"{len(others)} other server(s) still take new sessions (min_ready {least})"
        )

    return pre


def take_out(inv: Inventory, state: ClusterState, node: WebNode, least: int) -> Plan:
    """Drain NODE, wait for its sessions, maint, save: the balancer's own plan, with min_ready."""
    plan = nodes.plan_state(inv, state, node.name, "drain", then_maint=True)
    first = nodes.also_pre(plan.steps[0], keeps_min_ready(node, least))
    return replace(plan, steps=(first, *plan.steps[1:]))


def keep_out(inv: Inventory, state: ClusterState, node: WebNode) -> tuple[Step, ...]:
    """Steps that put NODE in MAINT after a failure, unless it is the last server serving."""
    return nodes.plan_state(inv, state, node.name, "maint").steps


def plan_node(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """The stage that moves ARGS' node to ARGS' release; it ends in the balancer or out of it."""
    node = nodes.web_node(inv, str(args["node"]))
    release = check_release(str(args["release"]))
    ends_in = args.get("end") == "in"
    least = int(args.get("min_ready") or 1)
    soak = float(args.get("soak") or 0)
    box = inv.balancer.box if inv.balancer else node.box
    out = take_out(inv, state, node, least)
    steps = list(out.steps)
    steps.append(
        _hook_step(
            inv,
            node,
            "upgrade",
            release,
            f"Switch {node.name} to {release}",
            f"{node.name}'s current release is {release}",
            _switched(node, release),
        )
    )
    timeout = inv.upgrade.check_timeout
    asked: list[float] = []  # the node's clock just before the restart hook
    restarted = answers(node, release, asked)
    restart = _hook_step(
        inv,
        node,
        "restart",
        release,
        f"Restart {node.name} on {release}",
        f"its health URL answers 200 and it runs {release}, started after the hook was run "
        f"(when the version URL says when it started), within {timeout:g} s",
        restarted,
    )
    noted = _noting_clock(restart, node, asked)
    steps.append(replace(restart, act=_then_poll(noted, restarted, timeout)))
    tried = smoke(inv, node, box)
    if tried is not None:
        steps.append(tried)
    if ends_in:
        steps += [*nodes.plan_state(inv, state, node.name, "ready").steps, health_up(node)]
        if soak > 0:
            steps.append(_soak(node, soak))
    refusals = out.refusals
    if inv.hooks.upgrade is None or inv.hooks.restart is None:
        refusals += (
            "cluster.yaml needs both hooks.upgrade and hooks.restart to upgrade a node "
            "(see docs/upgrade.md)",
        )
    where = "back in the balancer" if ends_in else "left out of the balancer"
    return Plan(
        action="upgrade node",
        target=node.name,
        summary=f"move {node.name} to {release}, {where}",
        steps=tuple(steps),
        refusals=refusals,
        way_back=f"the same stage back to {args.get('from') or 'the previous release'}",
        memo={"out_after": len(out.steps)},  # a failure from here on leaves the node out
    )


def plan_out(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """The stage that returns a spare brought in for the roll to where it was: out."""
    node = nodes.web_node(inv, str(args["node"]))
    out = take_out(inv, state, node, int(args.get("min_ready") or 1))
    return replace(
        out,
        action="spare out",
        target=node.name,
        summary=f"return {node.name} to warm spare: out of the balancer, as before the roll",
    )


def _noting_clock(step: Step, node: WebNode, asked: list[float]) -> Step:
    """STEP, its act preceded by a read of NODE's clock into ASKED (the box's own clock:
    the version URL's start time is the box's too)."""
    act = step.act

    async def run(ctx: Context) -> str:
        result = await ctx.run(node.box, "date +%s.%N")
        try:
            asked[:] = [float(result.stdout.strip())]
        except ValueError:
            asked.clear()  # no clock read: the start time is not compared
        return await act(ctx)

    return replace(step, act=run)


def _then_poll(step: Step, probe: Probe, timeout: float) -> Any:
    """STEP's act, then PROBE polled until it passes (a restart takes a moment)."""
    act = step.act

    async def run(ctx: Context) -> str:
        said = await act(ctx)
        check = await poll(ctx, probe, timeout, every=0.5)
        if not check.ok:
            raise ActionError(f"{check.detail} after {timeout:g} s")
        return said

    return run
