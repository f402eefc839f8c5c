"""The read-only page a switchover puts up while writes have nowhere to go, and takes down.

The page is put up only when the site is in normal mode (a site already
read-only or in maintenance for another reason is left as it is), and taken
down only if it is still the page this switchover put up, read just before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from console.actions.context import Context
from console.actions.plan import Check, Step
from console.actions.site import checks, steps
from console.inventory import Balancer, Inventory, WebNode
from console.state.model import ClusterState

MESSAGE = "The database is switching over. You can save changes again in a moment"


def guard_of(
    inv: Inventory, state: ClusterState, resume: Mapping[str, Any] | None
) -> Balancer | None:
    """The balancer whose read-only page this run puts up and takes down, or None.

    None when there is no balancer, or when the site is already read-only or
    in maintenance for another reason: then it is left as it is. A run that
    finishes an interrupted one takes down the page that one put up.
    """
    if inv.balancer is None or state.balancer is None:
        return None
    mode = state.balancer.flags.mode
    if mode == "normal" or (resume and resume.get("guard") and mode == "read-only"):
        return inv.balancer
    return None


def lift(balancer: Balancer) -> Step:
    """Back to normal mode, at run time and in the map file, if the mode is still ours."""
    normal = steps.Flags("normal")
    set_normal = steps.set_flags(balancer, normal, was="read-only")
    save_normal = steps.save_flags(balancer, "normal")

    async def still_ours(ctx: Context) -> Check:
        have = await steps.runtime_map(ctx, balancer.flags_map)
        mode, message = have.get("mode", "normal"), have.get("message", steps.UNSET)
        ours = mode == "normal" or (mode == "read-only" and message == MESSAGE)
        said = f"the balancer's mode is {mode}" + (f" ({message!r})" if mode != "normal" else "")
        if not ours:
            said += ": not the page this run put up, so it is left as it is"
        return Check(ours, said)

    async def act(ctx: Context) -> str:
        return f"{await set_normal.act(ctx)}; {await save_normal.act(ctx)}"

    async def verify(ctx: Context) -> Check:
        runtime, saved = await set_normal.verify(ctx), await save_normal.verify(ctx)
        return Check(runtime.ok and saved.ok, f"{runtime.detail}; {saved.detail}")

    return Step(
        title="Lift the read-only mode on the balancer",
        where=f"HAProxy runtime API and SFTP on {balancer.box}",
        command=f"set map {balancer.flags_map} mode normal; save the map file",
        expects="the mode is still the read-only page this run put up (read just before)",
        proves="`show map` and the map file both read mode normal",
        act=act,
        verify=verify,
        pre=still_ours,
    )


def read_only_on(balancer: Balancer, was: str) -> list[Step]:
    """The page goes up (WAS: the mode seen, normal, or the page of the run this one finishes)."""
    flags = steps.Flags("read-only", MESSAGE, steps.UNSET)
    on = steps.set_flags(balancer, flags, was)
    return [
        replace(on, title="Turn writes away at the balancer (read-only page)", undo=lift(balancer)),
        steps.save_flags(balancer, "read-only"),
        *([checks.check_site(balancer, "read-only")] if balancer.site_url else []),
    ]


def site_back(hot: tuple[WebNode, ...], guard: Balancer | None) -> list[Step]:
    """Each serving node finds the new primary; then writes are let through again."""
    found = [checks.check_nodes(hot)] if hot else []
    if guard is not None:
        found.append(lift(guard))
        if guard.site_url:
            # The nodes' health checks failed while the primary changed: give the
            # balancer the time to take them back, as after a failover.
            found.append(checks.check_site(guard, "normal", settle=checks.BACK_IN))
    return found


def hot_nodes(inv: Inventory, state: ClusterState, healthy: bool) -> tuple[WebNode, ...]:
    """The nodes that are hot now, and answer their health URL if HEALTHY (it touches the
    database: each must find the new primary)."""
    live = {
        n.name for n in state.nodes if n.role == "hot" and (not healthy or n.health_status == 200)
    }
    return tuple(n for n in inv.web_nodes if n.name in live)
