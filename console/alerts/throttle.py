"""How often hooks are told: one call per alarm per interval, a cap per minute, nothing lost.

An on-call operator wants three things from alert hooks, in this order:

1. To be woken the moment something becomes critical: a transition that
   makes an alarm critical (raised critical, or a warning turned critical)
   is told at once, whatever the per-alarm interval says.
2. Not to be paged by a flapping alarm: after a call about an alarm, the
   same hook hears of that alarm again only once ``min_interval`` has passed.
   What happened meanwhile is folded into that next call: it tells where
   the alarm is now (raised, cleared, which severity), with ``suppressed``
   counting the transitions it was not told one by one. A flap that ends
   where it began (raised, cleared, raised again) makes no call at all; its
   count is told with the next call about that alarm.
3. That the last thing a hook heard is true: a held clear is never dropped;
   it is told once the interval has passed (the monitor calls ``step``
   every snapshot, so it goes within one refresh of the interval's end).

Above all of that, ``max_per_minute`` caps the calls of every hook together
(a storm of alarms cannot start hundreds of processes); calls held by it
go as the minute frees up, critical ones first, and each call says how many
are still ``queued``.

A hook only hears of alarms whose new or previous severity it asked for: a
pager for critical alarms learns that one it was paged for went down to a
warning, and nothing more about it until it is critical again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.events import AlarmChange, AlarmKey, alarm_key
from console.inventory import AlertHook, Alerts
from console.state.model import Alarm, Severity

WINDOW = 60.0
"""The span of ``max_per_minute``, in seconds."""


@dataclass(frozen=True)
class Call:
    """One hook to run now, about one alarm.

    Attributes:
        hook: the hook to run.
        change: the transition to tell: from what the hook last heard to now.
        at: when the alarm reached that state (the snapshot's time, epoch s).
        suppressed: the alarm's transitions since the hook's last call about
            it that are not told one by one.
        queued: calls held back by the cap per minute after this one.
        standing: the alarm was already raised in the monitor's first snapshot.
    """

    hook: AlertHook
    change: AlarmChange
    at: float
    suppressed: int = 0
    queued: int = 0
    standing: bool = False


@dataclass
class _Track:
    """What one hook knows of one alarm, and what it does not know yet."""

    last: Alarm
    now: Alarm | None = None
    latest: AlarmChange | None = None
    at: float = 0.0
    told: Severity | None = None  # the severity it last heard the alarm has; None: not raised
    told_at: float | None = None
    changes: int = 0
    standing: bool = False


@dataclass
class _Hook:
    hook: AlertHook
    tracks: dict[AlarmKey, _Track] = field(default_factory=dict)


class Throttle:
    """Decides, snapshot after snapshot, which hook calls are made now."""

    def __init__(self, alerts: Alerts, clock: Callable[[], float] = time.monotonic) -> None:
        """Rate-limit calls to the hooks of ALERTS; CLOCK gives seconds (monotonic)."""
        self._alerts = alerts
        self._clock = clock
        self._hooks = [_Hook(hook) for hook in alerts.hooks]
        self._started: deque[float] = deque()

    def step(
        self, changes: Sequence[AlarmChange], at: float, standing: bool = False
    ) -> tuple[Call, ...]:
        """Note CHANGES (seen in the snapshot taken AT) and return the calls to make now.

        Call it for every snapshot, with no changes too: held calls go when their
        interval has passed. STANDING marks the alarms of the monitor's first snapshot.
        """
        now = self._clock()
        for entry in self._hooks:
            for change in changes:
                if _concerns(entry.hook, change):
                    _note(entry.tracks, change, at, standing)
        due = [
            (entry, track)
            for entry in self._hooks
            for track in entry.tracks.values()
            if self._due(entry.hook, track, now)
        ]
        due.sort(key=lambda pair: (_view(pair[0].hook, pair[1]) != "critical", pair[1].at))
        while self._started and now - self._started[0] >= WINDOW:
            self._started.popleft()
        budget = max(0, self._alerts.max_per_minute - len(self._started))
        admitted, held = due[:budget], due[budget:]
        calls = []
        for entry, track in admitted:
            calls.append(_tell(entry.hook, track, now, len(held)))
            self._started.append(now)
        self._forget(now)
        return tuple(calls)

    def pending(self) -> int:
        """Hook calls owed: alarms whose hook has not heard where they are now."""
        return sum(
            _view(entry.hook, track) != track.told
            for entry in self._hooks
            for track in entry.tracks.values()
        )

    def _due(self, hook: AlertHook, track: _Track, now: float) -> bool:
        view = _view(hook, track)
        if view == track.told:
            return False
        if track.told_at is None or now - track.told_at >= self._alerts.min_interval:
            return True
        return view == "critical"

    def _forget(self, now: float) -> None:
        """Drop what hooks know of alarms long cleared, so memory stays bounded."""
        for entry in self._hooks:
            gone = [
                key
                for key, track in entry.tracks.items()
                if track.now is None
                and track.told is None
                and track.changes == 0
                and (track.told_at is None or now - track.told_at >= self._alerts.min_interval)
            ]
            for key in gone:
                del entry.tracks[key]


def _concerns(hook: AlertHook, change: AlarmChange) -> bool:
    """Whether HOOK hears of CHANGE: its new or its previous severity is one it asked for."""
    return change.alarm.severity in hook.severities or change.previous in hook.severities


def _note(tracks: dict[AlarmKey, _Track], change: AlarmChange, at: float, standing: bool) -> None:
    key = alarm_key(change.alarm)
    track = tracks.setdefault(key, _Track(last=change.alarm))
    track.last = change.alarm
    track.now = None if change.transition == "cleared" else change.alarm
    track.latest = change
    track.at = at
    track.changes += 1
    track.standing = standing


def _view(hook: AlertHook, track: _Track) -> Severity | None:
    """The alarm's severity as HOOK sees it: None when cleared or below what it asked for."""
    if track.now is None or track.now.severity not in hook.severities:
        return None
    return track.now.severity


def _tell(hook: AlertHook, track: _Track, now: float, queued: int) -> Call:
    """The call that brings HOOK from what it last heard to where the alarm is now."""
    view = _view(hook, track)
    if track.now is None:
        change = AlarmChange("cleared", track.last)
    elif track.told is not None:
        change = AlarmChange("severity-changed", track.now, track.told)
    elif track.latest is not None and track.latest.transition == "severity-changed":
        change = track.latest
    else:
        change = AlarmChange("raised", track.now)
    call = Call(hook, change, track.at, max(0, track.changes - 1), queued, track.standing)
    track.told, track.told_at, track.changes, track.standing = view, now, 0, False
    return call
