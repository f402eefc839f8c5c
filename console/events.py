"""What changed between two snapshots, as timeline events for the operator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from console.state.model import Alarm, ClusterState

Level = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Event:
    """One thing that happened: when (epoch s), to what, and what, in words."""

    at: float
    subject: str
    text: str
    level: Level = "info"


def changes(before: ClusterState | None, after: ClusterState) -> tuple[Event, ...]:
    """The events that lead from BEFORE to AFTER.

    For the first snapshot, only what is already wrong: boxes not answering.
    """
    if before is None:
        return tuple(
            Event(after.taken_at, b.box, f"not answering: {b.reason}", "warning")
            for b in after.boxes
            if b.stale
        )
    found = [
        *_alarms(before, after),
        *_boxes(before, after),
        *_servers(before, after),
        *_databases(before, after),
        *_nodes(before, after),
        *_site(before, after),
    ]
    return tuple(Event(after.taken_at, subject, text, level) for subject, text, level in found)


Change = tuple[str, str, Level]


def _alarms(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    old = {(a.code, a.subject): a for a in before.alarms}
    new = {(a.code, a.subject): a for a in after.alarms}
    for key, alarm in new.items():
        if key not in old:
            yield ", ".join(alarm.subject) or "site", f"ALARM {alarm.message}", alarm.severity
    for key, alarm in old.items():
        if key not in new:
            yield ", ".join(alarm.subject) or "site", f"cleared: {_cleared(alarm)}", "info"


# What it means when an alarm goes, in words; other alarms repeat what they said.
_CLEARED = {
    "node-unhealthy": "{who} is healthy again",
    "backends-down": "{who} serving again",
    "backends-out": "{who} back in service or in a plan again",
    "box-stale": "{who} answers again",
    "sshd-not-answering": "sshd on {who} answers again",
    "balancer-not-answering": "the balancer answers again",
    "site-mode": "the site mode is as planned again",
    "action-running": "the action on {who} has ended",
}


def _cleared(alarm: Alarm) -> str:
    """A cleared ALARM in words: "web2 is healthy again", or "no longer: <its message>"."""
    phrase = _CLEARED.get(alarm.code)
    if phrase is None:
        return f"no longer: {alarm.message}"
    return phrase.format(who=", ".join(alarm.subject) or "the site")


def _boxes(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    old = {b.box: b for b in before.boxes}
    for box in after.boxes:
        was = old.get(box.box)
        if was is None or was.stale == box.stale:
            continue
        if box.stale:
            yield box.box, f"went STALE: {box.reason}", "warning"
        else:
            yield box.box, "answers again", "info"


def _servers(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    if before.balancer is None or after.balancer is None:
        return
    old = {s.name: s for s in before.balancer.servers}
    for s in after.balancer.servers:
        was = old.get(s.name)
        if was is None:
            continue
        if was.admin != s.admin:
            yield s.name, f"balancer: {was.admin} -> {s.admin}", "info"
        if was.operational.split()[0] != s.operational.split()[0]:
            level: Level = "warning" if s.operational.startswith("DOWN") else "info"
            check = f" ({s.check_status} {s.check_code or ''})".rstrip() if s.check_status else ""
            yield s.name, f"balancer: {was.operational} -> {s.operational}{check}", level


def _databases(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    old = {d.name: d for d in before.databases}
    for d in after.databases:
        was = old.get(d.name)
        if was is None:
            continue
        if was.role != d.role:
            level: Level = "warning" if d.role is None else "info"
            yield d.name, f"role {was.role or 'unreachable'} -> {d.role or 'unreachable'}", level
        if was.timeline and d.timeline and was.timeline != d.timeline:
            yield d.name, f"timeline {was.timeline} -> {d.timeline}", "info"
        if was.receiver_status != d.receiver_status and d.role == "standby":
            yield d.name, f"WAL receiver {was.receiver_status} -> {d.receiver_status}", "info"


def _nodes(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    old = {n.name: n for n in before.nodes}
    for n in after.nodes:
        was = old.get(n.name)
        if was is None:
            continue
        if was.role != n.role and n.role is not None:
            yield n.name, f"now {n.role} (was {was.role or 'unknown'})", "info"
        if was.scheduler != n.scheduler and n.scheduler is not None:
            text = "took the scheduler role" if n.scheduler else "gave up the scheduler role"
            yield n.name, text, "info"
        if was.mail != n.mail and n.mail is not None:
            yield n.name, f"mail now {n.mail}", "info"


def _site(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    old, new = before.verdicts, after.verdicts
    if old.site_mode != new.site_mode and new.site_mode is not None:
        until = f" until {new.site_until}" if new.site_until else ""
        yield "site", f"mode {old.site_mode} -> {new.site_mode}{until}", "info"
