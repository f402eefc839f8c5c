"""Keepalive's judgement (console/keepalive.py), snapshot by snapshot, without a lab.

What must hold: a miss is counted only on a fresh probe of the node's box;
the restart comes after `probes` misses in a row, one node at a time, never
for the last node ready on the balancer, at most once per node in
`min_interval`; a node that answers again starts its count from zero.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from console import inventory
from console.inventory import Hooks, Keepalive
from console.keepalive import Watch
from console.state.model import ClusterState
from tests.support.verdict_parts import INV, balancer, box, cluster_state, node, server

ON = Keepalive(enabled=True, limit=1.0, probes=3, min_interval=600)
INV_ON = replace(INV, keepalive=ON, hooks=Hooks(None, None, restart="/bin/site-restart"))


def hung(at: float, name: str = "web2", **changes: object) -> ClusterState:
    """The site at AT with NAME's health check timing out (a probe of that moment)."""
    nodes = tuple(
        node(
            n,
            observed_at=at,
            health_status=None,
            health_latency_ms=None,
            health_problem="timed out",
        )
        if n == name
        else node(n, observed_at=at)
        for n in ("web1", "web2", "web3")
    )
    return cluster_state(taken_at=at, nodes=nodes, **changes)


def test_three_misses_in_a_row_restart_the_node_and_an_answer_resets_the_count() -> None:
    watch = Watch(ON)
    assert watch.judge(INV_ON, hung(100))[0] is None
    assert watch.judge(INV_ON, hung(102))[0] is None
    # It answers once: the count starts again.
    assert watch.judge(INV_ON, cluster_state(taken_at=104, nodes=_fresh(104)))[0] is None
    assert watch.judge(INV_ON, hung(106))[0] is None
    assert watch.judge(INV_ON, hung(108))[0] is None
    decision, said = watch.judge(INV_ON, hung(110))
    assert decision is not None and decision.node == "web2" and said == []
    assert decision.why == "its health check has not answered within 1 s for 3 probes in a row"


def test_a_slow_answer_counts_as_none() -> None:
    watch = Watch(ON)
    for at in (100, 102, 104):
        slow = tuple(
            node(n, observed_at=at, health_latency_ms=1500.0 if n == "web1" else 3.0)
            for n in ("web1", "web2", "web3")
        )
        decision, _ = watch.judge(INV_ON, cluster_state(taken_at=at, nodes=slow))
    assert decision is not None and decision.node == "web1"


def test_the_same_probe_seen_again_or_a_stale_box_counts_nothing() -> None:
    watch = Watch(ON)
    watch.judge(INV_ON, hung(100))
    for taken in (102, 104, 106):  # the monitor's snapshots, but no new probe of web2
        state = replace(hung(100), taken_at=taken)
        assert watch.judge(INV_ON, state)[0] is None
    boxes = tuple(box(b.name, stale=b.name == "web2") for b in INV.boxes)
    for at in (108, 110, 112):
        assert watch.judge(INV_ON, hung(at, boxes=boxes))[0] is None
    assert watch.misses["web2"] == 1


def test_never_the_last_ready_node() -> None:
    watch = Watch(ON)
    alone = balancer(
        server("web1", "drain"), server("web2", "ready", "DOWN"), server("web3", "maint", "MAINT")
    )
    said: list[str] = []
    for at in (100, 102, 104, 106):
        decision, told = watch.judge(INV_ON, hung(at, balancer=alone))
        assert decision is None
        said += told
    assert said == [
        "keepalive holds back on web2: no other node is ready and up on the balancer: "
        "it stays as it is"
    ]


def test_once_per_node_in_min_interval_and_one_node_at_a_time() -> None:
    watch = Watch(ON)
    for at in (100, 102):
        watch.judge(INV_ON, hung(at))
    decision, _ = watch.judge(INV_ON, hung(104))
    assert decision is not None
    watch.started("web2", 104)
    assert watch.judge(INV_ON, hung(106))[0] is None  # busy: nothing else starts
    watch.ended("web2")
    for at in (108, 110):
        assert watch.judge(INV_ON, hung(at))[0] is None
    decision, said = watch.judge(INV_ON, hung(112))
    assert decision is None
    assert said == ["keepalive holds back on web2: restarted 8 s ago; not again for 592 s"]
    for at in (704, 706):
        watch.judge(INV_ON, hung(at))
    assert watch.judge(INV_ON, hung(708))[0] is not None


def test_off_unless_cluster_yaml_says_so_and_only_with_a_way_to_restart() -> None:
    off = Watch(Keepalive())
    for at in (100, 102, 104, 106):
        assert off.judge(INV, hung(at))[0] is None
    nothing = Watch(ON)  # INV names no supervisor and no restart hook
    said: list[str] = []
    for at in (100, 102, 104):
        decision, told = nothing.judge(replace(INV, keepalive=ON), hung(at))
        assert decision is None
        said += told
    assert said == [
        "keepalive holds back on web2: cluster.yaml names no supervisor for it and no restart hook"
    ]


def _fresh(at: float) -> tuple[object, ...]:
    return tuple(node(n, observed_at=at) for n in ("web1", "web2", "web3"))


MINIMAL = """\
version: 1
cluster: {name: x, environment: {label: t, colour: red}}
boxes: {a: {address: 127.0.0.1}}
"""


def test_cluster_yaml_turns_it_on_and_bad_values_are_named(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(MINIMAL)
    assert inventory.load(path).keepalive == Keepalive()
    path.write_text(MINIMAL + "keepalive: {enabled: true, probes: 5}\n")
    assert inventory.load(path).keepalive == Keepalive(enabled=True, probes=5)
    path.write_text(MINIMAL + "keepalive: {enabled: maybe, limit: 5, probes: 1, bogus: 2}\n")
    with pytest.raises(inventory.InventoryError) as raised:
        inventory.load(path)
    said = str(raised.value)
    assert "keepalive.enabled" in said
    assert (
        "keepalive.limit: found 5 (a whole number); expected a number of seconds from 0.1 to 2"
        in said
    )
    assert (
        "keepalive.probes: found 1 (a whole number); expected a whole number from 2 to 100" in said
    )
    assert "keepalive.bogus: unknown key 'bogus'" in said
