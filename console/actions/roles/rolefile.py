"""A node's role file and its site's own view of it; shared by `node hot|warm` and `scheduler move`.

The role file is rewritten atomically (ctx.write_file), keeping the flags the
action does not change. Whether the site took it is asked of the site itself,
from the node's own box: GET /role (the site's health URL with the path
/role) answers the flags in force as JSON. A marked request made there shows
which access log the node writes now. Hooks from cluster.yaml run on the
node's box with {node}, {role} and {address} filled in.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shlex
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from console import node_role
from console.actions.context import Context
from console.actions.plan import Check, Probe, Step, poll
from console.errors import ActionError
from console.inventory import Inventory, WebNode
from console.probes import http
from console.state.model import ClusterState, NodeState
from console.text import one_line

ROLE_TIMEOUT = 30.0  # how long a site may take to apply a new role file (a hook may restart it)
ROLE_MAX_TIME = 3.0  # curl's --max-time for a node's /role and health URL
CURL = f"curl --max-time {ROLE_MAX_TIME:g}"  # as a plan names a request made on a node

Flags = dict[str, Any]


def live_node(state: ClusterState, name: str) -> NodeState | None:
    """NAME as the last probe saw it, or None if its box is stale or its role file unread."""
    node = next((n for n in state.nodes if n.name == name), None)
    fresh = state.freshness(node.box) if node else None
    if node is None or node.role is None or (fresh is not None and fresh.stale):
        return None
    return node


def show(flags: Flags) -> str:
    """``role=warm scheduler=no mail=log``: flags as the role file writes them."""
    return " ".join(
        f"{k}={('yes' if v else 'no') if isinstance(v, bool) else v}" for k, v in flags.items()
    )


def role_url(node: WebNode) -> str:
    """The site's GET /role on NODE: its health URL with the path /role."""
    parts = urlsplit(node.health_url)
    return urlunsplit((parts.scheme, parts.netloc, "/role", "", ""))


async def site_role(ctx: Context, node: WebNode) -> Flags:
    """The flags NODE's site applies now (GET /role, from the node's own box)."""
    url = role_url(node)
    answer = await ctx.fetch(node.box, http.Request("GET", url, ROLE_MAX_TIME))
    problem = answer.problem(url, f"{node.name}'s site")
    if problem is not None:
        raise ActionError(f"{node.name}: GET {url} failed: {problem}")
    if answer.status != 200:
        said = one_line(answer.body, 120) or "no text"
        raise ActionError(f"{node.name}: GET {url} answered {answer.status}, not 200: {said}")
    try:
        flags = json.loads(answer.body)
    except ValueError as exc:
        raise ActionError(f"{node.name}: GET {url} did not answer JSON: {exc}") from exc
    if not isinstance(flags, dict):
        raise ActionError(f"{node.name}: GET {url} did not answer a JSON object")
    return flags


def differs(flags: Flags, expect: Flags) -> str | None:
    """What in FLAGS is not as EXPECT says, or None."""
    wrong = {k: flags.get(k) for k, v in expect.items() if flags.get(k) != v}
    return show(wrong) if wrong else None


def write_role(node: WebNode, change: Flags, pre: Probe | None = None, expects: str = "") -> Step:
    """Rewrite NODE's role file with CHANGE, keeping its other flags; read back to verify."""

    kept: list[bool] = []

    async def act(ctx: Context) -> str:
        before = await read_role(ctx, node)
        after = dataclasses.replace(before, **change)
        kept[:] = [after == before]
        if kept[0]:
            return f"already {show(change)}; left as it is"
        await ctx.write_file(node.box, node.role_file, node_role.render(after))
        return f"written: {show(change)}"

    async def verify(ctx: Context) -> Check:
        now = dataclasses.asdict(await read_role(ctx, node))
        wrong = differs(now, change)
        already = ", already so: nothing written" if kept and kept[0] and wrong is None else ""
        return Check(wrong is None, f"{node.role_file} reads {wrong or show(change)}{already}")

    return Step(
        title=f"Write {node.name}'s role file: {show(change)}",
        where=f"SFTP on {node.box}",
        command=f"rewrite {node.role_file} atomically with {show(change)} (other flags kept)",
        expects=expects or f"{node.role_file} is a valid role file",
        proves=f"reading it back gives {show(change)}",
        act=act,
        verify=verify,
        pre=pre,
    )


async def read_role(ctx: Context, node: WebNode) -> node_role.NodeRole:
    """NODE's role file as it is on its box."""
    text = await ctx.read_file(node.box, node.role_file)
    try:
        return node_role.parse(text)
    except node_role.RoleFileError as exc:
        raise ActionError(f"{node.name}: {node.role_file} is not a valid role file: {exc}") from exc


