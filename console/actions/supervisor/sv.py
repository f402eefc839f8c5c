"""The steps that restart a site through runit's `sv` (or the restart hook), each proven.

`sv -w N restart DIR` sends the site TERM then CONT (so a SIGSTOPped site
takes the TERM too) and waits N s for it to run again; when it does not
stop in time, `sv -w N force-restart DIR` does the same and then kills it.
The step says which it took. The restart is proven by the supervisor itself:
the site runs under a pid other than the one before. Then the health URL
must answer 200 from the node's own box.
"""

from __future__ import annotations

import shlex

from console.actions.context import Context
from console.actions.plan import Check, Step, poll
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes import http
from console.probes.node import started_of
from console.state.supervisor import SupervisorState, parse_sv_status
from console.text import one_line

SV_WAIT = 10  # seconds `sv -w` waits for the site to stop and run again
SV_MARGIN = 5.0  # what the ssh command may take beyond sv's own wait
STATUS_TIMEOUT = 5.0
HEALTH_MAX_TIME = 2.0


def _service(node: WebNode) -> str:
    if node.supervisor is None:
        raise ActionError(f"cluster.yaml names no supervisor for {node.name}")
    return node.supervisor.service


async def sv_status(ctx: Context, node: WebNode) -> SupervisorState:
    """What `sv status` says of NODE's site now (a state with a problem if sv cannot tell)."""
    service = _service(node)
    result = await ctx.run(node.box, f"sv status {shlex.quote(service)} 2>&1", STATUS_TIMEOUT)
    return parse_sv_status(result.stdout, service)


def _state_line(pid: int) -> str:
    """A shell line printing PID's state letter (T: stopped by a signal, as by SIGSTOP)."""
    return f"awk '{{print $3}}' /proc/{pid}/stat 2>/dev/null"


def sv_restart(node: WebNode, wait: int = SV_WAIT) -> Step:
    """Restart NODE's site through runit; force it (kill) if it does not stop within WAIT s."""
    service = shlex.quote(_service(node))
    plain = f"sv -w {wait} restart {service}"
    force = f"sv -w {wait} force-restart {service}"
    before: list[int] = []
    how: list[str] = []  # which sv command restarted it, for the proof

    async def act(ctx: Context) -> str:
        old = await sv_status(ctx, node)
        if old.state is None:
            raise ActionError(f"runit cannot be asked on {node.box}: {old.problem}")
        before[:] = [old.pid] if old.pid is not None else []
        how[:] = ["sv restart"]
        note = ""
        if old.pid is not None:
            seen = await ctx.run(node.box, _state_line(old.pid), STATUS_TIMEOUT)
            if seen.stdout.strip() == "T":
                note = f"pid {old.pid} was stopped (SIGSTOP): sv sends it CONT after TERM; "
                ctx.say(f"{node.name}: {note.rstrip('; ')}")
        result = await ctx.run(node.box, f"{plain} 2>&1", wait + SV_MARGIN)
        said = one_line(result.stdout, 160)
        if result.exit_status == 0 and said.startswith("ok:"):
            return f"{note}sv restart: {said}"
        ctx.say(f"{node.name}: sv restart did not see it run again ({said}); forcing")
        how[:] = ["sv force-restart (sv restart timed out; it kills what does not stop)"]
        result = await ctx.run(node.box, f"{force} 2>&1", wait + SV_MARGIN)
        forced = one_line(result.stdout, 160)
        if result.exit_status != 0:
            raise ActionError(f"sv force-restart on {node.box} answered: {forced or 'nothing'}")
        return f"{note}sv restart timed out ({said}); sv force-restart (kill): {forced}"

    async def verify(ctx: Context) -> Check:
        now = await sv_status(ctx, node)
        if now.state != "run" or now.pid is None:
            return Check(False, f"runit has the site {now.state or 'unknown'}: {now.said()}")
        if before and now.pid == before[0]:
            return Check(False, f"the site still runs as pid {now.pid}: it was not restarted")
        was = f"pid {before[0]}" if before else "down"
        by = f" by {how[0]}" if how else ""
        return Check(True, f"runit runs it as pid {now.pid} (was {was}){by}, up {now.state_s} s")

    return Step(
        title=f"Restart {node.name}'s site through runit",
        where=f"ssh {node.box}",
        command=f"{plain}   (if it does not run again: {force}, which kills it)",
        expects="runsv supervises the site; the SSH user may drive it (DIR/supervise/control)",
        proves="`sv status` shows it running under a new pid",
        act=act,
        verify=verify,
    )


