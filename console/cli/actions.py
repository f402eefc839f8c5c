"""The actions on the command line, built from the catalogue: plan, confirm, run, report.

Every action command takes --dry-run (print the plan, touch nothing),
--yes (no y/N prompt, for scripts), --confirm NAME (the typed name some
plans need), and --json. Exit status: 0 done (or planned with --dry-run),
1 a step failed (the output says where the site was left and the way back),
2 bad input, 3 refused (observer mode, a refusal in the plan, or not
confirmed; a --dry-run whose plan is refused too). Progress goes to stderr,
the result to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from console.actions import catalog
from console.actions.catalog import Action, Option
from console.cli.config import Load
from console.errors import ActionError, Exit

if TYPE_CHECKING:
    from console.actions.plan import Plan
    from console.actions.runner import Outcome
    from console.authority import Authority
    from console.inventory import Inventory

SCHEMA = "hotspare.action/1"
PLAN_DEADLINE = 8.0
_TYPES = {"seconds": float, "int": int}


def add_parsers(commands: Any, load: Load) -> dict[str, Any]:
    """Add every action of the catalogue to COMMANDS, grouped as its words say.

    Returns each group's verbs by its first word (``patroni``), so that a module
    can add a read-only verb beside the actions (``patroni history``).
    """
    groups: dict[str, Any] = {}
    for action in catalog.ACTIONS:
        where = commands
        if len(action.words) > 1:
            parent = action.words[0]
            if parent not in groups:
                parser = commands.add_parser(parent, help=catalog.PARENTS[parent])
                groups[parent] = parser.add_subparsers(dest=f"{parent}_verb", required=True)
            where = groups[parent]
        for name in (action.words[-1], *action.aliases):
            _action_parser(where, name, action, load)
    for parent, verbs in groups.items():
        verbs.metavar = "|".join(a.words[-1] for a in catalog.ACTIONS if a.words[0] == parent)
    return groups


def _action_parser(commands: Any, name: str, action: Action, load: Load) -> None:
    parser = commands.add_parser(
        name, help=action.help, description=f"{action.help}. " + __doc__.split("\n\n")[1]
    )
    if action.target.param:
        parser.add_argument(action.target.param, metavar=action.target.metavar)
    for option in action.options:
        _add_option(parser, option)
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--yes", "-y", action="store_true", help="no y/N prompt (for scripts)")
    parser.add_argument(
        "--confirm", metavar="NAME", help=f"what must be typed: {action.typed or 'nothing'}"
    )
    parser.add_argument(
        "--json", action="store_true", help=f"the plan or outcome as JSON ({SCHEMA})"
    )
    parser.set_defaults(run=lambda args: _run(args, load, action))


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    if option.positional:
        parser.add_argument(
            option.name, type=_TYPES.get(option.kind, str), metavar=option.metavar, help=option.help
        )
    elif option.kind == "flag":
        parser.add_argument(option.flag, action="store_true", help=option.help)
    else:
        parser.add_argument(
            option.flag,
            dest=option.name,
            type=_TYPES.get(option.kind, str),
            required=option.required,
            metavar=option.metavar,
            help=option.help,
        )


def _run(args: argparse.Namespace, load: Load, action: Action) -> int:
    inv = load(args)
    if inv is None:
        return Exit.USAGE
    try:
        return asyncio.run(_plan_and_run(inv, args, action))
    except ActionError as exc:
        print(f"hotspare {action.name}: {exc}", file=sys.stderr)
        return exc.exit


async def _plan_and_run(inv: Inventory, args: argparse.Namespace, action: Action) -> int:
    from console.actions.audit import AuditLog, default_path
    from console.actions.context import Context
    from console.actions.runner import execute
    from console.monitor import Monitor

    monitor = Monitor(inv)
    ctx = Context(monitor, say=lambda text: print(f"  {text}", file=sys.stderr, flush=True))
    audit = AuditLog(default_path(inv), inv.name)
    given = {o.name: getattr(args, o.name) for o in action.options}
    target = getattr(args, action.target.param) if action.target.param else None
    request = catalog.request(action, inv, target, given)
    try:
        plan = request.plan(await monitor.once(PLAN_DEADLINE))
        if args.dry_run:
            return dry_run(args, plan, SCHEMA)
        authority = decide_authority(inv, args)
        typed, approved = confirmation(plan, args, authority)
        outcome = await execute(request, plan, ctx, authority, audit, typed, approved)
    finally:
        await ctx.close()
        await monitor.close()
    return reported(args, outcome, SCHEMA)


def dry_run(
    args: argparse.Namespace, plan: Plan, schema: str, more: dict[str, Any] | None = None
) -> int:
    """Print PLAN (with MORE in its JSON) and touch nothing; 3 if it is refused, else 0."""
    record = {"schema": schema, "dry_run": True, "plan": plan.as_dict(), **(more or {})}
    _show(args, record, plan.describe())
    return Exit.REFUSED if plan.refusals else Exit.OK


def reported(args: argparse.Namespace, outcome: Outcome, schema: str) -> int:
    """Print OUTCOME, as text or JSON; its exit status (a pause is not a failure)."""
    _show(args, {"schema": schema, **outcome.as_dict()}, summary(outcome))
    exits = {"done": Exit.OK, "paused": Exit.OK, "failed": Exit.FAILED, "refused": Exit.REFUSED}
    return exits[outcome.status]


def decide_authority(inv: Inventory, args: argparse.Namespace) -> Authority:
    from console.authority import Authority

    env = inv.environment
    return Authority.decide(bool(getattr(args, "observe", False)), env.observer_only, env.label)


def confirmation(
    plan: Plan, args: argparse.Namespace, authority: Authority
) -> tuple[str | None, bool]:
    """What the operator typed where a name is asked, and whether they said yes."""
    from console.actions.runner import refusal

    if refusal(plan, authority, plan.confirm) is not None:
        return args.confirm, True  # refused anyway: the runner says why and audits it
    if not args.json:
        print(plan.describe(), file=sys.stderr)
    if plan.confirm is not None:
        if args.confirm is not None or not sys.stdin.isatty():
            return args.confirm, True
        return input(f"Type {plan.confirm!r} to go ahead: ").strip(), True
    if args.yes:
        return None, True
    if not sys.stdin.isatty():
        print("not a terminal and no --yes: nothing changed", file=sys.stderr)
        return None, False
    return None, input("Go ahead? [y/N] ").strip().lower() in ("y", "yes")


def summary(outcome: Outcome) -> str:
    """Everything the outcome holds, as text: each step, what was put back, the clean-up."""
    lines = [f"{outcome.plan.action} {outcome.plan.target}: {outcome.status.upper()}"]
    lines += [f"  {'ok  ' if r.ok else 'FAIL'} {r.title}: {r.check}" for r in outcome.results]
    lines += [
        f"  {'ok  ' if r.ok else 'FAIL'} put back: {r.title}: {r.check}" for r in outcome.undone
    ]
    lines += [
        f"  {'ok  ' if r.ok else 'FAIL'} at the end: {r.title}: {r.check}" for r in outcome.cleanup
    ]
    if outcome.reason:
        lines.append(f"  {outcome.reason}")
    if outcome.audit_problem and outcome.audit_problem != outcome.reason:
        lines.append(f"  {outcome.audit_problem}")
    return "\n".join(lines)


def _show(args: argparse.Namespace, record: dict[str, Any], text: str) -> None:
    print(json.dumps(record, indent=2) if args.json else text)
