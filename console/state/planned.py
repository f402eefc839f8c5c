"""Planned states: what an operator set on purpose is said calmly, until it outlives its plan.

A hot server drained or put in maintenance (its admin state is not ready)
and a site mode other than normal were set by an operator or an action.
While their plan holds they raise no alarm; Verdicts.planned names them and
the console shows them in a calm colour. They become warnings (never
critical: the operator chose them) once the plan is over:

- a server out of service is planned while an action runs (it holds the
  cluster's lock and is not gone, or is a runbook paused or halted on
  purpose), or for PLAN_GRACE_S after it left
  service; past that, with no action running, it is a warning.
- a site mode is planned until its `until` has passed; past it, a warning.
  A bare clock time ("03:30 UTC") is read as today's: the actions write a
  date whenever the time is on another day. A mode without a readable
  until (none given, "the end of the maintenance") stays planned.
- a second, read-only primary while an A/B rollover (or its rollback) is
  open is a warning naming it, not an old primary's critical alarm.

Pure, no I/O: the caller passes the snapshot's time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from console import when
from console.state.balancer import Server, SiteFlags
from console.state.lock import ActionLock
from console.state.model import Alarm
from console.state.runbook import Runbook
from console.state.wording import alarm as _alarm

PLAN_GRACE_S = 15 * 60
"""How long a server may stay out of service with no action running before it is a warning."""

_CLOCK = re.compile(r"\d{1,2}:\d{2}")


def servers(
    out: Sequence[Server], action: ActionLock | None
) -> tuple[tuple[str, ...], list[Alarm]]:
    """Hot servers an operator took out (OUT): the planned ones, and warnings for the rest."""
    # A runbook paused or halted on purpose keeps its nodes out by plan: its own
    # alarm (action-paused, action-halted) says what waits for the operator.
    running = action is not None and (action.gone is None or bool(action.stopped))
    planned, overdue = [], []
    for s in out:
        within = s.last_change_s is not None and s.last_change_s < PLAN_GRACE_S
        if running or within:
            planned.append(f"{s.name} {s.admin}")
        else:
            overdue.append(s)
    if not overdue:
        return tuple(planned), []
    minutes = PLAN_GRACE_S // 60
    detail = ", ".join(f"{s.name} is {s.operational} ({s.admin})" for s in overdue)
    message = f"hot servers out of service for over {minutes} min, no action running: {detail}"
    return tuple(planned), [_alarm("backends-out", "warning", [s.name for s in overdue], message)]


def site_mode(box: str, flags: SiteFlags, now: float | None) -> tuple[tuple[str, ...], list[Alarm]]:
    """The site's mode if not normal: planned, or a warning once its until has passed."""
    if flags.mode == "normal":
        return (), []
    said = f": {flags.message!r}" if flags.message else ""
    if flags.until and now is not None and until_passed(flags.until, now):
        message = f"the site is still in {flags.mode} mode, past its until {flags.until}{said}"
        return (), [_alarm("site-mode", "warning", [box], message)]
    until = f" until {flags.until}" if flags.until else ""
    return (f"site {flags.mode}{until}",), []


def until_passed(until: str, now: float) -> bool | None:
    """Whether UNTIL, as the site actions write it, is before NOW (epoch s); None if unreadable.

    The actions write "03:30 UTC" for today and "2026-11-26 03:30 UTC" for
    another day; a zone other than UTC is the console's local zone.
    """
    words = until.split()
    utc = bool(words) and words[-1] == "UTC"
    if words and words[-1].isalpha():
        words = words[:-1]
    text = " ".join(words)
    at_now = datetime.fromtimestamp(now, UTC) if utc else datetime.fromtimestamp(now).astimezone()
    if _CLOCK.fullmatch(text):
        text = f"{at_now:%Y-%m-%d} {text}"
    try:
        moment = when.parse(text + (" UTC" if utc else ""), at_now, ahead=False)
    except when.WhenError:
        return None
    return moment.at.timestamp() <= now


def second_primary(runbook: Runbook | None, alarms: tuple[Alarm, ...]) -> tuple[Alarm, ...]:
    """ALARMS with what an open A/B rollover (or its rollback) does on purpose said as such.

    While it runs, two primaries exist by plan: one writable, the other
    read-only on another timeline (A's, the way back; or B's, being fenced).
    That older or newer primary is a warning naming the runbook, not a
    critical alarm. Two *writable* primaries stay a critical split brain.
    """
    if runbook is None or runbook.kind not in ("ab", "ab-rollback") or not runbook.open:
        return alarms
    detach = next((s for s in runbook.stages if s.kind in ("detach", "back")), None)
    if detach is None:
        return alarms
    both = {str(detach.args.get("a_db")), str(detach.args.get("b_db"))}
    said = "the way back" if runbook.kind == "ab" else "being fenced"
    out = []
    for alarm in alarms:
        if alarm.code == "stale-primary" and set(alarm.subject) <= both:
            alarm = replace(
                alarm,
                severity="warning",
                code="ab-second-primary",
                message=f"{alarm.subject[0]} is a second, read-only primary of the "
                f"{runbook.title} ({said}); {runbook.banner()}",
            )
        out.append(alarm)
    return tuple(out)
