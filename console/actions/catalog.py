"""Every action, declared once: the CLI's commands, the console's keys, palette and help read it.

An entry names the action in the operator's words, what it acts on, its
options, the plan builder (imported only when an action is planned, so
`hotspare --help` stays fast), what must be typed, and its console key.
Adding an action is one entry here plus its plan module.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.actions.plan import Plan
    from console.actions.request import Request
    from console.inventory import Inventory
    from console.state.model import ClusterState

from console.actions.entries import NODE, SITE, Action, Ask, Key, Option, Target

FORCE = Option("force", "even the last ready node (its name must be typed)")
TIMEOUT = Option(
    "timeout", "how long to wait for sessions to end (default 120)", "seconds", 120.0, metavar="S"
)
UNTIL = Option(
    "until",
    "when the site is back: 03:30, 2026-11-26T03:30, 45m, 1h30m",
    "time",
    None,
    metavar="TIME",
)
AT = Option(
    "at",
    "Patroni does it by itself at TIME: 03:30, 2026-11-26T03:30:15, 10m, 1h30m (default: now)",
    "moment",
    None,
    metavar="TIME",
)
MESSAGE = Option("message", "one line for the page", "message", None, metavar="TEXT")
# The pages' own default messages (console/actions/site/modes.py), offered to edit.
READ_ONLY_MESSAGE = "Reading works as usual, saving changes is paused for a while."
MAINTENANCE_MESSAGE = "The site is being upgraded."
TIMES = "03:30, 2026-11-26T03:30, 45m"
LAST_READY = "the node's name, when it is the last ready node (with --force)"
DB = "console.actions.database"

ACTIONS: tuple[Action, ...] = (
    Action(
        ("drain",),
        "balancer",
        "stop new sessions to a node and wait for its sessions to end",
        NODE,
        "console.actions.balancer:plan_drain",
        (TIMEOUT, Option("then_maint", "put it in maintenance once drained"), FORCE),
        LAST_READY,
        Key("d", "drain", {"force": True}),
    ),
    Action(
        ("ready",),
        "balancer",
        "let a node take traffic again",
        NODE,
        "console.actions.balancer:plan_ready",
        key=Key("r", "ready"),
    ),
    Action(
        ("maint",),
        "balancer",
        "take a node out of the balancer now (its sessions are cut)",
        NODE,
        "console.actions.balancer:plan_maint",
        (FORCE,),
        LAST_READY,
        Key("m", "maint", {"force": True}),
    ),
    Action(
        ("weight",),
        "balancer",
        "set a node's weight on the balancer (0..256)",
        NODE,
        "console.actions.balancer:plan_weight",
        (
            Option("weight", "the new weight, 0..256", "int", None, positional=True, metavar="N"),
            replace(FORCE, help="weight 0 even for the last ready node (its name must be typed)"),
        ),
        "the node's name, for weight 0 on the last ready node (with --force)",
        Key(
            "",
            "weight",
            {"force": True},
            ask=(Ask("weight", "New weight on the balancer (0..256)"),),
        ),
    ),
    Action(
        ("restart",),
        "supervisor",
        "drain a node, restart its site through its supervisor, prove it healthy, ready it",
        NODE,
        "console.actions.supervisor:plan_restart",
        (TIMEOUT,),
        key=Key("", "restart"),
    ),
    Action(
        ("node", "hot"),
        "roles",
        "log a node as hot, then put it in the balancer once its health check passes",
        NODE,
        "console.actions.roles:plan_hot",
        key=Key("h", "hot"),
    ),
    Action(
        ("node", "warm"),
        "roles",
        "take a node out of the balancer, then log it as warm with its mail kept in its log",
        NODE,
        "console.actions.roles:plan_warm",
        (TIMEOUT, FORCE),
        LAST_READY,
        Key("w", "warm", {"force": True}),
    ),
    Action(
        ("scheduler", "move"),
        "roles",
        "stop scheduled jobs and real mail on the scheduler, then start them on NODE",
        NODE,
        "console.actions.roles:plan_move_scheduler",
        typed="the node's name, when it is warm (it will send real mail)",
        key=Key("s", "scheduler"),
    ),
    Action(
        ("read-only", "on"),
        "site",
        "make the site read-only: reads go on, writes get a polite 503 page",
        SITE,
        "console.actions.site:plan_read_only_on",
        (UNTIL, MESSAGE),
        key=Key(
            "o",
            "read-only",
            ask=(
                Ask("message", "Message on the page", READ_ONLY_MESSAGE),
                Ask("until", f"Back at (empty: until turned off; {TIMES})"),
            ),
        ),
        applies="console.actions.site.modes:is_not_read_only",
    ),
    Action(
        ("read-only", "off"),
        "site",
        "take writes again",
        SITE,
        "console.actions.site:plan_read_only_off",
        key=Key("o", "read-only"),
        applies="console.actions.site.modes:is_read_only",
    ),
    Action(
        ("maintenance", "on"),
        "site",
        "put up the 'down for maintenance, back at TIME' page for every visitor",
        SITE,
        "console.actions.site:plan_maintenance_on",
        (replace(UNTIL, required=True), MESSAGE),
        key=Key(
            "M",
            "maint page",
            ask=(
                Ask("until", f"Back at what time? ({TIMES})"),
                Ask("message", "Message on the page", MAINTENANCE_MESSAGE),
            ),
        ),
        applies="console.actions.site.modes:is_not_in_maintenance",
    ),
    Action(
        ("maintenance", "off"),
        "site",
        "take the maintenance page down (back to read-only if it was)",
        SITE,
        "console.actions.site:plan_maintenance_off",
        key=Key("M", "maint page"),
        applies="console.actions.site.modes:is_in_maintenance",
    ),
    Action(
        ("promote",),
        "database",
        "make a streaming standby the primary while the primary is healthy (switchover)",
        Target("database", "standby", "STANDBY"),
        f"{DB}:plan_promote",
        (Option("rejoin", "then make the old primary a standby of the new one (pg_rewind)"),),
        "the standby's name",
        Key("p", "promote", {"rejoin": True}),
        f"{DB}.member:means_promote",
        aliases=("switchover",),
        resumes=True,
    ),
    Action(
        ("failover",),
        "database",
        "promote a standby because the primary is gone",
        Target("database", "standby", "STANDBY"),
        f"{DB}:plan_failover",
        typed="the standby's name (and that the old primary is off, if its box is unreachable)",
        key=Key("p", "promote"),
        applies=f"{DB}.member:means_failover",
    ),
    Action(
        ("rejoin",),
        "database",
        "make an old primary (or a standby that lost its way) a standby of the primary",
        Target("database", "name", "NAME"),
        f"{DB}:plan_rejoin",
        typed="the member's name",
        key=Key("p", "promote"),
        applies=f"{DB}.member:means_rejoin",
    ),
    Action(
        ("patroni", "pause"),
        "database",
        "maintenance mode: Patroni stops failing over and restarting PostgreSQL until resumed",
        SITE,
        f"{DB}:plan_pause",
    ),
    Action(
        ("patroni", "resume"),
        "database",
        "end maintenance mode: Patroni manages PostgreSQL again",
        SITE,
        f"{DB}:plan_resume",
    ),
    Action(
        ("patroni", "restart"),
        "database",
        "have Patroni restart a member's PostgreSQL (the leader stays the leader)",
        Target("database", "member", "MEMBER"),
        f"{DB}:plan_restart",
        (Option("pending", "only if Patroni says a restart is pending (a changed setting)"),),
        "the member's name, when it is the leader (it takes no writes while it restarts)",
    ),
    Action(
        ("patroni", "reinit"),
        "database",
        "have Patroni rebuild a replica from the leader (its data directory copied again)",
        Target("database", "member", "MEMBER"),
        f"{DB}:plan_reinit",
        (),
        "the member's name (its data directory is deleted and copied again)",
    ),
    Action(
        ("patroni", "switchover"),
        "database",
        "have Patroni hand the leader to a replica, now or by itself at a set time (--at)",
        Target("database", "member", "MEMBER"),
        f"{DB}:plan_patroni_switchover",
        (AT,),
        "the member's name (writes stop for a few seconds when the leader moves, now or at TIME)",
    ),
    Action(
        ("patroni", "cancel-switchover"),
        "database",
        "cancel the switchover Patroni has scheduled (none happens then)",
        SITE,
        f"{DB}:plan_cancel_switchover",
    ),
    Action(
        ("unlock",),
        "cluster",
        "remove the action lock an interrupted action left (its holder must be gone)",
        SITE,
        "console.actions.unlock:plan_unlock",
        (Option("force", "even if the holder still looks alive"),),
        "what the holder was doing, as status shows it ('promote db2')",
        locked=False,
    ),
)

# The help line of each word that groups several actions on the command line.
PARENTS: Mapping[str, str] = {
    "node": "make a web node hot or warm",
    "scheduler": "the one node that runs scheduled jobs and sends real mail",
    "read-only": "reads go on, writes get a polite 503 page (balancer, nodes and database)",
    "maintenance": "every visitor gets the 'down for maintenance, back at TIME' page",
    "patroni": "when Patroni manages PostgreSQL: maintenance mode, a member's restart or "
    "rebuild, a scheduled switchover, history",
}


@cache
def keyed() -> dict[str, tuple[Action, ...]]:
    """The console's keys, each with the actions it may mean, in catalogue order (read-only)."""
    found: dict[str, tuple[Action, ...]] = {}
    for action in ACTIONS:
        if action.key is not None and action.key.key:
            found[action.key.key] = (*found.get(action.key.key, ()), action)
    return found


