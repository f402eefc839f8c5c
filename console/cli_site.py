"""`hotspare read-only on|off` and `hotspare maintenance on|off`: the site's modes.

Each switch is an action like `drain`: --dry-run prints the plan, the run
is verified step by step and audited, and observer mode refuses it.
"""

from __future__ import annotations

import argparse
from typing import Any

from console.actions import site
from console.actions.plan import Plan
from console.actions.site_input import check_message, parse_until
from console.cli_actions import action_parser
from console.inventory import Inventory
from console.state.model import ClusterState

UNTIL_HELP = (
    "when the site is back to normal: 03:30 (the next 03:30), '2026-11-26 03:30', "
    "30m or 1h30m from now; local time unless it ends in UTC"
)
MESSAGE_HELP = (
    "one line for the page (letters, digits, spaces and . , : ! ? ' ( ) / + - _ @; "
    "HAProxy cannot HTML-escape it)"
)


def add_parser(commands: Any, load: Any) -> None:
    """Add `read-only` and `maintenance`, each with `on` and `off`, to COMMANDS."""
    read_only = commands.add_parser(
        "read-only",
        help="reads go on, writes get a polite 503 page (balancer, nodes and database)",
        description=site.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    switch = read_only.add_subparsers(dest="switch", metavar="on|off", required=True)
    on = action_parser(switch, "on", "make the site read-only", load, _read_only_on)
    on.add_argument("--until", metavar="TIME", help=UNTIL_HELP)
    on.add_argument("--message", metavar="TEXT", help=MESSAGE_HELP)
    action_parser(switch, "off", "take writes again", load, _read_only_off)

    maintenance = commands.add_parser(
        "maintenance",
        help="every visitor gets the 'down for maintenance, back at TIME' page",
        description=site.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    switch = maintenance.add_subparsers(dest="switch", metavar="on|off", required=True)
    on = action_parser(switch, "on", "put up the maintenance page", load, _maintenance_on)
    on.add_argument("--until", metavar="TIME", required=True, help=UNTIL_HELP)
    on.add_argument("--message", metavar="TEXT", help=MESSAGE_HELP)
    action_parser(
        switch,
        "off",
        "take the maintenance page down (back to read-only if it was)",
        load,
        _maintenance_off,
    )


def _message(args: argparse.Namespace) -> str | None:
    return check_message(args.message) if args.message is not None else None


def _read_only_on(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    until = parse_until(args.until) if args.until is not None else None
    return site.plan_read_only_on(inv, state, until, _message(args))


def _read_only_off(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return site.plan_read_only_off(inv, state)


def _maintenance_on(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return site.plan_maintenance_on(inv, state, parse_until(args.until), _message(args))


def _maintenance_off(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return site.plan_maintenance_off(inv, state)
