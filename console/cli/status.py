"""`hotspare status`: the live state of the site, once or refreshing in place."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any

from console.cli.tables import render
from console.feed import Feed
from console.inventory import Inventory
from console.monitor import Monitor
from console.state import model

SCHEMA = f"hotspare.status/{model.SCHEMA_VERSION}"
CLEAR = "\x1b[H\x1b[2J"


def add_parser(commands: Any, load: Any) -> None:
    """Add `status` to COMMANDS; LOAD(args) returns the Inventory or None."""
    status = commands.add_parser(
        "status",
        help="live state of balancer, nodes and databases; exit 1 if any alarm",
        description="Exit status: 0 no alarm, 1 an alarm is raised, 2 bad inventory.",
    )
    status.add_argument("--json", action="store_true", help=f"print the snapshot ({SCHEMA})")
    status.add_argument("--watch", action="store_true", help="refresh in place until ^C")
    status.add_argument(
        "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    status.add_argument(
        "--timeout", type=float, default=8.0, help="give up on a box after this (default 8 s)"
    )
    status.set_defaults(run=lambda args: _status(args, load))


def as_json(state: model.ClusterState) -> str:
    """The snapshot under the documented, versioned schema (docs/status-json.md)."""
    return json.dumps({"schema": SCHEMA, **dataclasses.asdict(state)}, indent=2)


def _status(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return 2
    if args.watch:
        return asyncio.run(_watch(inv, args))
    state = asyncio.run(_once(inv, args.timeout, json_out=args.json))
    return 1 if state.alarms else 0


async def _once(inv: Inventory, timeout: float, json_out: bool) -> model.ClusterState:
    monitor = Monitor(inv, probe_timeout=min(timeout, 5.0))
    try:
        state = await monitor.once(deadline=timeout)
        # The operator reads while the connections close.
        print(as_json(state) if json_out else render(state), flush=True)
        return state
    finally:
        await monitor.close()


async def _watch(inv: Inventory, args: argparse.Namespace) -> int:
    monitor = Monitor(inv, interval=args.interval, probe_timeout=min(args.timeout, 5.0))
    feed = Feed(monitor, every=args.interval, first_deadline=args.timeout)
    tty = sys.stdout.isatty()
    updates = feed.updates()
    try:
        async for state in updates:
            text = as_json(state) if args.json else render(state)
            sys.stdout.write((CLEAR if tty else "\n") + text + "\n")
            sys.stdout.flush()
    except asyncio.CancelledError:
        return 0
    finally:
        await updates.aclose()
    return 0
