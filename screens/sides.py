"""The upgrade screen's A/B panels: each side's nodes, backend and database, side by side, and
how long the site has been read-only.

Pure: drawn from a snapshot, the inventory and the A/B runbook's record (its
stages' args name the sides), so tests build all three directly. Every state
is a word (LIVE, read-only, writable), colour only repeats it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from console.inventory import Inventory
from console.state.model import ClusterState, DatabaseState, NodeState
from console.state.runbook import Runbook
from console.text import one_line
from screens import rows
from screens.rows import GOOD, PLANNED, QUIET, WARN

AB_KINDS = ("ab", "ab-rollback")
SIDE = 36
"""Each panel's width: two of them and the gap, 75 columns, inside the screen's 76."""
GAP = " │ "
READ_ONLY_BY = ("read-only", "back-read-only")
"""The stages that switch the site's flags to read-only (the rollover's, its rollback's)."""
WRITES_BY = ("switch", "a-writes")
"""The stages that switch them back to normal."""


@dataclass(frozen=True)
class Window:
    """How long the site is (or was) read-only, from the runbook's marks.

    Attributes:
        began: when the flags switched to read-only (epoch seconds); for a
            rollback that began read-only, when the rollback began.
        ended: when they switched back to normal; None while still read-only.
        before: the site was read-only before this runbook began (a rollback
            before B went live): it has been so for longer than `began` says.
    """

    began: float
    ended: float | None
    before: bool = False

    def seconds(self, now: float) -> float:
        """How long it lasted, or has lasted until NOW."""
        return max(0.0, (self.ended if self.ended is not None else now) - self.began)


def read_only_window(runbook: Runbook) -> Window | None:
    """The read-only window of an A/B RUNBOOK from its marks' times; None when it has none.

    It begins with the read-only stage's mark that says the flags switched
    (else that stage's first mark), and ends with the switch stage's mark
    that says they are back to normal.
    """
    ended = _flags_switched(runbook, WRITES_BY, "normal")
    began = _flags_switched(runbook, READ_ONLY_BY, "read-only")
    if began is None:
        began = next(
            (s.marks[0].at for s in runbook.stages if s.kind in READ_ONLY_BY and s.marks), None
        )
    if began is not None:
        return Window(began, ended)
    if runbook.kind == "ab-rollback":  # B never went live: read-only since the rollover's stage
        return Window(runbook.since, ended, before=True)
    return None


def _flags_switched(runbook: Runbook, kinds: tuple[str, ...], mode: str) -> float | None:
    for stage in runbook.stages:
        if stage.kind in kinds:
            for mark in stage.marks:
                if mark.ok and f"mode {mode}" in mark.check:
                    return mark.at
    return None


