"""`hotspare status`: the live state of the site, once or refreshing in place.

Its exit status follows the monitoring-plugin convention (Nagios, Icinga),
so a check can run it as it is: 0 OK, 1 a warning, 2 a critical alarm, 3
unknown (the inventory cannot be used, a bad option, or any error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from console.cli.tables import render
from console.errors import StatusExit
from console.state import codec, model

if TYPE_CHECKING:
    from console.daemon.client import SharedFeed
    from console.events import Level
    from console.inventory import Inventory

SCHEMA = codec.SCHEMA
CLEAR = "\x1b[H\x1b[2J"


def add_parser(commands: Any, load: Any) -> None:
    """Add `status` to COMMANDS; LOAD(args) returns the Inventory or None."""
    status = commands.add_parser(
        "status",
        help="live state of balancer, nodes and databases; exits as a monitoring check",
        description="Exit status (the monitoring-plugin convention): 0 no alarm, "
        "1 a warning, 2 a critical alarm, 3 unknown (bad inventory or options, or an error).",
    )
    status.add_argument(
        "--json",
        action="store_true",
        help=f"print the snapshot ({SCHEMA}); with --watch, one document per line",
    )
    status.add_argument("--watch", action="store_true", help="refresh in place until ^C")
    status.add_argument(
        "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    status.add_argument(
        "--timeout", type=float, default=8.0, help="give up on a box after this (default 8 s)"
    )
    status.set_defaults(run=lambda args: _status(args, load), error_exit=StatusExit.UNKNOWN)


def as_json(state: model.ClusterState, lines: bool = False) -> str:
    """The snapshot under the documented, versioned schema (docs/status.md).

    LINES: on one line (JSON Lines, for --watch), not indented.
    """
    document = codec.encode(state)
    return json.dumps(document) if lines else json.dumps(document, indent=2)


def exit_status(state: model.ClusterState) -> StatusExit:
    """2 if any alarm is critical, 1 if any is a warning, else 0."""
    severities = {alarm.severity for alarm in state.alarms}
    if "critical" in severities:
        return StatusExit.CRITICAL
    return StatusExit.WARNING if severities else StatusExit.OK


def _status(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return StatusExit.UNKNOWN
    if args.watch:
        return asyncio.run(_watch(inv, args))
    show = as_json if args.json else render
    state = asyncio.run(once(inv, args.timeout, lambda s: print(show(s), flush=True)))
    return exit_status(state)


async def once(
    inv: Inventory, timeout: float, show: Callable[[model.ClusterState], None]
) -> model.ClusterState:
    """Read the site once, giving up on a box after TIMEOUT s; SHOW the snapshot as soon as
    it is taken (the operator reads while the connections close), then return it.

    The shared monitor's latest snapshot answers when one serves this
    cluster (`hotspare monitor`); otherwise the site is read on connections
    of this command's own.
    """
    from console.daemon import client

    shared, why = await client.latest(inv, wait=timeout)
    if why:
        print(f"status: not using the shared monitor: {why}", file=sys.stderr)
    if shared is not None:
        show(shared)
        return shared
    from console.monitor import Monitor  # SSH and PostgreSQL are loaded only to run

    monitor = Monitor(inv, probe_timeout=min(timeout, 5.0))
    try:
        state = await monitor.once(deadline=timeout)
        show(state)
        return state
    finally:
        await monitor.close()


async def _watch(inv: Inventory, args: argparse.Namespace) -> int:
    feed = shared_or_own(inv, args.interval, args.timeout)
    # JSON Lines are for programs: one document per line, nothing between them.
    before = "" if args.json else CLEAR if sys.stdout.isatty() else "\n"
    updates = feed.updates()
    try:
        async for state in updates:
            text = as_json(state, lines=True) if args.json else render(state)
            sys.stdout.write(before + text + "\n")
            sys.stdout.flush()
    except asyncio.CancelledError:
        return StatusExit.OK
    finally:
        await updates.aclose()
    return StatusExit.OK


def shared_or_own(inv: Inventory, interval: float, timeout: float) -> SharedFeed:
    """Snapshots from the shared monitor if one serves INV, else from a Monitor of our own."""
    from console.daemon.client import SharedFeed
    from console.feed import Feed
    from console.monitor import Monitor

    def own() -> Feed:
        monitor = Monitor(inv, interval=interval, probe_timeout=min(timeout, 5.0))
        return Feed(monitor, every=interval, first_deadline=timeout)

    def warn(text: str, level: Level) -> None:
        if level == "warning":
            print(text, file=sys.stderr, flush=True)

    return SharedFeed(inv, own, tell=warn)
