"""`hotspare lab up | down | status`: the local lab from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from console.lab.layout import DEFAULT_BLOCK, ENGINES, LabLayout

if TYPE_CHECKING:
    from console.lab import control

BLOCK_ENV = "HOTSPARE_LAB_BLOCK"


def _lab_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Add --block and --web-nodes, with the given default (None: the real ones)."""
    block = os.environ.get(BLOCK_ENV, DEFAULT_BLOCK) if default is None else default
    parser.add_argument(
        "--block",
        default=block,
        help=f"loopback /24 for the boxes (default: ${BLOCK_ENV}, else {DEFAULT_BLOCK})",
    )
    nodes = 3 if default is None else default
    parser.add_argument("--web-nodes", type=int, default=nodes, help="web nodes (default 3)")
    parser.add_argument(
        "--ab",
        action="store_true",
        default=False if default is None else default,
        help="an A/B lab: web1, web2 in backend site, web3, web4 warm in site_b "
        "(give it to up, status and down alike)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="postgres" if default is None else default,
        help="who runs PostgreSQL: postgres (db1, db2; hotspare promotes) or patroni "
        "(db1-db3 under Patroni over a three-member etcd; give it to up, status and down alike)",
    )


def add_parser(commands: Any) -> None:
    """Add the `lab` command and its subcommands to COMMANDS."""
    lab = commands.add_parser("lab", help="the local lab: real sshd, HAProxy, PostgreSQL")
    _lab_options(lab, None)
    # Also after the verb (`lab up --block B`); unset there, they leave the lab's value alone.
    shared = argparse.ArgumentParser(add_help=False)
    _lab_options(shared, argparse.SUPPRESS)
    sub = lab.add_subparsers(dest="lab_command", metavar="up|down|status", required=True)
    up = sub.add_parser(
        "up", parents=[shared], help="start the lab (idempotent) and report each box ready"
    )
    up.add_argument("--json", action="store_true", help="print the final status as JSON")
    up.set_defaults(run=_up)
    down = sub.add_parser("down", parents=[shared], help="stop every lab process by pid")
    down.add_argument("--purge", action="store_true", help="also delete the lab's directory")
    down.add_argument("--json", action="store_true", help="print the final status as JSON")
    down.set_defaults(run=_down)
    st = sub.add_parser("status", parents=[shared], help="say what runs where")
    st.add_argument("--json", action="store_true", help="print as JSON")
    st.set_defaults(run=_status)


def _layout(args: argparse.Namespace) -> LabLayout:
    return LabLayout.for_block(args.block, args.web_nodes, ab=args.ab, engine=args.engine)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _guard(args: argparse.Namespace, action: Any) -> int:
    """Run ACTION on the lab; a LayoutError or LabProcessError reaches main, which says it."""
    result = action(_layout(args))
    _print(result, args.json)
    if args.lab_command == "down":
        return 0 if not result.listeners else 1
    return 0 if result.up else 1


def _up(args: argparse.Namespace) -> int:
    from console.lab import control  # the lab's code is loaded only for lab commands

    return _guard(args, lambda lab: control.up(lab, _say))


def _down(args: argparse.Namespace) -> int:
    from console.lab import control

    return _guard(args, lambda lab: control.down(lab, _say, purge=args.purge))


def _status(args: argparse.Namespace) -> int:
    from console.lab import control

    return _guard(args, control.status)


def _print(status: control.LabStatus, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps({"schema": "hotspare.lab-status/1", **dataclasses.asdict(status)}, indent=2)
        )
        return
    print(f"lab {status.block}.0/24 in {status.root}")
    print(f"{'BOX':6} {'PROCESS':14} {'LISTENS ON':22} STATE")
    for s in status.services:
        state = f"running (pid {s.pid})" if s.running else "stopped"
        print(f"{s.box:6} {s.name:14} {s.listen:22} {state}")
    print(f"\nsite        {status.site_url}")
    for node, url in status.node_urls.items():
        print(f"{node:11} {url}")
    for db, uri in status.db_uris.items():
        print(f"{db:11} {uri}")
    for db, url in status.patroni_urls.items():
        print(f"{db:11} Patroni REST {url}")
    if status.etcd_endpoints:
        print(f"etcd        {','.join(status.etcd_endpoints)}")
    if status.primary_url:
        print(f"primary     {status.primary_url} (HAProxy, by Patroni's /primary)")
    print(f"inventory   {status.cluster_file}")
    if status.listeners and not status.up:
        print("still listening: " + ", ".join(status.listeners))
