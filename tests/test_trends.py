"""The trends' series and their sparklines: rates from counters, restarts, stale data, the ring."""

from __future__ import annotations

from dataclasses import replace

from console.state.model import ClusterState
from console.trends import POINTS, Trends, sparkline
from tests.support.trend_parts import busy
from tests.support.verdict_parts import INV, box, cluster_state, db, nodes_with


def _fed(*states: ClusterState) -> Trends:
    trends = Trends()
    for state in states:
        trends.add(state)
    return trends


def test_5xx_per_second_is_the_counters_difference_over_the_time_between_observations() -> None:
    trends = _fed(busy(0, errors=10), busy(1, errors=14), busy(3, errors=26))
    # No rate at the first observation (nothing to subtract), then 4 in 2 s, 12 in 4 s.
    assert trends.errors() == (None, 2.0, 3.0)


def test_requests_per_second_is_haproxys_own_rate() -> None:
    assert _fed(busy(0, requests=40), busy(1, requests=55)).requests() == (40.0, 55.0)


def test_a_counter_that_goes_down_is_a_restart_a_gap_never_a_negative_rate() -> None:
    trends = _fed(busy(0, errors=50), busy(1, errors=60), busy(2, errors=3), busy(3, errors=5))
    assert trends.errors() == (None, 5.0, None, 1.0)


def test_a_stale_balancer_adds_a_gap_and_the_next_fresh_rate_spans_the_whole_gap() -> None:
    stale_boxes = tuple(box(b.name, stale=b.name == "lb1", age=30.0) for b in INV.boxes)
    stale = replace(busy(2, errors=99), boxes=stale_boxes)
    trends = _fed(busy(0, errors=10), busy(1, errors=12), stale, busy(3, errors=22))
    assert trends.errors() == (None, 1.0, None, 2.5)  # 10 more 5xx in the 4 s from step 1
    assert trends.requests() == (40.0, 40.0, None, 40.0)


def test_a_balancer_whose_haproxy_does_not_answer_adds_a_gap() -> None:
    hung = busy(1)
    assert hung.balancer is not None
    hung = replace(hung, balancer=replace(hung.balancer, problem="HAProxy did not answer"))
    assert _fed(busy(0), hung).requests() == (40.0, None)


def test_the_same_balancer_observation_twice_adds_no_point() -> None:
    again = replace(busy(1), taken_at=104.0)  # a newer snapshot, the same HAProxy reading
    assert _fed(busy(0), busy(1), again).requests() == (40.0, 40.0)


def test_health_latency_per_node_with_a_gap_while_its_box_is_stale() -> None:
    stale_boxes = tuple(box(b.name, stale=b.name == "web2", age=30.0) for b in INV.boxes)
    trends = _fed(busy(0, latency=10.0), replace(busy(1), boxes=stale_boxes))
    assert trends.latency("web1") == (10.0, 20.0)
    assert trends.latency("web2") == (80.0, None)  # eight times web1's in these snapshots


def test_a_nodes_unknown_latency_is_a_gap() -> None:
    trends = _fed(cluster_state(nodes=nodes_with("web3", health_latency_ms=None)))
    assert trends.latency("web3") == (None,)


def test_lag_is_the_standbys_replay_lag_in_seconds_and_a_primary_has_none() -> None:
    trends = _fed(busy(1), busy(2))
    assert trends.lag("db2") == (0.5, 1.0)
    assert trends.lag("db1") == ()
    promoted = cluster_state(databases=(db("db1", role="standby", replay_lag_s=0.0), db("db2")))
    trends.add(promoted)
    assert trends.lag("db2") == ()  # promoted: its old line is over
    assert trends.lag("db1") == (0.0,)


def test_a_down_standby_is_a_gap() -> None:
    down = cluster_state(databases=(db("db1"), db("db2", role=None, problem="refused")))
    assert _fed(busy(1), down).lag("db2") == (0.5, None)


def test_the_ring_keeps_the_last_points_only() -> None:
    trends = _fed(*(busy(step, requests=step) for step in range(POINTS + 5)))
    assert trends.requests() == tuple(float(step) for step in range(5, POINTS + 5))
    assert len(trends.latency("web1")) == POINTS


def test_reset_forgets_every_point_and_the_counters() -> None:
    trends = _fed(busy(0, errors=10), busy(1, errors=20))
    trends.reset()
    trends.add(busy(0, errors=10))  # back in time: a first observation again, no rate
    assert trends.errors() == (None,)
    assert trends.requests() == (40.0,)
    assert trends.lag("db2") == (0.0,)


def test_a_sparkline_runs_from_zero_to_the_largest_value() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8, floor=1) == "▁▂▃▄▅▆▇█"


def test_a_flat_line_looks_flat() -> None:
    assert sparkline([40.0] * 6, 6, floor=10) == "██████"
    assert sparkline([3.0, 3.0, 3.0], 3, floor=50) == "▂▂▂"
    assert sparkline([0, 0, 0], 3, floor=1) == "▁▁▁"


def test_jitter_below_the_floor_stays_low() -> None:
    assert sparkline([2.9, 3.4, 3.1], 3, floor=50) == "▂▂▂"


def test_any_value_above_zero_stands_above_zero() -> None:
    assert sparkline([0, 0.01, 100], 3, floor=1) == "▁▂█"


def test_a_gap_is_a_space_and_a_short_series_is_right_aligned() -> None:
    assert sparkline([1, None, 1], 5, floor=1) == "  █ █"
    assert sparkline([], 4, floor=1) == "    "


def test_a_sparkline_shows_the_last_points_that_fit() -> None:
    assert sparkline([7, 0, 0, 7], 2, floor=1) == "▁█"
    assert sparkline([1, 2], 0, floor=1) == ""


def test_doubling_is_a_fixed_scale_one_block_per_doubling() -> None:
    line = sparkline([3, 25, 26, 50, 51, 100, 400, 1600, 60000], 9, floor=25, doubling=True)
    assert line == "▁▁▂▂▃▃▅▇█"


def test_on_a_doubling_scale_healthy_jitter_is_flat() -> None:
    assert sparkline([2.9, 12.0, 7.5, 24.0], 4, floor=25, doubling=True) == "▁▁▁▁"
