"""`hotspare upgrade`: the rolling upgrade and the A/B rollover as runbooks, and their
status, pause, resume, abort, finish and rollback.

Like every action: --dry-run prints the plan and changes nothing, --yes
answers the y/N prompt, --confirm R types what must be typed (the release,
for `rolling`), --json prints the plan or the outcome as JSON. Exit status:
0 done (or paused, or planned with --dry-run), 1 halted at a failed check
(the output says where the site was left and the ways on), 2 bad input,
3 refused. Progress goes to stderr, the result to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from console.cli.config import Load
from console.errors import ActionError, Exit

if TYPE_CHECKING:
    from console.inventory import Inventory
    from console.state.runbook import Runbook

SCHEMA = "hotspare.upgrade/1"
PLAN_DEADLINE = 8.0
HELP = {
    "rolling": "upgrade the web nodes to a release one at a time, the site up throughout",
    "ab": "A/B rollover: A read-only, its database copied to B, B upgraded, tested, made live",
    "finish": "end an A/B rollover: A's old primary follows B's; no way back after this",
    "status": "where the last upgrade stands: each stage, its steps, and how it ended",
    "pause": "ask the running upgrade to stop before its next step (it keeps the lock)",
    "resume": "carry on a paused, halted or interrupted upgrade from its first step not done",
    "abort": "stop the running upgrade, then return the nodes it moved (a rollback)",
    "rollback": "return the nodes the last upgrade moved to the release each had, one at a time; "
    "for an A/B rollover, go back to A (B's writes since the switch are counted, and typed)",
}


def add_parser(commands: Any, load: Load) -> None:
    """Add `upgrade` and its verbs to COMMANDS."""
    upgrade = commands.add_parser("upgrade", help="upgrades without downtime: the rolling upgrade")
    verbs = upgrade.add_subparsers(dest="upgrade_verb", required=True, metavar="|".join(HELP))
    for verb, text in HELP.items():
        parser = verbs.add_parser(
            verb, help=text, description=f"{text}. " + __doc__.split("\n\n")[1]
        )
        if verb in ("rolling", "ab"):
            parser.add_argument(
                "--release", required=True, metavar="R", help="the release to move to"
            )
        if verb == "ab":
            parser.add_argument(
                "--b",
                required=True,
                metavar="NODE,NODE",
                help="B's nodes: warm, in a backend of their own",
            )
            parser.add_argument(
                "--message", metavar="TEXT", help="the read-only page's line while A is read-only"
            )
        if verb == "rolling":
            parser.add_argument(
                "--nodes", metavar="A,B", help="only these nodes (default: every web node)"
            )
            parser.add_argument(
                "--soak",
                type=float,
                metavar="S",
                help="seconds to watch each node back in (default: cluster.yaml's)",
            )
            parser.add_argument(
                "--min-ready",
                type=int,
                metavar="N",
                help="never fewer servers taking traffic (default: all but one)",
            )
        if verb == "status":
            parser.add_argument(
                "--json", action="store_true", help=f"the runbook as JSON ({SCHEMA})"
            )
            parser.set_defaults(run=lambda args: _status(args, load))
            continue
        parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
        parser.add_argument("--yes", "-y", action="store_true", help="no y/N prompt (for scripts)")
        parser.add_argument(
            "--confirm",
            metavar="R",
            help="what must be typed: the release (rolling, ab), B's write count (A/B rollback)",
        )
        parser.add_argument(
            "--json", action="store_true", help=f"the plan or outcome as JSON ({SCHEMA})"
        )
        parser.set_defaults(run=lambda args, verb=verb: _run(args, load, verb))


def _run(args: argparse.Namespace, load: Load, verb: str) -> int:
    inv = load(args)
    if inv is None:
        return Exit.USAGE
    try:
        return asyncio.run(_plan_and_run(inv, args, verb))
    except ActionError as exc:
        print(f"hotspare upgrade {verb}: {exc}", file=sys.stderr)
        return exc.exit


async def _plan_and_run(inv: Inventory, args: argparse.Namespace, verb: str) -> int:
    from console.actions.audit import AuditLog, default_path
    from console.actions.context import Context
    from console.cli.actions import confirmation, decide_authority, dry_run, reported
    from console.monitor import Monitor
    from console.runbook import commands

    monitor = Monitor(inv)
    ctx = Context(monitor, say=lambda text: print(f"  {text}", file=sys.stderr, flush=True))
    audit = AuditLog(default_path(inv), inv.name)
    listed = getattr(args, "nodes", None) or getattr(args, "b", None)
    nodes = [n.strip() for n in listed.split(",") if n.strip()] if listed else None
    try:
        state = await monitor.once(PLAN_DEADLINE)
        proposal = await commands.propose(
            ctx,
            state,
            verb,
            getattr(args, "release", None),
            nodes,
            getattr(args, "soak", None),
            getattr(args, "min_ready", None),
            getattr(args, "message", None),
        )
        plan = proposal.plan
        if args.dry_run:
            book = proposal.runbook
            return dry_run(args, plan, SCHEMA, {"runbook": book.as_dict()} if book else None)
        authority = decide_authority(inv, args)
        typed, approved = confirmation(plan, args, authority)
        outcome = await commands.carry_out(proposal, ctx, authority, audit, typed, approved)
    finally:
        await ctx.close()
        await monitor.close()
    return reported(args, outcome, SCHEMA)


def _status(args: argparse.Namespace, load: Load) -> int:
    inv = load(args)
    if inv is None:
        return Exit.USAGE
    try:
        runbook = asyncio.run(_read(inv))
    except ActionError as exc:
        print(f"hotspare upgrade status: {exc}", file=sys.stderr)
        return exc.exit
    if args.json:
        print(
            json.dumps(
                {"schema": SCHEMA, "runbook": runbook.as_dict() if runbook else None}, indent=2
            )
        )
    else:
        print(render(runbook))
    return Exit.OK


async def _read(inv: Inventory) -> Runbook | None:
    from console.actions.context import Context
    from console.monitor import Monitor
    from console.runbook import store
    from console.ssh import BoxError

    monitor = Monitor(inv)
    ctx = Context(monitor)
    try:
        _, runbook = await store.load(ctx)
    except BoxError as exc:
        raise ActionError(f"cannot read the runbook's record: {exc.reason}") from exc
    finally:
        await monitor.close()
    return runbook


def render(runbook: Runbook | None) -> str:
    """The runbook as text: how it stands, then each stage and its steps' results."""
    if runbook is None:
        return "no upgrade has been run on this cluster (no runbook record beside the action lock)"
    import time

    from console.runbook.engine import nexts

    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(runbook.since))
    lines = [
        f"{runbook.banner()}: {runbook.describe()}",
        f"  started {since} by {runbook.who}: {runbook.command}",
    ]
    if runbook.request:
        lines.append(f"  asked to {runbook.request}: the runner takes it up before its next step")
    for n, stage in enumerate(runbook.stages, 1):
        mark = {"done": "done", "running": "....", "failed": "FAIL", "pending": "    "}[
            stage.status
        ]
        lines.append(f"  [{mark}] {n}. {stage.title}")
        for m in stage.marks:
            lines.append(f"           {'ok  ' if m.ok else 'FAIL'} {m.title}: {m.check}")
    if runbook.state in ("halted", "paused", "interrupted"):
        ways = [w["command"] for w in nexts(runbook)]
        lines.append("  ways on: " + ", or ".join(ways))
    return "\n".join(lines)
