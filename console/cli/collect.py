"""`hotspare logs collect DEST`: every web node's logs copied into DEST/DAY/NODE/."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

from console.inventory import Inventory
from console.logs.archive import CollectError, CollectReport, NodeReport
from console.text import one_line

SCHEMA = "hotspare.logs-collect/1"
WIDTH = 80
_DAYS_AGO = re.compile(r"(\d{1,4})d")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add DEST, --since, --json and --timeout to PARSER."""
    parser.add_argument(
        "dest", metavar="DEST", type=Path, help="archive directory; files go to DEST/DAY/NODE/"
    )
    parser.add_argument(
        "--since",
        metavar="DATE",
        type=_since,
        help="only files changed on or after DATE: YYYY-MM-DD, today, yesterday or Nd "
        "(N days ago); default: every file",
    )
    parser.add_argument("--json", action="store_true", help=f"print the report ({SCHEMA})")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="give up on a box when one remote call takes longer (default 30 s)",
    )


def parse_since(text: str, today: date) -> date:
    """The day TEXT means: YYYY-MM-DD, today, yesterday, or Nd (N days ago).

    Raises:
        ValueError: TEXT is none of these.
    """
    if text in ("today", "yesterday"):
        return today - timedelta(days=0 if text == "today" else 1)
    if match := _DAYS_AGO.fullmatch(text):
        return today - timedelta(days=int(match[1]))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text)
    raise ValueError(f"{text!r} is not a day: use YYYY-MM-DD, today, yesterday or Nd (N days ago)")


def _since(text: str) -> date:
    try:
        return parse_since(text, date.today())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace, inv: Inventory) -> int:
    """Collect, print the summary or the JSON report; 0 if all is copied and verified."""
    from console.logs.collect import collect  # SSH is loaded only to run
    from console.ssh import BoxError

    try:
        report = asyncio.run(collect(inv, args.dest, args.since, args.timeout))
    except KeyboardInterrupt:
        _fail("interrupted; what was copied is kept, and the same command resumes it")
        return 130
    except CollectError as exc:
        _fail(str(exc))
        return 1
    except BoxError as exc:
        _fail(f"{exc.box}: {exc.reason}")
        return 1
    except OSError as exc:
        where = exc.filename or args.dest
        _fail(f"{where}: {exc.strerror}; DEST must be a directory this user can write to")
        return 1
    print(as_json(report) if args.json else render(report))
    return 0 if report.ok else 1


def _fail(message: str) -> None:
    # One line, unwrapped: from cron it lands in a log file and is grepped for.
    print(f"logs collect: {one_line(message, 1000)}", file=sys.stderr)


def as_json(report: CollectReport) -> str:
    """The report under the documented, versioned schema (docs/logs-collect.md)."""
    return json.dumps({"schema": SCHEMA, "ok": report.ok, **dataclasses.asdict(report)}, indent=2)


def render(report: CollectReport) -> str:
    """A summary in 80 columns: one line per node, then what went wrong or was moved."""
    since = f", files changed since {report.since}" if report.since else ""
    # A path is never broken: the operator copies it.
    header = f"Logs into {Path(report.dest) / report.day}{since}"
    lines = textwrap.wrap(header, WIDTH, break_long_words=False, break_on_hyphens=False)
    lines.append(f"{'NODE':<16}{'FILES':>6}{'COPIED':>12}{'UNCHANGED':>11}{'FAILED':>8}")
    notes: list[str] = []
    for node in report.nodes:
        lines.append(_node_line(node))
        if node.error:
            notes.append(f"{node.node}: {node.error}")
        notes += [
            f"{node.node} {Path(f.remote).name}: {f.outcome}: {f.reason}"
            for f in node.files
            if f.outcome in ("failed", "replaced")
        ]
    for note in notes:
        lines += textwrap.wrap(one_line(note, 400), WIDTH, subsequent_indent="    ")
    lines += textwrap.wrap(_verdict(report), WIDTH)
    return "\n".join(lines)


def _node_line(node: NodeReport) -> str:
    files = len(node.files)
    copied = _size(sum(f.copied for f in node.files))
    unchanged = sum(f.outcome == "unchanged" for f in node.files)
    failed = sum(f.outcome == "failed" for f in node.files)
    line = f"{node.node:<16}{files:>6}{copied:>12}{unchanged:>11}{failed:>8}"
    return line + ("  unreachable" if node.error and not node.files else "")


def _verdict(report: CollectReport) -> str:
    files = [f for n in report.nodes for f in n.files]
    if report.ok:
        return f"OK: {len(files)} files, {_size(sum(f.copied for f in files))} copied, all verified"
    down = sum(n.error is not None for n in report.nodes)
    failed = sum(f.outcome == "failed" for f in files)
    return (
        f"FAILED: {down} node(s) not collected, {failed} file(s) failed; "
        "fix the cause and run again (copies resume)"
    )


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable: GiB returns")
