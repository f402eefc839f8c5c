"""Patroni's other REST answers: one member's own status (``GET /patroni``) and the history.

The cluster's view (``GET /cluster``) is console/probes/patroni.py's. These
two are read by the Patroni actions (a restart compares the postmaster's
start time before and after) and by `hotspare patroni history`. Like the
view, each answer is untrusted: every field is checked, and an answer out of
shape is a PatroniProbeError that says what is wrong and what to check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from console.probes import http
from console.probes.patroni import PatroniProbeError, get
from console.probes.patroni_api import PatroniApi
from console.text import needs_escaping, one_line

Run = http.Run

READ_TIMEOUT = 3.0
"""curl's --max-time for ``GET /patroni`` and ``GET /history``, in seconds."""
MAX_ANSWER = 1_000_000
MAX_TEXT = 1000


@dataclass(frozen=True)
class MemberStatus:
    """One member's own account of its PostgreSQL (``GET /patroni`` on its Patroni).

    Attributes:
        state: running, starting, stopped, restarting...
        role: PostgreSQL's role as Patroni names it (primary, replica, standby_leader); ""
            when Patroni does not say.
        started: the postmaster's start time as Patroni gives it; "" when it gives none.
        pending_restart: a changed setting waits for a restart.
    """

    state: str
    role: str
    started: str
    pending_restart: bool


@dataclass(frozen=True)
class HistoryLine:
    """One switchover or failover in Patroni's history (a line of ``GET /history``).

    Attributes:
        timeline: the timeline that ended there.
        lsn: where it ended, in bytes.
        reason: why, as PostgreSQL's timeline history file says.
        timestamp: when the new timeline began ("" in histories older than Patroni 1.6).
        new_leader: the member promoted then ("" when Patroni did not record it).
    """

    timeline: int
    lsn: int
    reason: str
    timestamp: str
    new_leader: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "timeline": self.timeline,
            "lsn": self.lsn,
            "reason": self.reason,
            "timestamp": self.timestamp,
            "new_leader": self.new_leader,
        }


def parse_member(text: str) -> MemberStatus:
    """Read Patroni's ``GET /patroni`` JSON.

    Raises:
        PatroniProbeError: not JSON, or not the shape Patroni 3.x and 4.x give.
    """
    data = _json(text, "/patroni")
    if not isinstance(data, dict):
        raise _shape("/patroni", f"a JSON {_kind(data)} at the top, not an object")
    pending = data.get("pending_restart", False)
    if not isinstance(pending, bool):
        raise _shape("/patroni", f"pending_restart as a {_kind(pending)}, not true or false")
    return MemberStatus(
        state=_text(data.get("state"), "/patroni", "state"),
        role=_text(data.get("role", ""), "/patroni", "role", empty=True),
        started=_text(data.get("postmaster_start_time", ""), "/patroni", "start time", empty=True),
        pending_restart=pending,
    )


def parse_history(text: str) -> tuple[HistoryLine, ...]:
    """Read Patroni's ``GET /history`` JSON: a list of [timeline, lsn, reason, timestamp, leader].

    Raises:
        PatroniProbeError: not JSON, or not that shape.
    """
    data = _json(text, "/history")
    if not isinstance(data, list):
        raise _shape("/history", f"a JSON {_kind(data)} at the top, not a list")
    return tuple(_history_line(raw, n) for n, raw in enumerate(data))


async def probe_member(run: Run, url: PatroniApi | str) -> MemberStatus:
    """Ask the Patroni at URL (`patroni_api(db)`, or a bare patroni_url) for its own
    member's status.

    Raises:
        PatroniProbeError: no answer, an HTTP error, or an answer out of shape.
            Errors raised by ``run`` (the transport's) pass through unchanged.
    """
    return parse_member(await get(run, url, "patroni", READ_TIMEOUT))


async def probe_history(run: Run, url: PatroniApi | str) -> tuple[HistoryLine, ...]:
    """Ask the Patroni at URL (`patroni_api(db)`, or a bare patroni_url) for the cluster's
    switchover and failover history.

    Raises:
        PatroniProbeError: no answer, an HTTP error, or an answer out of shape.
            Errors raised by ``run`` (the transport's) pass through unchanged.
    """
    return parse_history(await get(run, url, "history", READ_TIMEOUT))


def _history_line(raw: object, n: int) -> HistoryLine:
    where = f"line {n + 1}"
    if not isinstance(raw, list) or not 3 <= len(raw) <= 5:
        shape = f"a list of {len(raw)}" if isinstance(raw, list) else f"a {_kind(raw)}"
        raise _shape("/history", f"{where} as {shape}, not [timeline, lsn, reason, ...]")
    timeline, lsn, reason, *rest = raw
    more = [*rest, None, None][:2]
    return HistoryLine(
        timeline=_count(timeline, f"{where}'s timeline"),
        lsn=_count(lsn, f"{where}'s LSN"),
        # Free text from PostgreSQL's timeline history file: kept whole, escaped where shown.
        reason=_text(reason, "/history", f"{where}'s reason", empty=True, free=True),
        timestamp=_text(more[0] or "", "/history", f"{where}'s timestamp", empty=True),
        new_leader=_text(more[1] or "", "/history", f"{where}'s new leader", empty=True),
    )


def _json(text: str, path: str) -> object:
    if len(text) > MAX_ANSWER:
        raise _shape(path, f"an answer of {len(text)} characters")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PatroniProbeError(
            f"Patroni's {path} answer is not JSON ({one_line(str(exc), 80)}): is patroni_url "
            "Patroni's REST API? Check it in cluster.yaml"
        ) from exc


def _text(value: object, path: str, what: str, empty: bool = False, free: bool = False) -> str:
    if not isinstance(value, str):
        raise _shape(path, f"{what} as {'nothing' if value is None else 'a ' + _kind(value)}")
    if not value.strip() and not empty:
        raise _shape(path, f"{what} empty")
    if len(value) > MAX_TEXT:
        raise _shape(path, f"{what} longer than {MAX_TEXT} characters")
    if not free and needs_escaping(value):
        raise _shape(path, f"control characters in {what} ({one_line(value, 40)!r})")
    return value


def _count(value: object, what: str) -> int:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _shape("/history", f"{what} as {value!r:.40}, not a whole number")
    return value


def _kind(value: object) -> str:
    names = {dict: "object", list: "list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "number")


def _shape(path: str, found: str) -> PatroniProbeError:
    return PatroniProbeError(
        f"Patroni's {path} answer has {found}: is patroni_url Patroni's REST API "
        "(Patroni 3 or later)? Check it in cluster.yaml"
    )
