"""`hotspare history`: what the monitor's history holds, and one file of it for another machine.

`info` says the span, the moments, the alarm changes and anything skipped;
`export FILE [--from T] [--to T]` writes the moments (all, or a range in
the --since grammar of console/when.py) to one gzip file that
`Recording.open` reads anywhere. docs/history.md describes the format.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.errors import Exit
from console.text import shown

HELP = "the monitor's recorded history: its span, or an export to one file"


def add_parser(commands: Any, load: Any) -> None:
    """Add `history info` and `history export` to COMMANDS; LOAD(args) returns the Inventory."""
    history = commands.add_parser("history", help=HELP, description=f"{HELP}.")
    history.add_argument(
        "--dir",
        type=Path,
        help="the history directory (default: the cluster's, under "
        "$XDG_STATE_HOME/hotspare/), or an exported file for info",
    )
    words = history.add_subparsers(dest="history_command", metavar="WHAT", required=True)
    info = words.add_parser("info", help="the span, moments and alarm changes recorded")
    info.set_defaults(run=lambda args: _info(args, load))
    out = words.add_parser("export", help="write the history (or a range) to one file")
    out.add_argument("file", type=Path, help="the file to write (gzip JSON Lines)")
    out.add_argument("--from", dest="start", help="the first moment, e.g. 2h or 14:30")
    out.add_argument("--to", dest="end", help="the last moment, e.g. 1h or 15:00")
    out.set_defaults(run=lambda args: _export(args, load))


def _source(args: argparse.Namespace, load: Any) -> Path | None:
    if args.dir is not None:
        return Path(args.dir)
    from console.history import default_directory

    inv = load(args)
    return None if inv is None else default_directory(inv)


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _length(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _info(args: argparse.Namespace, load: Any) -> int:
    from console.history import Recording

    source = _source(args, load)
    if source is None:
        return Exit.USAGE
    recording = Recording.open(source)
    print(f"recording  {shown(str(source))} (cluster {shown(recording.cluster or '?')})")
    if recording.span is None:
        print("moments    none")
    else:
        first, last = recording.span
        print(f"span       {_clock(first)} to {_clock(last)} ({_length(last - first)})")
        print(f"moments    {len(recording)}")
    print(f"alarms     {len(recording.alarm_moments())} changes of the alarm set")
    for note in recording.notes:
        print(f"skipped    {shown(note)}")
    return Exit.OK


def _export(args: argparse.Namespace, load: Any) -> int:
    from console import when
    from console.history import Recording, export

    source = _source(args, load)
    if source is None:
        return Exit.USAGE
    now = datetime.now(UTC)
    start = when.parse(args.start, now, ahead=False).at.timestamp() if args.start else None
    end = when.parse(args.end, now, ahead=False).at.timestamp() if args.end else None
    recording = Recording.open(source)
    done = export(recording, args.file, start, end)
    print(
        f"exported {done.moments} moments, {_clock(done.first)} to {_clock(done.last)}, "
        f"to {shown(str(done.path))} ({done.size} bytes)"
    )
    for note in recording.notes:
        print(f"skipped  {shown(note)}")
    return Exit.OK