def span(seconds: float) -> str:
    """'45s', '1m23s', '2h05m09s': whole seconds, as a stopwatch says them."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def window_line(state: ClusterState, runbook: Runbook, now: float) -> Text:
    """'read-only for 1m23s, since 12:00:01' while it lasts; how long it was once it ended."""
    mode = state.balancer.flags.mode if state.balancer is not None else None
    window = read_only_window(runbook)
    if window is None:
        return Text(f"site {mode or '?'}: not read-only yet in this runbook\n", QUIET)
    since = _clock(window.began)
    if window.ended is not None:
        said = f"was read-only for {span(window.seconds(now))}"
        return Text(f"{said} ({since} to {_clock(window.ended)}), writes back\n")
    if mode != "read-only":
        return Text(f"site {mode or '?'}, read-only since {since} by the record\n", WARN)
    text = Text("read-only", f"bold {WARN}")
    if window.before:
        return text.append(f" for over {span(window.seconds(now))} (before this rollback)\n")
    return text.append(f" for {span(window.seconds(now))}, since {since}\n")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def ab_args(runbook: Runbook | None) -> Mapping[str, Any] | None:
    """The sides as an A/B RUNBOOK recorded them; None for any other runbook."""
    if runbook is None or runbook.kind not in AB_KINDS:
        return None
    return next(
        (
            s.args
            for s in runbook.stages
            if isinstance(s.args.get("a"), list) and isinstance(s.args.get("b"), list)
        ),
        None,
    )


def _names(args: Mapping[str, Any], key: str) -> list[str]:
    value = args.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def _header(state: ClusterState, letter: str, backend: str) -> Text:
    text = Text(f"{letter} ", "bold").append(one_line(backend or "?", 15), "bold")
    balancer = state.balancer
    if balancer is None:
        return text.append("  live ?", WARN)
    if balancer.live_backend != backend:
        return text.append("  not live", QUIET)
    mode = balancer.flags.mode
    text.append("  LIVE", f"bold {PLANNED}")
    if mode == "normal":
        return text.append(", writable", GOOD)
    return text.append(f", {mode}", WARN)


def _node_line(node: NodeState | None, name: str) -> Text:
    text = Text(" ").append(f"{one_line(name, 8):<8} ", "bold")
    if node is None:
        return text.append("not in the snapshot", WARN)
    text.append(f"{node.role or '?':<4} ", "" if node.role == node.expected_role else WARN)
    release, style = rows.release(node)
    text.append(f"{one_line(release, 11):<11} ", style)
    said = {True: ("read-only", WARN), False: ("writable", ""), None: ("?", WARN)}
    return text.append(*said[node.read_only])


def _pinned(inv: Inventory, state: ClusterState, nodes: list[NodeState]) -> tuple[Text, str]:
    """The line naming what the side's nodes use, and the database's name ("": none known)."""
    pins = {n.database for n in nodes}
    if not nodes:
        return Text(" no node on this side", WARN), ""
    if None in pins:
        return Text(" database ? (a role file unread)", WARN), ""
    if len(pins) > 1:
        shown = ", ".join(sorted(str(p) or "none" for p in pins))
        return Text(f" pins differ: {one_line(shown, 21)}", WARN), ""
    (pin,) = pins
    if not pin:
        primaries = [d.name for d in state.databases if d.role == "primary"]
        return Text(" follows the primary"), primaries[0] if len(primaries) == 1 else ""
    found = next((d.name for d in inv.databases if f"{d.host}:{d.port}" == pin), "")
    if not found:
        return Text(f" pinned to {one_line(str(pin), 18)} (unknown)", WARN), ""
    return Text(" pinned to ").append(found, "bold"), found


def _database_lines(db: DatabaseState | None, name: str) -> list[Text]:
    if not name:
        return []
    if db is None or db.role is None:
        return [Text(f"  {one_line(name, 10)} not answering", WARN)]
    where = Text(f"  {one_line(name, 10)} {db.role}, timeline {db.timeline or '?'}")
    if db.role == "standby":
        return [where, Text(f"  replayed {db.replay_lsn or '?'}, ").append("read-only", WARN)]
    flag = {True: ("read-only", WARN), False: ("writable", GOOD), None: ("read-only ?", WARN)}
    at = Text(f"  at {db.current_lsn or '?'}, ").append(*flag[db.read_only_default])
    return [where, at]


def side_lines(
    inv: Inventory, state: ClusterState, args: Mapping[str, Any], key: str
) -> list[Text]:
    """Side KEY ("a" or "b"): its backend and whether it is live, its nodes, its database."""
    seen = {n.name: n for n in state.nodes}
    names = _names(args, key)
    lines = [_header(state, key.upper(), str(args.get(f"{key}_backend") or ""))]
    lines += [_node_line(seen.get(name), name) for name in names]
    pinned, db_name = _pinned(inv, state, [seen[n] for n in names if n in seen])
    db = next((d for d in state.databases if d.name == db_name), None)
    return [*lines, pinned, *_database_lines(db, db_name)]


def sides_text(inv: Inventory, state: ClusterState, runbook: Runbook, now: float) -> Text:
    """A | B side by side, then the read-only window; empty for a runbook that is not A/B."""
    args = ab_args(runbook)
    if args is None:
        return Text()
    left, right = side_lines(inv, state, args, "a"), side_lines(inv, state, args, "b")
    text = Text()
    for n in range(max(len(left), len(right))):
        a = _fit(left[n] if n < len(left) else Text())
        b = _fit(right[n] if n < len(right) else Text())
        text.append_text(a).append(" " * (SIDE - a.cell_len))
        text.append(GAP if b else GAP.rstrip(), QUIET).append_text(b).append("\n")
    return text.append_text(window_line(state, runbook, now))


def _fit(line: Text) -> Text:
    """LINE cut to a panel's width with "…" (a name or an address too long)."""
    if line.cell_len > SIDE:
        line = line.copy()
        line.truncate(SIDE, overflow="ellipsis")
    return line
