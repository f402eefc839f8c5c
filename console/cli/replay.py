"""`hotspare replay`: open the console on the monitor's recorded history, observer only.

The recording is the cluster's history directory (where `hotspare monitor`
records), or `--from` a directory or a file `hotspare history export`
wrote, maybe on another machine. The console needs names from an
inventory; with `--from` and no `--cluster` it takes them from the
recording itself (console/history/stand_in.py), so a file opens where
cluster.yaml is not. This module opens the recording and places the
cursor; the front end that draws it is handed in (screens/main.py).
docs/replay.md describes the console.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import Exit

if TYPE_CHECKING:
    from console.history.replay import Replay
    from console.inventory import Inventory

HELP = "replay the monitor's recorded history in the console (observer only)"
Show = Callable[["Inventory", "Replay", argparse.Namespace], int]


def add_parser(commands: Any, load: Any, show: Show) -> None:
    """Add `replay` to COMMANDS; LOAD(args) returns the Inventory, SHOW draws the replay."""
    replay = commands.add_parser(
        "replay",
        help=HELP,
        description=f"{HELP}. A time cursor moves through the recording; every panel and "
        "the event timeline show the site as it was at the cursor. Keys: ? in the console.",
    )
    replay.add_argument(
        "--at",
        metavar="TIME",
        help="open at this moment (default: the last recorded): 14:30 (the last 14:30 "
        "recorded), 10m (ten minutes before the recording ends), 2026-12-07T14:30 UTC",
    )
    replay.add_argument(
        "--from",
        dest="source",
        metavar="DIR|FILE",
        type=Path,
        help="a history directory or a file `history export` wrote (default: the cluster's "
        "history); without --cluster the names come from the recording, no cluster.yaml needed",
    )
    replay.set_defaults(run=lambda args: _replay(args, load, show))


def opened(args: argparse.Namespace, load: Any) -> tuple[Inventory, Replay] | None:
    """The inventory and the replay ARGS ask for, the cursor placed; None once LOAD said why not.

    Raises:
        ReplayError: no recording there, an empty one, a recording of another
            cluster than --cluster's, or --at outside its span.
        WhenError: --at is not a time.
    """
    from console.history import Recording, default_directory
    from console.history.replay import Replay, ReplayError, moment_of
    from console.history.stand_in import inventory_of

    inv: Inventory | None = None
    if args.source is None:
        inv = load(args)
        if inv is None:
            return None
        source = default_directory(inv)
        if not source.is_dir():
            raise ReplayError(
                f"no history of cluster {inv.name!r} here ({source}): `hotspare monitor` "
                "records it while it runs; or give a recording with --from DIR|FILE"
            )
    else:
        source = args.source
        if args.cluster is not None:
            inv = load(args)
            if inv is None:
                return None
    replay = Replay(Recording.open(source))
    recorded = replay.recording.cluster
    if inv is not None and recorded is not None and recorded != inv.name:
        raise ReplayError(
            f"{source} is a recording of cluster {recorded!r}, not {inv.name!r}: give its "
            "own cluster.yaml with --cluster, or none (the names then come from the recording)"
        )
    if args.at:
        replay.go(moment_of(args.at, replay))
    if inv is None:
        inv = inventory_of(_ends(replay), source)
    return inv, replay


def _ends(replay: Replay) -> list[Any]:
    """The first and last moments that can be rebuilt (the names the stand-in inventory needs)."""
    from console.history import HistoryError

    found = []
    for number in (0, len(replay) - 1):
        try:
            found.append(replay.recording.moment(number))
        except HistoryError:
            continue
    if not found:
        found.append(replay.state())  # says which line cannot be read
    return found


def _replay(args: argparse.Namespace, load: Any, show: Show) -> int:
    chosen = opened(args, load)
    if chosen is None:
        return Exit.USAGE
    return show(*chosen, args)
