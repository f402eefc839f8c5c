"""Patroni's view against PostgreSQL's: the alarms of a Patroni-managed cluster (pure)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from console.probes.patroni import probe_dcs, summary
from console.state.model import Alarm
from console.state.patroni import DcsMember
from console.state.patroni_alarms import disagreements, patroni_alarms
from tests.support.patroni_parts import answered, view
from tests.support.verdict_parts import db

AGREE = (db("db1"), db("db2", "standby"))


def _codes(alarms: list[Alarm]) -> list[str]:
    return [a.code for a in alarms]


def test_a_healthy_cluster_where_both_agree_has_no_alarm() -> None:
    seen = view("healthy")
    assert disagreements(seen, AGREE) == {}
    assert patroni_alarms(seen, AGREE, 100.0, {}) == []


def test_a_leader_in_recovery_and_a_primary_patroni_calls_a_replica_are_disagreements() -> None:
    seen = view("healthy")  # db1 leader, db2 replica
    found = disagreements(seen, (db("db1", "standby"), db("db2")))
    assert set(found) == {"db1", "db2"}
    assert "Patroni says db1 leads, but its PostgreSQL is in recovery" in found["db1"]
    assert "db2 is a primary out of recovery, but Patroni has it as replica" in found["db2"]
    assert "split brain" in found["db2"]
    # Only what the monitor says has lasted is raised, as critical.
    alarms = patroni_alarms(seen, AGREE, 100.0, {"db2": found["db2"]})
    assert [(a.code, a.severity, a.subject) for a in alarms] == [
        ("patroni-disagrees", "critical", ("db2",))
    ]


def test_a_member_postgresql_does_not_answer_for_is_no_disagreement() -> None:
    assert disagreements(view("healthy"), (db("db1", None), db("db2", None))) == {}


def test_no_leader_and_a_member_patroni_does_not_list_are_alarms() -> None:
    seen = view("no_leader")
    alarms = patroni_alarms(seen, (*AGREE, db("db3", "standby")), 100.0, {})
    assert "patroni-no-leader" in _codes(alarms)
    (missing,) = [a for a in alarms if a.code == "patroni-member-missing"]
    assert missing.severity == "warning" and missing.subject == ("db3",)
    assert "Patroni does not list db3" in missing.message


def test_patroni_that_has_not_reached_the_dcs_for_longer_than_the_ttl_is_critical() -> None:
    seen = replace(view("healthy"), reader="db1", dcs_last_seen=1000.0, ttl=10)
    assert patroni_alarms(seen, AGREE, 1019.0, {}) == []  # within the effective ttl (20)
    (alarm,) = patroni_alarms(seen, AGREE, 1025.0, {})
    assert (alarm.code, alarm.severity) == ("patroni-dcs", "critical")
    assert "Patroni on db1 last reached the DCS (etcd) 25 s ago" in alarm.message
    assert "ttl (20 s)" in alarm.message


def test_a_paused_patroni_is_no_alarm_and_an_unread_view_raises_none_here() -> None:
    assert patroni_alarms(view("paused_scheduled"), AGREE, 100.0, {}) == []
    unread = replace(view("healthy"), problem="no answer for 30 s")
    assert disagreements(unread, (db("db1", "standby"), db("db2"))) == {}
    assert patroni_alarms(unread, AGREE, 100.0, {"db1": "x"}) == []


def _dcs(*healthy: bool | None) -> tuple[DcsMember, ...]:
    return tuple(
        DcsMember(f"db{i}", f"http://10.0.0.{i}:2379", h, "" if h else "no answer")
        for i, h in enumerate(healthy, 1)
    )


def test_etcd_losing_one_member_of_three_is_a_warning_and_its_quorum_critical() -> None:
    one = replace(view("healthy"), dcs=_dcs(True, True, None))
    (alarm,) = patroni_alarms(one, AGREE, 100.0, {})
    assert (alarm.code, alarm.severity, alarm.subject) == ("etcd-member-down", "warning", ("db3",))
    assert "1 of 3 members not seen healthy (db3: no answer)" in alarm.message
    assert "etcd 2/3 ·" in summary(one) + " ·"
    two = replace(view("healthy"), dcs=_dcs(False, True, None))
    (alarm,) = patroni_alarms(two, AGREE, 100.0, {})
    assert (alarm.code, alarm.severity) == ("etcd-no-quorum", "critical")
    assert "1 of 3 members healthy" in alarm.message and "leader demotes itself" in alarm.message
    assert "etcd 1/3 NO QUORUM" in summary(two)
    failsafe = replace(two, failsafe=True)
    assert "failsafe_mode is on" in patroni_alarms(failsafe, AGREE, 100.0, {})[0].message
    assert patroni_alarms(replace(two, dcs=_dcs(True, True, True)), AGREE, 100.0, {}) == []


@pytest.mark.parametrize(
    ("output", "healthy", "says"),
    [
        (answered('{"health":"true"}'), True, ""),
        (answered('{"health":"false"}', 503), False, "says it is not healthy"),
        (answered('{"health":"false","reason":"RAFT NO LEADER"}', 503), False, "RAFT NO LEADER"),
        (answered("", 0, exit=28), None, "did not answer"),
        (answered("<html>\x1b[2J", 200), None, "without its health word"),
    ],
)
def test_etcds_health_answer_is_read_and_anything_else_is_unknown(
    output: str, healthy: bool | None, says: str
) -> None:
    async def run(command: str) -> str:
        assert "http://10.0.0.1:2379/health" in command and "--max-time 2" in command
        return output

    member = asyncio.run(probe_dcs(run, "db1", "http://10.0.0.1:2379"))
    assert (member.name, member.healthy) == ("db1", healthy)
    assert says in member.detail and "\x1b" not in member.detail