def hook_restart(inv: Inventory, node: WebNode, timeout: float) -> Step:
    """Restart NODE's site with cluster.yaml's `restart` hook (no supervisor named)."""
    template = inv.hooks.restart or ""
    address = shlex.quote(inv.box(node.box).address)
    command = template.replace("{node}", shlex.quote(node.name)).replace("{address}", address)
    asked: list[float] = []

    async def started_after(ctx: Context) -> Check:
        if node.version_url is None:
            return Check(True, "the hook exited 0 (no version_url tells when the site started)")
        answer = await ctx.fetch(node.box, http.Request("GET", node.version_url, HEALTH_MAX_TIME))
        started = started_of(answer.body) if answer.status == 200 else None
        if started is None or not asked:
            return Check(False, f"{node.version_url} does not say when the site started")
        return Check(started > asked[0], f"the site started {started - asked[0]:.1f} s after")

    async def act(ctx: Context) -> str:
        clock = await ctx.run(node.box, "date +%s.%N", STATUS_TIMEOUT)
        try:
            asked[:] = [float(clock.stdout.strip())]
        except ValueError:
            asked.clear()
        result = await ctx.run(node.box, command)
        if result.exit_status != 0:
            why = one_line(result.stderr or result.stdout, 200) or "no message"
            raise ActionError(f"hook restart on {node.box} exited {result.exit_status}: {why}")
        check = await poll(ctx, started_after, timeout, every=0.5)
        if not check.ok:
            raise ActionError(f"{check.detail} after {timeout:g} s")
        return one_line(result.stdout, 200) or "exit 0"

    return Step(
        title=f"Restart {node.name}'s site with the restart hook",
        where=f"ssh {node.box}",
        command=command,
        expects="cluster.yaml's `restart` hook (it names no supervisor for the node)",
        proves="the site's version URL says it started after the hook ran (if it has one)",
        act=act,
        verify=started_after,
    )


def healthy(node: WebNode, timeout: float) -> Step:
    """Wait until NODE's health URL answers 200, asked from its own box."""
    request = http.Request("GET", node.health_url, HEALTH_MAX_TIME)

    async def probe(ctx: Context) -> Check:
        answer = await ctx.fetch(node.box, request)
        problem = answer.problem(node.health_url)
        if problem is not None:
            return Check(False, problem)
        return Check(answer.status == 200, f"{node.health_url} answers {answer.status}")

    async def act(ctx: Context) -> str:
        check = await poll(ctx, probe, timeout, every=0.5)
        if not check.ok:
            raise ActionError(f"{check.detail} after {timeout:g} s")
        return check.detail

    return Step(
        title=f"Wait for {node.name}'s health URL to answer",
        where=f"ssh {node.box} (curl)",
        command=request.curl(),
        expects="the restarted site listens again",
        proves=f"it answers 200 within {timeout:g} s",
        act=act,
        verify=probe,
    )


def restart_step(inv: Inventory, node: WebNode, timeout: float) -> Step | None:
    """The step that restarts NODE's site: the supervisor, else the hook; None: neither."""
    if node.supervisor is not None:
        return sv_restart(node)
    if inv.hooks.restart:
        return hook_restart(inv, node, timeout)
    return None
