"""The JSON document a hook reads on its standard input: one alarm transition."""

from __future__ import annotations

import time
from typing import Any

from console.events import AlarmChange, cleared
from console.text import one_line

SCHEMA = "hotspare.alarm/1"
SUMMARY_WIDTH = 200
"""A pager shows the first line, and often less: the summary is one line, this long at most."""


def document(
    change: AlarmChange,
    cluster: str,
    environment: str,
    at: float,
    suppressed: int = 0,
    queued: int = 0,
    standing: bool = False,
) -> dict[str, Any]:
    """CHANGE as the ``hotspare.alarm/1`` document.

    Args:
        change: the transition told.
        cluster: the cluster's name; environment its label ("production").
        environment: the environment's label.
        at: when the snapshot that saw the alarm reach this state was taken (epoch s).
        suppressed: this alarm's transitions since the last call that were not
            told one by one (folded into this one by the rate limit).
        queued: calls to any hook held back by the cap per minute as this one starts.
        standing: the alarm was already raised in the monitor's first snapshot.
    """
    alarm = change.alarm
    return {
        "schema": SCHEMA,
        "transition": change.transition,
        "code": alarm.code,
        "severity": alarm.severity,
        "previous_severity": change.previous,
        "subject": list(alarm.subject),
        "message": alarm.message,
        "summary": summary(change, environment),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "at_epoch": at,
        "cluster": cluster,
        "environment": environment,
        "suppressed": suppressed,
        "queued": queued,
        "standing": standing,
    }


def summary(change: AlarmChange, environment: str = "") -> str:
    """CHANGE in one clean line for a pager or a chat: "[production] CRITICAL: ..."."""
    alarm = change.alarm
    where = f"[{environment}] " if environment else ""
    if change.transition == "cleared":
        text = f"CLEARED: {cleared(alarm)}"
    elif change.transition == "severity-changed":
        text = f"{alarm.severity.upper()} (was {change.previous}): {alarm.message}"
    else:
        text = f"{alarm.severity.upper()}: {alarm.message}"
    return one_line(where + text, SUMMARY_WIDTH)
