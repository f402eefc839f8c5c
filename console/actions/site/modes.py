"""The site's modes: read-only (reads go on, writes get a polite page) and maintenance.

The balancer is the guard: its flags map decides, per request, whether a
visitor gets the site or the 503 page with the message and the time.
Read-only also sets default_transaction_read_only on every database member
and read_only in every node's role file, so the site itself refuses writes
politely too; but that database flag is advisory (BEGIN READ WRITE or SET
overrides it), so it is a second line, never the guard. Maintenance touches
only the balancer: the nodes stay up and reachable directly for testing.

Each plan records the mode it found; the balancer's mode is read again just
before the first step and before the flags are switched, and a site found in
another mode is left alone (plan again). Run twice, the second run finds
each layer already so and says it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import console.actions.site.checks as checks
import console.actions.site.steps as steps
from console.actions.balancer.nodes import also_pre
from console.actions.context import Context
from console.actions.plan import Plan, Step
from console.actions.site.inputs import Until
from console.errors import ActionError
from console.inventory import Balancer, Database, Inventory, WebNode
from console.state.balancer import SiteFlags
from console.state.model import ClusterState

TARGET = "the site"
READ_ONLY_MESSAGE = "Reading works as usual, saving changes is paused for a while."
MAINTENANCE_MESSAGE = "The site is being upgraded."
NO_UNTIL = "the end of the maintenance"  # the page reads "...again at the end of the maintenance"


@dataclass(frozen=True)
class _Site:
    """What planning found out about the site: who answers, and why it must not run."""

    balancer: Balancer
    flags: SiteFlags | None
    primary: Database | None
    standbys: tuple[Database, ...]
    nodes: tuple[WebNode, ...]
    refusals: tuple[str, ...]
    notes: tuple[str, ...]


def _survey(inv: Inventory, state: ClusterState, needs_primary: bool) -> _Site:
    if inv.balancer is None:
        raise ActionError("cluster.yaml declares no balancer")
    balancer = inv.balancer
    refusals, notes = [], []
    if state.balancer is None or not state.answers(balancer.box):
        refusals.append("the balancer's state is not known now: its box does not answer")
    if not balancer.site_url:
        refusals.append("balancer.site_url is not set in cluster.yaml: the site cannot be checked")
    seen = {d.name: d for d in state.databases if state.answers(d.box) and d.role is not None}
    primaries = [db for db in inv.databases if db.name in seen and seen[db.name].role == "primary"]
    standbys = tuple(db for db in inv.databases if db.name in seen and db not in primaries)
    if needs_primary and len(primaries) != 1:
        names = ", ".join(db.name for db in primaries)
        refusals.append(
            f"two primaries answer ({names}): settle that first"
            if primaries
            else "no database primary answers now, so the write probe cannot be verified; "
            "`hotspare maintenance on --until TIME` needs no database"
        )
    missing = [db.name for db in inv.databases if db.name not in seen]
    if missing and needs_primary:
        notes.append(
            f"not reached: {', '.join(missing)} (no answer): its flag is not changed; "
            "run this again once it answers, before promoting it"
        )
    nodes = tuple(node for node in inv.web_nodes if state.answers(node.box))
    skipped = [node.name for node in inv.web_nodes if node not in nodes]
    if skipped and needs_primary:
        notes.append(f"not reached: {', '.join(skipped)}: its role file is not changed")
    flags = state.balancer.flags if state.balancer is not None else None
    primary = primaries[0] if len(primaries) == 1 else None
    return _Site(balancer, flags, primary, standbys, nodes, tuple(refusals), tuple(notes))


def _address(inv: Inventory, node: WebNode) -> str:
    return inv.box(node.box).address


def _members(site: _Site, on: bool) -> list[Step]:
    members = [(site.primary, False)] if site.primary else []
    return [
        steps.db_flag(db, on, standby)
        for db, standby in members + [(s, True) for s in site.standbys]
    ]


def _summary(text: str, site: _Site) -> str:
    return "; ".join([text, *site.notes])


def _was(site: _Site) -> str:
    """The mode the plan found (a plan without it is refused: the balancer did not answer)."""
    return site.flags.mode if site.flags is not None else "normal"


def _guarded(before: list[Step], site: _Site) -> list[Step]:
    """BEFORE (the steps ahead of the flags' switch), the first checking the mode planned."""
    if not before:
        return before
    return [also_pre(before[0], steps.mode_is(site.balancer, _was(site))), *before[1:]]


def _same_flags(site: _Site, flags: steps.Flags) -> bool:
    now = site.flags
    if now is None:
        return False
    unset = steps.UNSET
    return (now.mode, now.message or unset, now.until or unset) == (
        flags.mode,
        flags.message,
        flags.until,
    )


def plan_read_only_on(
    inv: Inventory, state: ClusterState, until: Until | None, message: str | None
) -> Plan:
    """The plan to make the site read-only: writes get the polite page, reads go on."""
    site = _survey(inv, state, needs_primary=True)
    words = message or READ_ONLY_MESSAGE
    shown_until = until.text if until else NO_UNTIL
    flags = steps.Flags("read-only", words, shown_until)
    hook = inv.hooks.after_role_change
    plan_steps = [
        steps.set_flags(site.balancer, flags, _was(site)),
        steps.save_flags(site.balancer, "read-only"),
        *(
            steps.tell_node(n, True, words, until.text if until else "", hook, _address(inv, n))
            for n in site.nodes
        ),
        *_members(site, on=True),
        checks.check_site(site.balancer, "read-only"),
    ]
    if site.primary is not None:
        plan_steps.append(checks.write_probe(site.primary, blocked=True))
    summary = (
        f"writes get the read-only page until {shown_until}, reads go on; "
        "default_transaction_read_only on every member (advisory: the balancer is the guard)"
    )
    if site.flags is not None and site.flags.mode == "maintenance":
        summary = "the maintenance page comes down and reads come back; " + summary
    if _same_flags(site, flags):
        summary = f"the site is already read-only until {shown_until}: each layer is checked again"
    back = "hotspare read-only off"
    return Plan(
        "read-only on",
        TARGET,
        _summary(summary, site),
        tuple(plan_steps),
        site.refusals,
        None,
        back,
    )


def plan_read_only_off(inv: Inventory, state: ClusterState) -> Plan:
    """The plan to take writes again: database, nodes, then the balancer lets them through."""
    site = _survey(inv, state, needs_primary=True)
    refusals = site.refusals
    if site.flags is not None and site.flags.mode == "maintenance":
        refusals += (
            "the site is in maintenance: `hotspare maintenance off` first "
            "(it goes back to read-only), then `hotspare read-only off`",
        )
    flags = steps.Flags("normal")
    hook = inv.hooks.after_role_change
    before = [
        *_members(site, on=False),
        *([checks.write_probe(site.primary, blocked=False)] if site.primary else []),
        *(steps.tell_node(n, False, "", "", hook, _address(inv, n)) for n in site.nodes),
    ]
    plan_steps = [
        # Nothing is changed unless the site is still in the mode planned (read-only, or
        # normal when it already takes writes): never lift a mode set since.
        *_guarded(before, site),
        steps.set_flags(site.balancer, flags, _was(site)),
        steps.save_flags(site.balancer, "normal"),
        checks.check_site(site.balancer, "normal"),
    ]
    said = "the database takes writes, then the nodes, then the balancer"
    if _was(site) == "normal":
        said = "the site already takes writes: each layer is checked again"
    return Plan(
        "read-only off",
        TARGET,
        _summary(said, site),
        tuple(plan_steps),
        refusals,
        None,
        _back_on(site.flags),
    )


def _back_on(flags: SiteFlags | None) -> str:
    """`hotspare read-only on` with the message and time the site had."""
    command = "hotspare read-only on"
    if flags is None or flags.mode != "read-only":
        return command
    if flags.message:
        command += f" --message {shlex.quote(flags.message)}"
    if flags.until and flags.until != NO_UNTIL:
        command += f" --until {shlex.quote(flags.until)}"
    return command


def plan_maintenance_on(
    inv: Inventory, state: ClusterState, until: Until, message: str | None
) -> Plan:
    """The plan to show every visitor the maintenance page; the nodes stay up."""
    site = _survey(inv, state, needs_primary=False)
    flags = steps.Flags("maintenance", message or MAINTENANCE_MESSAGE, until.text)
    healthy = _healthy(site, state)
    plan_steps = [
        steps.set_flags(site.balancer, flags, _was(site)),
        steps.save_flags(site.balancer, "maintenance"),
        checks.check_site(site.balancer, "maintenance"),
    ]
    if healthy:
        plan_steps.append(checks.check_nodes(healthy))
    summary = f"every visitor gets the maintenance page, back at {until.text}; the nodes stay up"
    if _same_flags(site, flags):
        summary = f"the maintenance page is already up, back at {until.text}: checked again"
    unwell = [n.name for n in inv.web_nodes if n not in healthy]
    if unwell:
        summary += f"; not checked directly: {', '.join(unwell)} (not healthy at the last look)"
    return Plan(
        "maintenance on",
        TARGET,
        summary,
        tuple(plan_steps),
        site.refusals,
        None,
        "hotspare maintenance off",
    )


def _healthy(site: _Site, state: ClusterState) -> tuple[WebNode, ...]:
    """The reachable nodes whose health URL answered 200 at the last look."""
    status = {n.name: n.health_status for n in state.nodes}
    return tuple(n for n in site.nodes if status.get(n.name) == 200)


def plan_maintenance_off(inv: Inventory, state: ClusterState) -> Plan:
    """The plan to take the maintenance page down: back to normal, or to read-only if it was.

    A site not in maintenance has no page to take down: its mode is left as it is.
    """
    site = _survey(inv, state, needs_primary=False)
    was = _was(site)
    back = "hotspare maintenance on --until TIME"
    if site.flags is not None and site.flags.mode == "maintenance" and site.flags.until:
        back = f"hotspare maintenance on --until {shlex.quote(site.flags.until)}"
    if was == "read-only":
        summary = (
            "the maintenance page is not up: nothing to take down; the site is read-only and "
            "stays so (`hotspare read-only off` takes writes again)"
        )
        kept = [steps.save_flags(site.balancer, was), checks.check_site(site.balancer, was)]
        return Plan(
            "maintenance off",
            TARGET,
            summary,
            tuple(_guarded(kept, site)),
            site.refusals,
            None,
            back,
        )
    under = was == "maintenance" and _read_only_underneath(site, state)
    if under:
        flags: steps.Flags | steps.Resolve = _read_only_texts(site.nodes)
        path = site.balancer.flags_map
        shown: str | None = (
            f"set map {path} message|until <read from the nodes' role files>; "
            f"set map {path} mode read-only"
        )
    else:
        flags, shown = steps.Flags("normal"), None
    mode = "read-only" if under else "normal"
    plan_steps = [
        steps.set_flags(site.balancer, flags, was, shown),
        steps.save_flags(site.balancer, mode),
        checks.check_site(site.balancer, mode),
    ]
    summary = (
        "the maintenance page comes down; the site was read-only underneath and stays "
        "read-only (`hotspare read-only off` takes writes again)"
        if under
        else "the maintenance page comes down; the site serves normally"
    )
    if was == "normal":
        summary = "the maintenance page is not up: nothing to take down; the site serves normally"
    return Plan("maintenance off", TARGET, summary, tuple(plan_steps), site.refusals, None, back)


def _read_only_underneath(site: _Site, state: ClusterState) -> bool:
    """Whether read-only is on below the balancer: on the primary or in a node's role file."""
    dbs = {d.name: d for d in state.databases}
    primary = dbs.get(site.primary.name) if site.primary else None
    if primary is not None and primary.read_only_default:
        return True
    names = {n.name for n in site.nodes}
    return any(n.read_only for n in state.nodes if n.name in names)


def _read_only_texts(nodes: tuple[WebNode, ...]) -> steps.Resolve:
    """The read-only page's texts, from the first node whose role file is read-only."""

    async def resolve(ctx: Context) -> steps.Flags:
        for node in nodes:
            role = await steps.read_role(ctx, node)
            if role.read_only:
                return steps.Flags(
                    "read-only",
                    role.read_only_message or READ_ONLY_MESSAGE,
                    role.read_only_until or NO_UNTIL,
                )
        return steps.Flags("read-only", READ_ONLY_MESSAGE, NO_UNTIL)

    return resolve


def mode(state: ClusterState) -> str:
    """The site's mode as the balancer's flags say: normal, read-only or maintenance."""
    return state.balancer.flags.mode if state.balancer is not None else "normal"


def is_read_only(inv: Inventory, state: ClusterState, target: str | None) -> bool:
    return mode(state) == "read-only"


def is_not_read_only(inv: Inventory, state: ClusterState, target: str | None) -> bool:
    return mode(state) != "read-only"


def is_in_maintenance(inv: Inventory, state: ClusterState, target: str | None) -> bool:
    return mode(state) == "maintenance"


def is_not_in_maintenance(inv: Inventory, state: ClusterState, target: str | None) -> bool:
    return mode(state) != "maintenance"
