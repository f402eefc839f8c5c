"""`hotspare node hot|warm NODE` and `hotspare scheduler move NODE` on the command line."""

from __future__ import annotations

import argparse
from typing import Any

from console.actions import nodes, roles, scheduler
from console.actions.plan import Plan
from console.cli_actions import action_parser
from console.inventory import Inventory
from console.state.model import ClusterState


def add_parser(commands: Any, load: Any) -> None:
    """Add `node` (hot, warm) and `scheduler` (move) to COMMANDS."""
    node = commands.add_parser("node", help="make a web node hot or warm")
    node_actions = node.add_subparsers(dest="node_action", metavar="hot|warm", required=True)
    hot = action_parser(
        node_actions,
        "hot",
        "log a node as hot, then put it in the balancer once its health check passes",
        load,
        _hot,
    )
    hot.add_argument("node", metavar="NODE")
    warm = action_parser(
        node_actions,
        "warm",
        "take a node out of the balancer, then log as warm with its mail kept in its log",
        load,
        _warm,
    )
    warm.add_argument("node", metavar="NODE")
    warm.add_argument(
        "--timeout",
        type=float,
        default=nodes.DRAIN_TIMEOUT,
        metavar="S",
        help="how long to wait for its sessions to end (default 120)",
    )
    warm.add_argument(
        "--force", action="store_true", help="even the last ready node (its name must be typed)"
    )
    sched = commands.add_parser(
        "scheduler", help="the one node that runs scheduled jobs and sends real mail"
    )
    sched_actions = sched.add_subparsers(dest="scheduler_action", metavar="move", required=True)
    move = action_parser(
        sched_actions,
        "move",
        "stop scheduled jobs and real mail on the scheduler, then start them on NODE",
        load,
        _move,
    )
    move.add_argument("node", metavar="NODE")


def _hot(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return roles.plan_role(inv, state, args.node, "hot")


def _warm(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return roles.plan_role(inv, state, args.node, "warm", args.timeout, args.force)


def _move(inv: Inventory, state: ClusterState, args: argparse.Namespace) -> Plan:
    return scheduler.plan_move(inv, state, args.node)
