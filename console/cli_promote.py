"""`hotspare promote|switchover STANDBY`, `hotspare failover STANDBY`, `hotspare rejoin NAME`.

Each is an action like `drain`: --dry-run prints the plan with every
precondition ticked or failed, the run is verified step by step and
audited, and observer mode refuses it.
"""

from __future__ import annotations

import argparse
from typing import Any

from console.actions import failover, promote, rejoin
from console.actions.plan import Plan
from console.cli_actions import action_parser
from console.inventory import Inventory
from console.state.model import ClusterState


def add_parser(commands: Any, load: Any) -> None:
    """Add promote (and its alias switchover), failover and rejoin to COMMANDS."""
    for name in ("promote", "switchover"):
        parser = action_parser(
            commands,
            name,
            "make a streaming standby the primary while the primary is healthy (switchover)",
            load,
            _promote,
        )
        parser.add_argument("standby", metavar="STANDBY")
        parser.add_argument(
            "--rejoin",
            action="store_true",
            help="then make the old primary a standby of the new one (pg_rewind)",
        )
    over = action_parser(
        commands,
        "failover",
        "promote a standby because the primary is gone (its name must be typed)",
        load,
        _failover,
    )
    over.add_argument("standby", metavar="STANDBY")
    back = action_parser(
        commands,
        "rejoin",
        "make an old primary (or a standby that lost its way) a standby of the primary",
        load,
        _rejoin,
    )
    back.add_argument("name", metavar="NAME")


def _promote(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return promote.plan_switchover(inv, state, args.standby, args.rejoin)


def _failover(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return failover.plan_failover(inv, state, args.standby)


def _rejoin(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return rejoin.plan_rejoin(inv, state, args.name)
