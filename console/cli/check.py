"""`hotspare check`: the site as a monitoring plugin sees it (Nagios, Icinga, Naemon, Sensu).

One line of text, then `|` and performance data, and the plugin exit status:
0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. The text names the worst alarm first
(a pager shows the first 80 characters); the perfdata carries the figures a
graph would keep: boxes answering, servers up, the replicas' lag, alarms by
severity. It reads the site once, as `hotspare status` does.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from console.cli.status import exit_status, once
from console.errors import StatusExit
from console.state import model
from console.text import one_line

WORDS = {
    StatusExit.OK: "OK",
    StatusExit.WARNING: "WARNING",
    StatusExit.CRITICAL: "CRITICAL",
    StatusExit.UNKNOWN: "UNKNOWN",
}
TEXT_WIDTH = 200
"""The text before the perfdata: plugin runners keep the first line, some cut it short."""
_LABEL = re.compile(r"[^A-Za-z0-9_.-]")


def add_parser(commands: Any, load: Any) -> None:
    """Add `check` to COMMANDS; LOAD(args) returns the Inventory or None."""
    check = commands.add_parser(
        "check",
        help="the site as a monitoring plugin: one line, perfdata, exit 0/1/2/3",
        description="For Nagios, Icinga and the like: one line of text (the worst alarm "
        "first), then '|' and performance data (boxes answering, servers up, replica lag, "
        "alarms). Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the inventory "
        "cannot be used, a bad option, or any error).",
    )
    check.add_argument(
        "--timeout", type=float, default=8.0, help="give up on a box after this (default 8 s)"
    )
    check.set_defaults(run=lambda args: _check(args, load), error_exit=StatusExit.UNKNOWN)


def line(state: model.ClusterState) -> str:
    """STATE as a plugin's one line: "HOTSPARE CRITICAL - ... | perfdata"."""
    return f"HOTSPARE {WORDS[exit_status(state)]} - {_text(state)} | {perfdata(state)}"


def unknown(reason: str) -> str:
    """The line for a check that could not judge the site."""
    return f"HOTSPARE UNKNOWN - {one_line(reason, TEXT_WIDTH)}"


def _text(state: model.ClusterState) -> str:
    """The words: the worst alarm first, never a '|' (where plugin runners cut)."""
    return _words(state).replace("|", "/")


def _words(state: model.ClusterState) -> str:
    worst = sorted(state.alarms, key=lambda a: a.severity != "critical")
    v = state.verdicts
    summary = (
        f"site {v.site_mode or 'unknown'}, primary {', '.join(v.primaries) or 'none'}, "
        f"{v.backends_up}/{v.backends_total} servers up"
    )
    if not worst:
        return one_line(summary, TEXT_WIDTH)
    more = f" (+{len(worst) - 1} more: {', '.join(a.code for a in worst[1:])})" if worst[1:] else ""
    return one_line(f"{worst[0].message}{more}; {summary}", TEXT_WIDTH)


def perfdata(state: model.ClusterState) -> str:
    """Nagios performance data: 'label'=value[unit];warn;crit;min;max, space-separated."""
    v = state.verdicts
    fresh = sum(1 for b in state.boxes if not b.stale)
    links = [link for db in state.databases for link in db.standbys]
    lags = [link.lag_bytes for link in links if link.lag_bytes is not None]
    seconds = [link.replay_lag_s for link in links if link.replay_lag_s is not None]
    items = [
        _item("boxes_answering", fresh, "", 0, len(state.boxes)),
        _item("servers_up", v.backends_up, "", 0, v.backends_total),
        _item("primaries", len(v.primaries), "", 0, None),
        _item("standbys_streaming", len(v.standbys_streaming), "", 0, None),
        _item("replica_lag", max(lags, default=0), "B", 0, None),
        _item("replica_lag_seconds", round(max(seconds, default=0.0), 3), "s", 0, None),
        _item("alarms_critical", sum(a.severity == "critical" for a in state.alarms), "", 0, None),
        _item("alarms_warning", sum(a.severity == "warning" for a in state.alarms), "", 0, None),
    ]
    return " ".join(items)


def _item(label: str, value: float, unit: str, low: float | None, high: float | None) -> str:
    bounds = ";".join("" if b is None else f"{b:g}" for b in (low, high))
    return f"{_LABEL.sub('_', label)}={value:g}{unit};;;{bounds}"


def _check(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        print(unknown("cluster.yaml cannot be used (the reason is on stderr)"))
        return StatusExit.UNKNOWN
    state = asyncio.run(once(inv, args.timeout, lambda s: print(line(s), flush=True)))
    return exit_status(state)
