"""The actions on the command line: plan, confirm, run, report; JSON for scripts.

Every action command takes --dry-run (print the plan, touch nothing),
--yes (no y/N prompt, for scripts), --confirm NAME (the typed name some
plans need), and --json. Exit status: 0 done (or planned with --dry-run),
1 a step failed (the output says where the site was left and the way back),
2 bad input, 3 refused (observer mode, a refusal in the plan, or not
confirmed). Progress goes to stderr, the result to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from console.actions import nodes
from console.actions.audit import AuditLog, default_path
from console.actions.context import ActionError, Context
from console.actions.plan import Plan
from console.actions.runner import Outcome, execute, refusal
from console.authority import Authority
from console.inventory import Inventory
from console.monitor import Monitor
from console.state.model import ClusterState

SCHEMA = "hotspare.action/1"
PLAN_DEADLINE = 8.0

Build = Callable[[Inventory, ClusterState, argparse.Namespace], Plan]


def add_parser(commands: Any, load: Any) -> None:
    """Add the node actions and `audit` to COMMANDS."""
    drain = action_parser(
        commands,
        "drain",
        "stop new sessions to a node and wait for its sessions to end",
        load,
        _drain,
    )
    drain.add_argument("node", metavar="NODE")
    drain.add_argument(
        "--timeout",
        type=float,
        default=nodes.DRAIN_TIMEOUT,
        metavar="S",
        help="how long to wait for sessions to end (default 120)",
    )
    drain.add_argument(
        "--then-maint", action="store_true", help="put it in maintenance once drained"
    )
    drain.add_argument(
        "--force", action="store_true", help="even the last ready node (its name must be typed)"
    )
    ready = action_parser(commands, "ready", "let a node take traffic again", load, _ready)
    ready.add_argument("node", metavar="NODE")
    maint = action_parser(commands, "maint", "take a node out of the balancer now", load, _maint)
    maint.add_argument("node", metavar="NODE")
    maint.add_argument(
        "--force", action="store_true", help="even the last ready node (its name must be typed)"
    )
    weight = action_parser(
        commands, "weight", "set a node's weight on the balancer (0..256)", load, _weight
    )
    weight.add_argument("node", metavar="NODE")
    weight.add_argument("weight", type=int, metavar="N")
    audit = commands.add_parser(
        "audit", help="the audit log: every action, refused and failed ones too"
    )
    audit.add_argument("--json", action="store_true", help="the records as JSON lines")
    audit.add_argument("-n", "--last", type=int, metavar="N", help="only the last N records")
    audit.set_defaults(run=lambda args: _audit(args, load))


def action_parser(
    commands: Any, name: str, text: str, load: Any, build: Build
) -> argparse.ArgumentParser:
    """A subcommand NAME that plans with BUILD(inv, state, args), then confirms, runs, reports."""
    parser = commands.add_parser(
        name, help=text, description=f"{text}. " + __doc__.split("\n\n")[1]
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--yes", "-y", action="store_true", help="no y/N prompt (for scripts)")
    parser.add_argument("--confirm", metavar="NAME", help="the name a plan asks to be typed")
    parser.add_argument(
        "--json", action="store_true", help=f"the plan or outcome as JSON ({SCHEMA})"
    )
    parser.set_defaults(run=lambda args: _run(args, load, build))
    return parser


def _drain(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return nodes.plan_state(
        inv, state, args.node, "drain", args.timeout, args.then_maint, args.force
    )


def _ready(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return nodes.plan_state(inv, state, args.node, "ready")


def _maint(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return nodes.plan_state(inv, state, args.node, "maint", force=args.force)


def _weight(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return nodes.plan_weight(inv, state, args.node, args.weight)


def authority_of(inv: Inventory, args: argparse.Namespace) -> Authority:
    env = inv.environment
    return Authority.decide(bool(getattr(args, "observe", False)), env.observer_only, env.label)


def _run(args: argparse.Namespace, load: Any, build: Build) -> int:
    inv = load(args)
    if inv is None:
        return 2
    try:
        return asyncio.run(_plan_and_run(inv, args, build))
    except ActionError as exc:
        print(f"hotspare {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"hotspare {args.command}: the audit log cannot be written: {exc}", file=sys.stderr)
        return 1


async def _plan_and_run(inv: Inventory, args: argparse.Namespace, build: Build) -> int:
    monitor = Monitor(inv)
    ctx = Context(monitor, say=lambda text: print(f"  {text}", file=sys.stderr, flush=True))
    audit = AuditLog(default_path(inv.name), inv.name)
    try:
        plan = build(inv, await monitor.once(PLAN_DEADLINE), args)
        if args.dry_run:
            _show(
                args, {"schema": SCHEMA, "dry_run": True, "plan": plan.as_dict()}, plan.describe()
            )
            return 0
        authority = authority_of(inv, args)
        typed, approved = _confirmation(plan, args, authority)
        outcome = await execute(plan, ctx, authority, audit, typed, approved)
    finally:
        await ctx.close()
        await monitor.close()
    _show(args, {"schema": SCHEMA, **outcome.as_dict()}, _summary(outcome))
    return {"done": 0, "failed": 1, "refused": 3}[outcome.status]


def _confirmation(
    plan: Plan, args: argparse.Namespace, authority: Authority
) -> tuple[str | None, bool]:
    """What the operator typed where a name is asked, and whether they said yes."""
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


def _summary(outcome: Outcome) -> str:
    head = f"{outcome.plan.action} {outcome.plan.target}: {outcome.status.upper()}"
    lines = [head] + [
        f"  {'ok  ' if r.ok else 'FAIL'} {r.title}: {r.check}" for r in outcome.results
    ]
    if outcome.reason:
        lines.append(f"  {outcome.reason}")
    return "\n".join(lines)


def _show(args: argparse.Namespace, record: dict[str, Any], text: str) -> None:
    print(json.dumps(record, indent=2) if args.json else text)


def _audit(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return 2
    log = AuditLog(default_path(inv.name), inv.name)
    records = list(log.records())
    if args.last is not None:
        records = records[-args.last :]
    for record in records:
        if args.json:
            print(json.dumps(record))
            continue
        who = record.get("operator", {}) or {}
        origin = f" from {who['ssh_client']}" if who.get("ssh_client") else ""
        reason = f" ({record['reason']})" if record.get("reason") else ""
        print(
            f"{record.get('time', '?')}  {who.get('user', '?')}{origin}  "
            f"{record.get('action', '?')} {record.get('target', '?')}: "
            f"{str(record.get('outcome', '?')).upper()}{reason}"
        )
    if not records and not args.json:
        print(f"no actions recorded yet in {log.path}")
    return 0