def resolve(ref: str) -> Callable[..., Any]:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def pick(
    actions: tuple[Action, ...], inv: Inventory, state: ClusterState, target: str | None
) -> Action:
    """Of ACTIONS sharing one key, the one it means now (the first that applies)."""
    for action in actions:
        if not action.applies or resolve(action.applies)(inv, state, target):
            return action
    return actions[-1]


def read_option(option: Option, value: Any) -> Any:
    """VALUE as the plan builder takes it: numbers, times and messages read and checked.

    Raises:
        ActionError: a number, time or message that cannot be used; says what is expected.
    """
    if value is not None and option.kind == "int" and not isinstance(value, int):
        from console.errors import ActionError

        try:
            return int(str(value).strip())
        except ValueError:
            raise ActionError(f"{option.name}: {value!r} is not a whole number") from None
    if value is None or option.kind not in ("time", "moment", "message"):
        return value
    from console.actions.site import inputs

    text = str(value)
    if option.kind == "message":
        return inputs.check_message(text)
    if option.kind == "moment":  # when Patroni acts: to the second, not to a page's minute
        from console.actions.database.patroni_schedule import parse_at

        return parse_at(text)
    return inputs.parse_until(text)


def plan(
    action: Action,
    inv: Inventory,
    state: ClusterState,
    target: str | None,
    given: Mapping[str, Any],
    resume: Mapping[str, Any] | None = None,
) -> Plan:
    """ACTION's plan for TARGET from the snapshot STATE, with the options GIVEN.

    Options not given take their defaults. RESUME is the memo of the
    interrupted run this one finishes (only for actions that resume).
    """
    values = {
        o.name: read_option(o, given[o.name] if given.get(o.name) is not None else o.default)
        for o in action.options
    }
    if action.target.param:
        values[action.target.param] = target
    if action.resumes and resume is not None:
        values["resume"] = resume
    return resolve(action.build)(inv, state, **values)


def command(action: Action, target: str | None, given: Mapping[str, Any]) -> tuple[str, str]:
    """(the command line that asks for ACTION again, the same without its options)."""
    key = " ".join(("hotspare", *action.words, *([target] if target else [])))
    words = [key]
    for option in action.options:
        value = given.get(option.name)
        if value is None or value is False or value == option.default:
            continue
        if option.positional:
            words.append(shlex.quote(str(value)))
        elif option.kind == "flag":
            words.append(option.flag)
        else:
            words.append(f"{option.flag} {shlex.quote(str(value))}")
    return " ".join(words), key


def request(
    action: Action, inv: Inventory, target: str | None, given: Mapping[str, Any]
) -> Request:
    """What the runner needs to plan ACTION again under the lock, and to name it."""
    from console.actions.request import Request

    line, key = command(action, target, given)
    return Request(
        action=action.name,
        target=target or "the site",
        command=line,
        key=key,
        build=lambda state, resume: plan(action, inv, state, target, given, resume),
        locked=action.locked,
    )
