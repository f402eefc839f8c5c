"""Timeline events drawn from two snapshots."""

from __future__ import annotations

from dataclasses import replace

from console.events import changes
from tests.support.verdict_parts import INV, balancer, box, cluster_state, db, node, server


def _texts(before: object, after: object) -> list[str]:
    return [f"{e.subject}: {e.text}" for e in changes(before, after)]  # type: ignore[arg-type]


def test_a_steady_site_makes_no_event() -> None:
    assert _texts(cluster_state(), cluster_state(taken_at=101.0)) == []


def test_the_first_snapshot_tells_only_what_is_not_answering() -> None:
    boxes = tuple(box(b.name, stale=b.name == "db2", reason="refused") for b in INV.boxes)
    events = changes(None, cluster_state(boxes=boxes))
    assert [(e.subject, e.text, e.level) for e in events] == [
        ("db2", "not answering: refused", "warning")
    ]


def test_a_server_going_down_and_being_drained() -> None:
    after = cluster_state(
        balancer=balancer(
            server("web1"), server("web2", "drain", "DOWN"), server("web3", "maint", "MAINT")
        )
    )
    texts = _texts(cluster_state(), after)
    assert "web2: balancer: ready -> drain" in texts
    assert any(t.startswith("web2: balancer: UP -> DOWN") for t in texts)


def test_a_box_going_stale_and_coming_back() -> None:
    stale = tuple(box(b.name, stale=b.name == "web2", reason="hung") for b in INV.boxes)
    went = _texts(cluster_state(), cluster_state(boxes=stale))
    assert "web2: went STALE: hung" in went
    assert "web2: answers again" in _texts(cluster_state(boxes=stale), cluster_state())


def test_a_promotion_and_a_moved_scheduler_are_told() -> None:
    promoted = (db("db1"), db("db2", timeline=2))
    nodes = (node("web1", scheduler=False), node("web2", scheduler=True), node("web3"))
    texts = _texts(cluster_state(), cluster_state(databases=promoted, nodes=nodes))
    assert "db2: role standby -> primary" in texts
    assert "web1: gave up the scheduler role" in texts
    assert "web2: took the scheduler role" in texts
    assert any("ALARM" in t and "split" in t.lower() for t in texts)


def test_a_cleared_alarm_is_told() -> None:
    two = cluster_state(databases=(db("db1"), db("db2")))
    texts = _texts(two, replace(cluster_state(), taken_at=101.0))
    # Said in words (the alarm's own message), not by its code.
    assert any(": cleared: no longer:" in t and "primar" in t for t in texts)
    assert not any(t.endswith("cleared: split-brain") for t in texts)