def site_took(node: WebNode, expect: Flags, log_role: str | None = None) -> Step:
    """NODE's site applies EXPECT (GET /role); with LOG_ROLE, a new request logs under it."""

    async def probe(ctx: Context) -> Check:
        try:
            wrong = differs(await site_role(ctx, node), expect)
        except ActionError as exc:  # a site restarted by a hook answers again soon
            return Check(False, str(exc))
        return Check(wrong is None, f"{node.name}'s /role says {wrong or show(expect)}")

    async def verify(ctx: Context) -> Check:
        check = await probe(ctx)
        if not check.ok or log_role is None:
            return check
        logged = await _logged_under(ctx, node, log_role)
        return Check(logged is None, logged or f"{check.detail}; {_logs_in(node, log_role)}")

    proves = f"GET /role says {show(expect)}"
    if log_role is not None:
        proves += f"; a request there is logged in {node.access_log_for(log_role)} only"
    return Step(
        title=f"Check that {node.name}'s site took it",
        where=f"ssh {node.box}",
        command=http.Request("GET", role_url(node), ROLE_MAX_TIME).command(),
        expects="the site re-reads its role file (or the hook made it)",
        proves=proves,
        act=polled(probe, ROLE_TIMEOUT),
        verify=verify,
    )


def _logs_in(node: WebNode, role: str) -> str:
    return f"new requests are logged in {node.access_log_for(role)}"


async def _logged_under(ctx: Context, node: WebNode, role: str) -> str | None:
    """Make a marked request to NODE; None if it is logged under ROLE only, else what is wrong."""
    token = f"hotspare-check-{secrets.token_hex(6)}"
    want = node.access_log_for(role)
    other = node.access_log_for("hot" if role == "warm" else "warm")
    q = shlex.quote
    url = f"{role_url(node)}?{token}"
    request = http.Request("GET", url, ROLE_MAX_TIME).curl("-o /dev/null")
    script = (
        f'{request} || {{ echo "curl $?"; exit 3; }}\n'
        f"i=0; while [ $i -lt 30 ]; do tail -c 1048576 {q(want)} 2>/dev/null"
        f" | grep -qF {token} && break; i=$((i+1)); sleep 0.1; done\n"
        f"tail -c 1048576 {q(want)} 2>/dev/null | grep -qF {token} && echo want\n"
        f"tail -c 1048576 {q(other)} 2>/dev/null | grep -qF {token} && echo other\n"
        "true"
    )
    result = await ctx.run(node.box, script)
    found = result.stdout.split()
    if result.exit_status == 3 and found[-1:] and found[-1].isdigit():
        return f"{node.name}: the marked request failed: {http.no_answer(int(found[-1]), url)}"
    if result.exit_status != 0:
        said = one_line(result.stderr, 200) or f"exit {result.exit_status}"
        return f"{node.name}: the marked request failed: {said}"
    if "other" in found:
        return f"{node.name} logged a request in {other}, the {role} node must not"
    if "want" not in found:
        return f"{node.name}: a request made at {token} is not in {want} after 3 s"
    return None


def fill_hook(hook: str, node: WebNode, role: str, address: str) -> str:
    """The hook's command with {node}, {role} and {address} filled in (docs/inventory.md)."""
    return hook.replace("{node}", node.name).replace("{role}", role).replace("{address}", address)


def hook_command(inv: Inventory, node: WebNode, template: str, role: str) -> str:
    """TEMPLATE filled in for NODE, whose address is its box's."""
    return fill_hook(template, node, role, inv.box(node.box).address)


def run_hook(inv: Inventory, node: WebNode, name: str, role: str) -> list[Step]:
    """The step that runs hook NAME on NODE's box, or none when cluster.yaml sets no such hook."""
    template = getattr(inv.hooks, name)
    if not template:
        return []
    command = hook_command(inv, node, template, role)

    async def act(ctx: Context) -> str:
        result = await ctx.run(node.box, command)
        if result.exit_status != 0:
            why = result.stderr.strip()[:200] or "no message"
            raise ActionError(f"hook {name} on {node.box} exited {result.exit_status}: {why}")
        return result.stdout.strip()[:200] or "exit 0"

    async def verify(ctx: Context) -> Check:
        return Check(True, f"hook {name} exited 0")

    return [
        Step(
            title=f"Run hook {name} on {node.name}",
            where=f"ssh {node.box}",
            command=command,
            expects="cluster.yaml's hook for this change",
            proves="it exits 0",
            act=act,
            verify=verify,
        )
    ]


def polled(probe: Probe, timeout: float) -> Callable[[Context], Awaitable[str]]:
    """A step's act that polls PROBE until it passes; ActionError if it does not in TIMEOUT s."""

    async def act(ctx: Context) -> str:
        check = await poll(ctx, probe, timeout, every=0.5)
        if not check.ok:
            raise ActionError(f"{check.detail} after {timeout:g} s")
        return check.detail

    return act
