"""`hotspare logs`: the nodes' access and error logs, each line tagged with where it came from.

In the manner of `kubectl logs --prefix` and `journalctl`: the last lines by
default, `--since` for a time, `--follow` to keep going, `--merge` for one
stream in time order. Nothing is dropped: when output is slow, the boxes'
tails wait. Every line is made inert (control characters shown as escapes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import console.cli.collect as cli_collect
from console.logs.lines import Source
from console.logs.runs import Run, RunMerger, order
from console.logs.since import SinceError, parse_since
from console.text import shown

if TYPE_CHECKING:  # SSH is loaded only to run, so `--help` stays fast
    from console.inventory import Inventory, WebNode
    from console.logs.session import LogSession

DEFAULT_LINES = 10
TAKE_EVERY = 0.02
UNTIL_GRACE = 2.0  # seconds a line stamped before --until may take to arrive
COLOURS = ("36", "33", "35", "32", "34", "31")


def add_parser(commands: Any, load: Any) -> None:
    """Add `logs` and `logs collect` to COMMANDS; LOAD(args) returns the Inventory or None."""
    logs = commands.add_parser(
        "logs",
        help="print or follow the web nodes' logs (`logs collect DEST` copies them)",
        description="Print the last lines of the web nodes' access logs (hot and warm), "
        "or error logs, each prefixed with [NODE FILE]. `hotspare logs collect DEST` "
        "copies every node's logs instead; see docs/logs.md.",
    )
    logs.add_argument("nodes", nargs="*", metavar="NODE", help="web nodes (default: all)")
    which = logs.add_mutually_exclusive_group()
    which.add_argument("--error", dest="kinds", action="store_const", const=("error",))
    which.add_argument("--both", dest="kinds", action="store_const", const=("access", "error"))
    logs.set_defaults(kinds=("access",), run=lambda args: _logs(args, load))
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--merge", action="store_true", help="one stream in timestamp order")
    logs.add_argument(
        "--since", metavar="WHEN", help="from a time: 10m (ago), 2h, yesterday, 14:05, 2026-11-25"
    )
    logs.add_argument(
        "--until", metavar="WHEN", help="up to a time, same forms; with -f, stop at that time"
    )
    logs.add_argument(
        "-n", "--lines", type=int, metavar="N", help="last N lines per file (default 10)"
    )
    logs.add_argument("-g", "--grep", metavar="RE", help="only lines matching RE (Python regex)")
    logs.add_argument("-v", "--invert-match", action="store_true", help="lines NOT matching")
    logs.add_argument("-i", "--ignore-case", action="store_true", help="case-insensitive --grep")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.add_argument("--no-prefix", action="store_true", help="omit the [NODE FILE] prefix")
    collect = commands.add_parser(
        "logs-collect",
        help="copy every node's logs into DEST/DATE/NODE/ (also `logs collect`)",
    )
    cli_collect.add_arguments(collect)
    collect.set_defaults(run=lambda args: _collect(args, load))


def route(argv: Sequence[str]) -> list[str]:
    """ARGV with `logs collect` written as the `logs-collect` command it is."""
    args = list(argv)
    for i, word in enumerate(args[:-1]):
        if word == "logs" and args[i + 1] == "collect":
            return [*args[:i], "logs-collect", *args[i + 2 :]]
    return args


def _collect(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    return 2 if inv is None else cli_collect.run(args, inv)


def _nodes(inv: Inventory, names: Sequence[str]) -> list[WebNode] | None:
    known = {node.name: node for node in inv.web_nodes}
    unknown = [name for name in names if name not in known]
    if unknown:
        print(
            f"hotspare logs: no web node named {', '.join(map(shown, unknown))}; "
            f"the web nodes are: {', '.join(known) or 'none'}",
            file=sys.stderr,
        )
        return None
    return [known[name] for name in names] if names else list(inv.web_nodes)


def _pattern(args: argparse.Namespace) -> re.Pattern[str] | None:
    if args.grep is None:
        return None
    return re.compile(args.grep, re.IGNORECASE if args.ignore_case else 0)


def _logs(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return 2
    nodes = _nodes(inv, args.nodes)
    if nodes is None:
        return 2
    try:
        pattern = _pattern(args)
    except re.error as exc:
        print(f"hotspare logs: --grep {args.grep!r} is not a valid regex: {exc}", file=sys.stderr)
        return 2
    since, until = _window(args)
    backlog = args.lines if args.lines is not None else (None if since else DEFAULT_LINES)
    printer = Printer(sys.stdout, [n.name for n in nodes], args, pattern, until)
    from console.logs.session import sources

    try:
        return asyncio.run(_run(inv, sources(nodes, args.kinds), args, backlog, since, printer))
    except KeyboardInterrupt:
        return 0  # ^C is how one stops --follow
    except BrokenPipeError:
        # The reader (head, less) went away: nothing more to say to it.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _window(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """--since and --until as epoch seconds; a duration means that long ago for both.

    Raises:
        SinceError: one is not a time, or --since comes after --until.
    """
    since = parse_since(args.since) if args.since else None
    until = parse_since(args.until, option="--until") if args.until else None
    if since is not None and until is not None and since > until:
        raise SinceError(f"--since {args.since!r} is after --until {args.until!r}: no line fits")
    return since, until


async def _run(
    inv: Inventory,
    files: list[Source],
    args: argparse.Namespace,
    backlog: int | None,
    since: float | None,
    printer: Printer,
) -> int:
    from console.logs.session import LogSession
    from console.ssh import BoxLink

    links = {box: BoxLink(inv, box) for box in {f.box for f in files}}
    session = LogSession(links, files, args.follow, backlog, since, lossless=True)
    session.start()
    try:
        if args.follow:
            await _follow(session, printer, args.merge, printer.until)
        else:
            await _read_once(session, printer, args.merge)
    finally:
        await session.stop()
        await asyncio.gather(*(link.close() for link in links.values()))
    failed = [t for t in session.tails.values() if t.failure]
    for tail in failed:
        printer.warn(tail.source.node, tail.source.label, f"not read: {tail.failure}")
    for node, kind, paths in session.absent():
        printer.warn(node, kind, f"no such file: {' nor '.join(paths)}")
    return 1 if failed else 0


async def _read_once(session: LogSession, printer: Printer, merge: bool) -> None:
    gathered: list[Run] = []
    while True:
        finished = session.done
        gathered.extend(session.take_runs().runs)
        if finished:
            break
        await asyncio.sleep(TAKE_EVERY)
    if merge:
        gathered.sort(key=order)
    else:  # node by node, each node's own files in time order
        rank = {name: i for i, name in enumerate(printer.nodes)}
        gathered.sort(key=lambda run: (rank[run.source.node], run.when, run.seq))
    printer.runs(gathered)


async def _follow(session: LogSession, printer: Printer, merge: bool, until: float | None) -> None:
    """Print as lines come, until ^C or (with --until) that time and a little grace."""
    states: dict[Source, str | None] = dict.fromkeys(session.files)
    merger = RunMerger()
    while until is None or session.clock() < until + UNTIL_GRACE:
        batch = session.take_runs()
        for source, text in batch.notices:
            printer.warn(source.node, source.label, text)
        for source, tail in session.tails.items():
            reason = tail.state.reason
            if reason != states[source] and reason not in (None, "starting"):
                printer.warn(source.node, source.label, reason)
            states[source] = reason
        if merge:
            now = session.clock()
            for runs in _by_file(batch.runs).values():
                merger.push(runs, now)
            printer.runs(merger.release(now))
        else:
            printer.runs(batch.runs)
        await asyncio.sleep(TAKE_EVERY)


def _by_file(runs: list[Run]) -> dict[Source, list[Run]]:
    found: dict[Source, list[Run]] = {}
    for run in runs:
        found.setdefault(run.source, []).append(run)
    return found


class Printer:
    """Writes lines as `[node file] text`, or JSON; warnings go to stderr."""

    def __init__(
        self,
        out: TextIO,
        nodes: Sequence[str],
        args: argparse.Namespace,
        pattern: re.Pattern[str] | None,
        until: float | None = None,
    ) -> None:
        self.out = out
        self.until = until
        self.nodes = list(nodes)
        self.json = args.json
        self.prefix = not args.no_prefix
        self.pattern = pattern
        self.invert = args.invert_match
        colour = out.isatty() and not os.environ.get("NO_COLOR")
        self._colours = {
            name: (f"\x1b[{COLOURS[i % len(COLOURS)]}m", "\x1b[0m") if colour else ("", "")
            for i, name in enumerate(self.nodes)
        }

    def _tag(self, source: Source) -> str:
        start, end = self._colours[source.node]
        return f"{start}[{source.node} {source.label}]{end} "

    def _keep(self, lines: list[str]) -> list[str]:
        if self.pattern is None:
            return lines
        search, invert = self.pattern.search, self.invert
        return [line for line in lines if (search(line) is None) == invert]

    def runs(self, runs: Sequence[Run]) -> None:
        """Print the lines of RUNS that pass the filter, in one write."""
        parts = []
        for run in runs:
            if self.until is not None and run.when > self.until:
                continue
            if self.json:
                parts.extend(_json_lines(run, self._keep))
                continue
            lines = run.texts
            if run.cuts:
                lines = lines.copy()
                for i, count in run.cuts.items():
                    lines[i] += f" …[{count} bytes cut]"
            lines = self._keep(lines)
            if not lines:
                continue
            if self.prefix:
                tag = self._tag(run.source)
                parts.append(tag + ("\n" + tag).join(lines))
            else:
                parts.append("\n".join(lines))
        if parts:
            self.out.write("\n".join(parts) + "\n")
            self.out.flush()

    def warn(self, node: str, what: str, text: str) -> None:
        """Say on stderr what happened to WHAT (a file's label) of NODE."""
        print(f"hotspare logs: {node} {what}: {text}", file=sys.stderr, flush=True)


def _json_lines(run: Run, keep: Callable[[list[str]], list[str]]) -> list[str]:
    source = run.source
    stamp = datetime.fromtimestamp(run.when, UTC).isoformat().replace("+00:00", "Z")
    kept = set(keep(run.texts))
    return [
        json.dumps(
            {
                "node": source.node,
                "box": source.box,
                "kind": source.kind,
                "role": source.role,
                "file": source.path,
                "time": stamp,
                "line": text,
                "cut": run.cuts.get(i, 0),
            },
            ensure_ascii=False,
        )
        for i, text in enumerate(run.texts)
        if text in kept
    ]
