"""A snapshot to JSON and back (console/state/codec.py): the very state it was, or why not.

Snapshots will leave their process (a shared monitor, a history on disk), so
every part of the model must survive the trip: Patroni's view with its leader
key and a takeover, the action lock and an upgrade's record among them; and
a document changed on the way is refused at the field that is wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from console.lab.layout import LabLayout
from console.state import codec
from console.state.model import ClusterState
from console.state.patroni import DcsMember, ScheduledSwitchover
from console.state.patroni_leader import LeaderKey, Takeover
from tests.support.patroni_parts import view
from tests.support.verdict_parts import cluster_state
from tests.test_runbook_units import book, held


def _trip(state: ClusterState) -> ClusterState:
    return codec.decode(json.loads(json.dumps(codec.encode(state))))


def _everything() -> ClusterState:
    patroni = replace(
        view("healthy"),
        scheduled_switchover=ScheduledSwitchover("2026-12-07T15:00:00+00:00", "db1", "db2"),
        dcs=(DcsMember("db1", "http://a:2379", True), DcsMember("db2", "http://b:2379", None, "x")),
        scope="site",
        leader_key=LeaderKey("db1", 17, 20, 99.0),
        takeover=Takeover("db1", "db2", 5, "0/5000A0", "T", False, "0/5000", 9.0, 10.0, 20.0, 4),
        ttl=20,
        loop_wait=2,
    )
    return replace(cluster_state(), patroni=patroni, action=held(), runbook=book())


def test_every_part_of_a_snapshot_comes_back_as_it_was() -> None:
    for state in (cluster_state(), _everything()):
        assert _trip(state) == state


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.update(schema="hotspare.status/9"), "schema 'hotspare.status/9'"),
        (lambda d: d["databases"][0].update(timeline="3"), "databases[0].timeline: int expected"),
        (lambda d: d["databases"][1].update(role="leader"), "databases[1].role: 'leader' is not"),
        (lambda d: d["boxes"][0].pop("stale"), "boxes[0].stale: missing"),
        (lambda d: d["verdicts"].update(surprise=1), "verdicts: unknown field 'surprise'"),
        (lambda d: d.update(alarms={}), "alarms: a list, not an object"),
        (lambda d: d["patroni"]["members"][0].update(lag=True), "patroni.members[0].lag: int"),
        (lambda d: d.update(taken_at="now"), "taken_at: float expected, not text"),
    ],
)
def test_a_document_changed_on_the_way_is_refused_where_it_is_wrong(change: Any, said: str) -> None:
    document = json.loads(json.dumps(codec.encode(_everything())))
    change(document)
    with pytest.raises(codec.SnapshotError) as raised:
        codec.decode(document)
    assert said in str(raised.value), raised.value


def test_what_is_not_an_object_is_not_a_snapshot() -> None:
    documents: tuple[object, ...] = ([], "text", None, 3)
    for document in documents:
        with pytest.raises(codec.SnapshotError, match="a snapshot is a JSON object"):
            codec.decode(document)


@pytest.mark.lab
def test_the_labs_status_json_reads_back_to_the_same_document(lab: LabLayout) -> None:
    argv = [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file)]
    done = subprocess.run([*argv, "status", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1, 2), done.stderr
    document = json.loads(done.stdout)
    state = codec.decode(document)
    assert state.balancer is not None and len(state.databases) == 2
    assert json.loads(json.dumps(codec.encode(state))) == document
