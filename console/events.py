"""What changed between two snapshots, as timeline events for the operator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from console.state.model import Alarm, ClusterState, Severity
from console.state.patroni import LEADER_ROLES, REPLICA_ROLES, PatroniMember
from console.state.patroni_leader import Takeover, forked, told

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
        *_patroni(before, after),
        *_nodes(before, after),
        *_site(before, after),
    ]
    return tuple(Event(after.taken_at, subject, text, level) for subject, text, level in found)


def standing(state: ClusterState) -> tuple[Event, ...]:
    """What is wrong in STATE already, as events: a watch that begins mid-incident says so."""
    return tuple(
        Event(state.taken_at, ", ".join(a.subject) or "site", f"ALARM {a.message}", a.severity)
        for a in state.alarms
    )


Change = tuple[str, str, Level]


Transition = Literal["raised", "cleared", "severity-changed"]
AlarmKey = tuple[str, tuple[str, ...]]


def alarm_key(alarm: Alarm) -> AlarmKey:
    """What makes an alarm the same one from snapshot to snapshot: its code and subject.

    Its message may change (a lag that grows) without it being another alarm.
    """
    return alarm.code, alarm.subject


@dataclass(frozen=True)
class AlarmChange:
    """An alarm raised, cleared or changed in severity between two snapshots.

    ``alarm`` is the alarm as it is now (as it last was, for a cleared one);
    ``previous`` its severity before a severity change, else None.
    """

    transition: Transition
    alarm: Alarm
    previous: Severity | None = None


def alarm_changes(before: ClusterState | None, after: ClusterState) -> tuple[AlarmChange, ...]:
    """The alarm transitions from BEFORE to AFTER: raised and changed first, then cleared.

    Without BEFORE, every alarm of AFTER is raised.
    """
    old = {alarm_key(a): a for a in (before.alarms if before is not None else ())}
    new = {alarm_key(a): a for a in after.alarms}
    found: list[AlarmChange] = []
    for key, alarm in new.items():
        was = old.get(key)
        if was is None:
            found.append(AlarmChange("raised", alarm))
        elif was.severity != alarm.severity:
            found.append(AlarmChange("severity-changed", alarm, was.severity))
    found.extend(AlarmChange("cleared", a) for key, a in old.items() if key not in new)
    return tuple(found)


def _alarms(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    for change in alarm_changes(before, after):
        alarm = change.alarm
        if change.transition == "raised":
            yield ", ".join(alarm.subject) or "site", f"ALARM {alarm.message}", alarm.severity
        elif change.transition == "cleared":
            yield ", ".join(alarm.subject) or "site", f"cleared: {cleared(alarm)}", "info"


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
    "patroni-leader-key-expiring": "the leader key is renewed again, or held by another",
}


def cleared(alarm: Alarm) -> str:
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


def _patroni(before: ClusterState, after: ClusterState) -> Iterator[Change]:
    """Patroni's story: the leader key expiring and taken, members leaving and coming back
    (a former leader as a replica: Patroni kept it from writing), a new leader and what the
    change may have cost."""
    old, new = before.patroni, after.patroni
    if old is None or new is None or old.problem is not None or new.problem is not None:
        return
    was, now = old.leader_key, new.leader_key
    if was and now and was.problem is None and now.problem is None and was.holder != now.holder:
        if now.holder is None:
            text = "Patroni's leader key expired: no leader until the replicas elect one"
            yield was.holder or "patroni", text, "critical"
        elif was.holder is not None and was.unrenewed(old.loop_wait) is not None:
            text = f"took Patroni's leader key: elected once {was.holder}'s expired"
            yield now.holder, text, "info"
        else:
            took = f" from {was.holder}" if was.holder else ": elected"
            yield now.holder, f"took Patroni's leader key{took}", "info"
    members = {m.name: m for m in old.members}
    for m in new.members:
        prior = members.pop(m.name, None)
        if prior is None:
            yield m.name, _back(m, new.takeover), "info"
        elif prior.role in LEADER_ROLES and m.role in REPLICA_ROLES:
            text = f"now a replica: Patroni demoted it and keeps it from writing ({m.state or '?'})"
            yield m.name, text, "info"
    for name in members:
        text = "left Patroni's members: its Patroni no longer renews its key (stopped or cut off)"
        yield name, text, "warning"
    yield from _takeover(old.takeover, new.takeover)


def _takeover(was: Takeover | None, now: Takeover | None) -> Iterator[Change]:
    """A new leader, and what its coming may have cost; where its timeline began, once
    Patroni's history has it (a moment after the promotion)."""
    if now is None or now == was:
        return
    level: Level = "info" if now.demoted or now.old is None else "warning"
    if was is not None and (was.new, was.seen_at) == (now.new, now.seen_at):
        if was.fork_lsn is None and now.fork_lsn is not None:
            yield now.new, forked(now), level
        return
    yield now.new, told(now), level


def _back(member: PatroniMember, takeover: Takeover | None) -> str:
    """A member back among Patroni's members, in words: a former leader said fenced."""
    state = member.state or "?"
    if takeover is not None and takeover.old == member.name and member.role in REPLICA_ROLES:
        return (
            f"back among Patroni's members as a replica of {takeover.new} ({state}): Patroni "
            "fenced it (the leader key is another's, so it never writes) and rewinds it to follow"
        )
    return f"back among Patroni's members, as {member.role} ({state})"


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
