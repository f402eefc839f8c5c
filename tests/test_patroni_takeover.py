"""Patroni's leader key and a change of leader, without a lab: etcd's answers, the alarm,
the events in order and the loss estimate's words. The lab test is test_patroni_failover.py."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import replace

import pytest

from console.cli.events import as_json, line
from console.events import Event, changes, standing
from console.patroni_watch import PatroniWatch
from console.probes import etcd
from console.probes.http import Run
from console.probes.patroni import summary
from console.state.patroni import DcsMember, PatroniMember, PatroniView
from console.state.patroni_alarms import patroni_alarms
from console.state.patroni_leader import LeaderKey, Takeover, forked, told
from console.state.wording import alarm
from screens import rows
from tests.support.patroni_parts import INV, answered, state_with
from tests.support.verdict_parts import db

KEY = "/service/site/leader"
LEASE = "7587869"


def _etcd(holder: bytes | None, ttl: str | None = "17", granted: str = "20") -> Run:
    """A `run` answering etcd's range and timetolive as etcd 3.4's JSON gateway does."""

    async def run(command: str) -> str:
        if "/v3/kv/range" in command:
            kvs = (
                []
                if holder is None
                else [{"value": base64.b64encode(holder).decode(), "lease": LEASE}]
            )
            return answered(
                json.dumps({"header": {}, **({"kvs": kvs, "count": "1"} if kvs else {})})
            )
        assert "/v3/lease/timetolive" in command and LEASE in command
        fields = {"ID": LEASE, **({"TTL": ttl} if ttl is not None else {}), "grantedTTL": granted}
        return answered(json.dumps(fields))

    return run


def _key(run: Run) -> LeaderKey:
    return asyncio.run(etcd.probe_leader_key(run, "http://127.0.0.1:2379", KEY, 100.0))


def test_the_leader_key_names_its_holder_and_the_seconds_its_lease_has_left() -> None:
    assert _key(_etcd(b"db1")) == LeaderKey("db1", 17, 20, 100.0)
    assert etcd.leader_key("/service/", "site") == KEY
    assert etcd.leader_key("hotspare", "lab") == "/hotspare/lab/leader"


def test_no_key_and_a_lease_run_out_both_mean_no_holder() -> None:
    assert _key(_etcd(None)).holder is None
    # etcd's gateway leaves out a TTL of 0, and says -1 for a lease it no longer has.
    assert _key(_etcd(b"db1", ttl=None)).holder is None
    assert _key(_etcd(b"db1", ttl="-1")).holder is None


@pytest.mark.parametrize("holder", [b"db1\x1b[2J", b"\xff\xfe", b""])
def test_a_hostile_or_broken_holder_is_a_problem_not_a_name(holder: bytes) -> None:
    key = _key(_etcd(holder))
    assert key.holder is None and key.problem is not None and "\x1b" not in key.problem


def test_etcd_not_answering_is_said_with_the_key_to_check() -> None:
    async def run(command: str) -> str:
        return answered("", status=0, exit=7)

    key = _key(run)
    assert key.holder is None and "dcs_url" in (key.problem or ""), key


def test_a_key_renewed_within_its_loop_is_fine_and_one_left_to_run_out_is_an_alarm() -> None:
    renewed, late = LeaderKey("db1", 18, 20, 100.0), LeaderKey("db1", 13, 20, 100.0)
    assert renewed.unrenewed(2) is None and late.unrenewed(2) == 7
    assert LeaderKey("db1", 21, 30, 100.0).unrenewed(None) is None  # within Patroni's default 10
    alarms = patroni_alarms(_view("db1", key=late), (), 100.0, {})
    assert [a.code for a in alarms] == ["patroni-leader-key-expiring"]
    assert "expires in 13 s" in alarms[0].message and alarms[0].subject == ("db1",)
    assert patroni_alarms(_view("db1", key=renewed), (), 100.0, {}) == []


TAKEN = Takeover("db2", "db1", 5, "0/40269B0", None, False, "0/40268F8", 99.0, 100.0, 120.0, 4)


def test_a_takeover_after_a_death_says_from_when_commits_are_at_risk() -> None:
    said = told(TAKEN)
    assert said.startswith("leads timeline 5 from 0/40269B0; db1's Patroni had stopped")
    assert "all of that is in db2's history" in said and "after 00:01:39.0 may be lost" in said
    short = replace(TAKEN, old_lsn="0/4027000")
    assert short.unreceived == 0x4027000 - 0x40269B0
    assert "1.6kB of that never reached db2" in told(short)
    assert "nothing it acknowledged is lost" in told(replace(TAKEN, demoted=True))
    assert replace(TAKEN, demoted=True).at_risk_from is None and TAKEN.at_risk_from == 99.0
    early = replace(TAKEN, timeline=None, fork_lsn=None)
    assert told(early).startswith("leads a new timeline;") and "of that" not in told(early)
    assert forked(TAKEN) == (
        "timeline 5 began at 0/40269B0; db1 was last seen writing at 0/40268F8: "
        "all of that is in db2's history"
    )


def test_the_events_tell_the_key_expiring_the_election_the_old_leader_gone_and_fenced() -> None:
    views = [
        _view("db1", key=LeaderKey("db1", 18, 20, 1.0)),
        _view("db1", key=LeaderKey("db1", 3, 20, 2.0)),
        _view(None, key=LeaderKey(None, None, None, 3.0), members=("db2", "db3")),
        _view("db2", key=LeaderKey("db2", 19, 20, 4.0), members=("db2", "db3"), takeover=TAKEN),
        _view("db2", key=LeaderKey("db2", 19, 20, 5.0), takeover=TAKEN, replica_state="stopped"),
    ]
    said = []
    for before, after in itertools.pairwise(views):
        said += [(e.subject, e.text) for e in changes(state_with(before), state_with(after))]
    texts = [f"{subject}: {text}" for subject, text in said]
    assert texts[0] == "db1: Patroni's leader key expired: no leader until the replicas elect one"
    assert texts[1].startswith("db1: left Patroni's members")
    assert texts[2] == "db2: took Patroni's leader key: elected"
    assert texts[3].startswith("db2: leads timeline 5 from 0/40269B0")
    assert texts[4].startswith("db1: back among Patroni's members as a replica of db2 (stopped)")
    assert "fenced" in texts[4] and len(texts) == 5


def test_an_election_within_one_refresh_says_the_old_key_expired() -> None:
    before = _view("db1", key=LeaderKey("db1", 2, 20, 1.0))
    after = _view("db2", key=LeaderKey("db2", 19, 20, 2.0))
    texts = [e.text for e in changes(state_with(before), state_with(after))]
    assert "took Patroni's leader key: elected once db1's expired" in texts


def test_a_switchover_says_the_key_moved_and_the_old_leader_was_demoted() -> None:
    before = _view("db1", key=LeaderKey("db1", 18, 20, 1.0))
    handed = replace(TAKEN, demoted=True)
    after = _view("db2", key=LeaderKey("db2", 19, 20, 2.0), takeover=handed)
    texts = [e.text for e in changes(state_with(before), state_with(after))]
    assert "took Patroni's leader key from db1" in texts
    assert any(t.startswith("now a replica: Patroni demoted it") for t in texts), texts


def test_the_watch_remembers_the_old_leader_and_asks_the_history_where_it_forked() -> None:
    history: list[list[object]] = [[3, 100, "no recovery target specified", "T1", "db1"]]
    leader = ["db1"]

    async def run(command: str) -> str:
        if "/cluster" in command:
            return answered(json.dumps(_cluster(leader[0])))
        if "/history" in command:
            return answered(json.dumps(history))
        return answered("{}")

    dbs = tuple(replace(d, dcs_url=None) for d in INV.databases)
    watch = PatroniWatch(dbs)
    asyncio.run(watch.read(dbs[0].box, run, 10.0))
    watch.observe((db("db1", current_lsn="0/9000000", observed_at=11.0), db("db2", "standby")))
    assert _taken(watch, 12.0) is None  # the leader found on starting
    watch.observe((db("db1", None, observed_at=12.5), db("db2", "standby")))
    leader[0] = "db2"
    asyncio.run(watch.read(dbs[0].box, run, 20.0))
    taken = _taken(watch, 20.0)
    assert taken is not None and (taken.old, taken.new, taken.fork_lsn) == ("db1", "db2", None)
    assert (taken.old_lsn, taken.old_seen_at, taken.old_gone_at) == ("0/9000000", 11.0, 12.5)
    history.append([4, 0x9000100, "no recovery target specified", "T2", "db2"])
    asyncio.run(watch.read(dbs[0].box, run, 21.0))
    taken = _taken(watch, 21.0)
    assert taken is not None and (taken.timeline, taken.fork_lsn, taken.elected) == (
        5,
        "0/9000100",
        "T2",
    )
    assert taken.unreceived == 0 and not taken.demoted


def _taken(watch: PatroniWatch, now: float) -> Takeover | None:
    view = watch.current(now, 5.0, ())
    assert view is not None
    return view.takeover


def _cluster(leader: str) -> dict[str, object]:
    """db1 leading db2; or, once db1 has died, db2 leading alone."""
    roles = {"db1": "leader", "db2": "replica"} if leader == "db1" else {"db2": "leader"}
    return {
        "members": [
            {"name": n, "role": r, "state": "running", "timeline": 4, "lag": 0}
            for n, r in roles.items()
        ]
    }


def _view(
    leader: str | None,
    key: LeaderKey | None = None,
    members: tuple[str, ...] = ("db1", "db2", "db3"),
    takeover: Takeover | None = None,
    replica_state: str = "streaming",
) -> PatroniView:
    found = tuple(
        PatroniMember(
            n,
            "leader" if n == leader else "replica",
            "running" if n == leader else replica_state if n == "db1" else "streaming",
            None,
            None,
            5,
            None if n == leader else 0,
        )
        for n in members
    )
    return PatroniView(
        found, False, None, 100.0, loop_wait=2, ttl=20, leader_key=key, takeover=takeover
    )


def test_the_panel_says_a_leader_not_renewing_its_key_and_a_member_s_etcd_not_healthy() -> None:
    late = _view("db1", key=LeaderKey("db1", 9, 20, 100.0))
    assert "leader db1 NOT RENEWING its key (11s), expires in 9s" in summary(late, 200)
    assert "NOT RENEWING" not in summary(_view("db1", key=LeaderKey("db1", 19, 20, 100.0)), 200)
    dcs = (DcsMember("db1", "http://a:2379", True), DcsMember("db2", "http://b:2379", None, "x"))
    state = state_with(replace(late, dcs=dcs))
    link = {name: rows.db_row(d, state)[5].plain for d in state.databases for name in [d.name]}
    assert link["db2"].startswith("etcd ✗ · ") and "etcd" not in link["db1"], link


def test_events_print_one_safe_line_each_and_a_watch_begins_with_the_standing_alarms() -> None:
    hostile = Event(0.0, "web1\x1b[2J", "said\nALARM fake", "warning")
    text = line(hostile)
    assert text.startswith("00:00:00 WARNING web1") and "\n" not in text and "\x1b" not in text
    assert json.loads(as_json(hostile))["text"] == "said\nALARM fake"  # JSON keeps it exact
    raised = alarm("node-unhealthy", "warning", ["web2"], "web2: health check answered 503")
    now = replace(state_with(None), alarms=(raised,))
    (event,) = standing(now)
    assert (event.subject, event.text, event.level) == (
        "web2",
        "ALARM web2: health check answered 503",
        "warning",
    )
