"""`hotspare events`: the console's event timeline in a terminal, as it happens.

What changed on the site between two refreshes (a box going stale, a server
going down, a new primary, an alarm raised or cleared, Patroni's leader key
expiring and the election after it), one line each, until ^C: for a jump
host without room for the console, a screen shared during an upgrade, or a
file kept as the record of a bad night. The same events as the console's
timeline panel (console/events.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from console.errors import StatusExit
from console.text import shown

if TYPE_CHECKING:
    from console.events import Event
    from console.inventory import Inventory

SCHEMA = "hotspare.event/1"
HELP = "the event timeline as it happens: what changed on the site, one line each, until ^C"


def add_parser(commands: Any, load: Any) -> None:
    """Add `events` to COMMANDS; LOAD(args) returns the Inventory or None."""
    events = commands.add_parser(
        "events",
        help=HELP,
        description=f"{HELP}. The console's timeline panel shows the same events.",
    )
    events.add_argument(
        "--json", action="store_true", help=f"one JSON document per event ({SCHEMA})"
    )
    events.add_argument(
        "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    events.add_argument(
        "--timeout", type=float, default=8.0, help="give up on a box after this (default 8 s)"
    )
    events.set_defaults(run=lambda args: _events(args, load), error_exit=StatusExit.UNKNOWN)


def line(event: Event) -> str:
    """EVENT as one line: "12:00:03 WARNING db1: went STALE: ..." (UTC, shown safely)."""
    stamp = time.strftime("%H:%M:%S", time.gmtime(event.at))
    level = "" if event.level == "info" else f"{event.level.upper()} "
    return f"{stamp} {level}{shown(event.subject)}: {shown(event.text)}"


def as_json(event: Event) -> str:
    """EVENT as one JSON document on one line."""
    return json.dumps(
        {
            "schema": SCHEMA,
            "at": event.at,
            "subject": event.subject,
            "level": event.level,
            "text": event.text,
        }
    )


def _events(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return StatusExit.UNKNOWN
    return asyncio.run(_follow(inv, args))


async def _follow(inv: Inventory, args: argparse.Namespace) -> int:
    from console.cli.status import shared_or_own
    from console.events import changes, standing

    updates = shared_or_own(inv, args.interval, args.timeout).updates()
    before = None
    try:
        async for state in updates:
            found = changes(before, state) if before is not None else standing(state)
            for event in found:
                sys.stdout.write((as_json(event) if args.json else line(event)) + "\n")
            sys.stdout.flush()
            before = state
    except asyncio.CancelledError:
        return StatusExit.OK
    finally:
        await updates.aclose()
    return StatusExit.OK
