"""`hotspare trust BOX`: record a box's host key after the operator checks it.

asyncssh has no StrictHostKeyChecking=accept-new, and first-use trust must be
an explicit step: this fetches the key the box offers, shows its fingerprint,
and writes it to the box's known_hosts only once the operator confirms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import Exit, HotspareError

if TYPE_CHECKING:  # asyncssh is loaded only to run, so `--help` stays fast
    import asyncssh

    from console.inventory import Inventory
    from console.ssh import Hop

SCHEMA = "hotspare.trust/1"
REFUSED = "refused-different-key"


def add_parser(commands: Any, load: Any) -> None:
    """Add `trust` to COMMANDS; LOAD(args) returns the Inventory or None."""
    trust = commands.add_parser("trust", help="check and record a box's SSH host key")
    trust.add_argument("box", metavar="BOX", help="the box (or jump host) to trust")
    trust.add_argument("--yes", action="store_true", help="record without asking")
    trust.add_argument(
        "--replace", action="store_true", help="replace a different recorded key (box reinstalled)"
    )
    trust.add_argument(
        "--json", action="store_true", help=f"print what was found and done ({SCHEMA})"
    )
    trust.set_defaults(run=lambda args: _trust(args, load))


class NoSuchBox(HotspareError):
    """The box to trust is not in the inventory, nor a jump host on a box's way."""

    exit = Exit.USAGE


def host_pattern(hop: Hop) -> str:
    """How known_hosts names HOP: bare host on port 22, [host]:port otherwise."""
    port = hop.port or 22
    return hop.host if port == 22 else f"[{hop.host}]:{port}"


def record(hop: Hop, key: asyncssh.SSHKey, replace: bool) -> Path:
    """Append KEY for HOP to its known_hosts (dropping HOP's old lines if REPLACE)."""
    from console.ssh.connect import known_hosts_file

    path = known_hosts_file(hop)
    pattern = host_pattern(hop)
    lines = path.read_text().splitlines() if path.exists() else []
    if replace:
        lines = [line for line in lines if line.split(" ", 1)[0] != pattern]
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    lines.append(f"{pattern} {algorithm} {data}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _confirmed(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    if args.json or not sys.stdin.isatty():
        print("not recording: confirm with --yes when not at a terminal", file=sys.stderr)
        return False
    return input(f"{question} Type yes to record it: ").strip() == "yes"


def _trust(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return Exit.USAGE
    result = asyncio.run(_trust_box(inv, args))
    if args.json:
        print(json.dumps({"schema": SCHEMA, "box": args.box, **result}, indent=2))
    if result["trusted"]:
        return Exit.OK
    # A different key recorded is a refusal (a possible interception), not a failure.
    return Exit.REFUSED if result["outcome"] == REFUSED else Exit.FAILED


def _hops_to(inv: Inventory, name: str) -> tuple[Hop, ...]:
    """The hops to NAME, a box or one of the jump hosts on some box's route."""
    from console.ssh import route

    if any(b.name == name for b in inv.boxes):
        return route(inv, name)
    for box in inv.boxes:
        hops = route(inv, box.name)
        for i, hop in enumerate(hops):
            if hop.label == name:
                return hops[: i + 1]
    boxes = ", ".join(b.name for b in inv.boxes)
    raise NoSuchBox(f"no box or jump host named {name!r} in the inventory; the boxes: {boxes}")


async def _offered_key(args: argparse.Namespace, hops: tuple[Hop, ...]) -> asyncssh.SSHKey:
    """The host key the last of HOPS offers, reached through the others."""
    from console.ssh import BoxError
    from console.ssh.connect import fetch_host_key, open_hops

    jumps = await open_hops(args.box, hops[:-1]) if len(hops) > 1 else []
    try:
        key = await fetch_host_key(hops[-1], jumps[-1] if jumps else None)
    finally:
        for conn in reversed(jumps):
            conn.close()
    if key is None:
        raise BoxError(args.box, f"no host key from {hops[-1].where}")
    return key


async def _trust_box(inv: Inventory, args: argparse.Namespace) -> dict[str, Any]:
    """Fetch, show, check and (confirmed) record the key; what happened, for --json."""
    from console.ssh.connect import changed_key_message, known_hosts_file, recorded_keys

    hops = _hops_to(inv, args.box)
    target = hops[-1]
    key = await _offered_key(args, hops)
    fingerprint = f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"
    say = sys.stderr if args.json else sys.stdout
    print(f"{args.box} at {target.where} offers {fingerprint}", file=say)
    path = known_hosts_file(target)
    result = {"where": target.where, "fingerprint": fingerprint, "known_hosts": str(path)}
    recorded = recorded_keys(target)
    if any(k.public_data == key.public_data for k in recorded):
        print(f"already trusted in {path}", file=say)
        return {**result, "trusted": True, "outcome": "already-trusted"}
    if recorded and not args.replace:
        print(f"REFUSED: {changed_key_message(target, fingerprint, path)}", file=sys.stderr)
        return {**result, "trusted": False, "outcome": REFUSED}
    if not _confirmed(args, f"Is {fingerprint} the key of {args.box}?"):
        return {**result, "trusted": False, "outcome": "not-confirmed"}
    print(f"recorded in {record(target, key, replace=args.replace)}", file=say)
    return {**result, "trusted": True, "outcome": "recorded"}
