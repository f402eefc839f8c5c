"""The alarms of a Patroni-managed cluster: Patroni's view against PostgreSQL's. Pure, no I/O.

A paused Patroni (maintenance mode) is the operator's plan, not an alarm:
the banner says PATRONI PAUSED, as it says the site mode.

Patroni says who leads; each PostgreSQL says whether it is in recovery. The
two are read a moment apart, so during a switchover they may disagree for
one refresh: a disagreement is an alarm only once it has held for a while
(the monitor keeps since when; `disagreements` names them).
"""

from __future__ import annotations

from collections.abc import Mapping

from console.state.model import Alarm, DatabaseState
from console.state.patroni import LEADER_ROLES, PatroniView
from console.state.wording import alarm
from console.state.wording import joined as _and


def disagreements(view: PatroniView | None, dbs: tuple[DatabaseState, ...]) -> dict[str, str]:
    """Where Patroni and PostgreSQL disagree on a member's role: member -> what each says."""
    if view is None or view.problem is not None:
        return {}
    found: dict[str, str] = {}
    for db in dbs:
        member = view.member(db.name)
        if member is None or db.role is None:
            continue
        leads = member.role in LEADER_ROLES
        if leads and db.role == "standby" and member.role == "leader":
            found[db.name] = (
                f"Patroni says {db.name} leads, but its PostgreSQL is in recovery (a standby): "
                "nothing takes writes there; Patroni may be stuck promoting it (its log says why)"
            )
        elif not leads and db.role == "primary":
            found[db.name] = (
                f"{db.name} is a primary out of recovery, but Patroni has it as {member.role}: "
                "a primary Patroni does not know of is how split brain starts; "
                "stop that PostgreSQL or let Patroni rejoin it"
            )
    return found


def patroni_alarms(
    view: PatroniView | None,
    dbs: tuple[DatabaseState, ...],
    now: float,
    held: Mapping[str, str],
) -> list[Alarm]:
    """Alarms from Patroni's view of the cluster; HELD: the disagreements that have lasted."""
    if view is None or view.problem is not None:
        return []
    alarms = [alarm("patroni-disagrees", "critical", [name], said) for name, said in held.items()]
    if not view.leaders:
        states = ", ".join(f"{m.name} {m.state or m.role}" for m in view.members) or "no member"
        message = f"Patroni names no leader ({states}): nothing takes writes until it elects one"
        alarms.append(
            alarm("patroni-no-leader", "critical", [m.name for m in view.members], message)
        )
    missing = [db.name for db in dbs if view.member(db.name) is None]
    if missing:
        message = (
            f"Patroni does not list {_and(missing)}: its Patroni is down or cannot reach the DCS "
            "(its member key expired), so it can neither be chosen nor follow"
        )
        alarms.append(alarm("patroni-member-missing", "warning", missing, message))
    alarms += _dcs_alarms(view)
    alarms += _leader_key_alarms(view)
    ttl = view.effective_ttl
    if view.dcs_last_seen is not None and ttl is not None and now - view.dcs_last_seen > ttl:
        who = view.reader or "the Patroni asked"
        message = (
            f"Patroni on {who} last reached the DCS (etcd) {now - view.dcs_last_seen:.0f} s ago, "
            f"longer than the ttl ({ttl} s): without it a leader demotes itself and nobody "
            "can be elected; check etcd's members and quorum"
        )
        alarms.append(alarm("patroni-dcs", "critical", [who], message))
    return alarms


def _dcs_alarms(view: PatroniView) -> list[Alarm]:
    """etcd's members as the db boxes see them: one lost is a warning, the quorum critical."""
    unhealthy = [m for m in view.dcs if not m.healthy]
    if not unhealthy:
        return []
    said = "; ".join(f"{m.name}: {m.detail or 'not healthy'}" for m in unhealthy)
    healthy, total = len(view.dcs) - len(unhealthy), len(view.dcs)
    names = [m.name for m in unhealthy]
    if view.dcs_quorum:
        message = (
            f"etcd: {len(unhealthy)} of {total} members not seen healthy ({said}); it keeps "
            f"its quorum with {healthy}: one more lost and Patroni can neither keep nor "
            "elect a leader"
        )
        return [alarm("etcd-member-down", "warning", names, message)]
    kept = (
        "failsafe_mode is on: the leader keeps running while it reaches every member"
        if view.failsafe
        else "the leader demotes itself (failsafe_mode is off) and nobody can be elected: "
        "the site takes no writes until etcd has its quorum back"
    )
    message = f"etcd has lost its quorum: {healthy} of {total} members healthy ({said}); {kept}"
    return [alarm("etcd-no-quorum", "critical", names, message)]


def _leader_key_alarms(view: PatroniView) -> list[Alarm]:
    """The leader's lock running out: its Patroni no longer renews it (it died or hangs)."""
    key = view.leader_key
    if key is None or key.problem is not None or key.holder is None:
        return []
    since = key.unrenewed(view.loop_wait)
    if since is None:
        return []
    message = (
        f"{key.holder} has not renewed Patroni's leader key for {since} s (it renews every "
        f"{view.loop_wait or 10} s): the key expires in {key.expires_in} s, then the replicas "
        f"elect a new leader unless {key.holder}'s Patroni renews it first"
    )
    return [alarm("patroni-leader-key-expiring", "warning", [key.holder], message)]
