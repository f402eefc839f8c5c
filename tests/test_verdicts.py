"""Verdicts and alarms, on ClusterState parts built by hand around a healthy lab-like site."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from console.state.balancer import BalancerState, Server, SiteFlags
from console.state.database_alarms import LAG_BYTES_WARN, REPLAY_LAG_WARN_S
from console.state.model import Archiver, BoxFreshness, LogFile, Verdicts
from console.state.planned import PLAN_GRACE_S
from console.state.verdicts import judge
from tests.support.verdict_parts import (
    INV,
    LOG,
    balancer,
    box,
    codes,
    db,
    link,
    node,
    nodes_with,
    only,
    run,
    server,
)


def test_a_healthy_site_raises_no_alarm_and_adds_up() -> None:
    verdicts, alarms = run()
    assert alarms == ()
    assert verdicts == Verdicts(
        primaries=("db1",),
        standbys_streaming=("db2",),
        backends_up=2,
        backends_total=3,
        site_mode="normal",
        site_message=None,
        site_until=None,
        schedulers=("web1",),
    )


def test_nothing_probed_yet_raises_only_what_is_certain() -> None:
    verdicts, alarms = judge(INV, (), None, (), ())
    assert [a.code for a in alarms] == ["scheduler-count"]
    assert (verdicts.site_mode, verdicts.backends_total, verdicts.primaries) == (None, 0, ())


# --- databases -------------------------------------------------------------------------


def test_two_writable_primaries_are_a_split_brain() -> None:
    alarm = only("split-brain", databases=(db("db1"), db("db2")))
    assert alarm.severity == "critical" and set(alarm.subject) == {"db1", "db2"}
    assert alarm.message.startswith("split brain: db1 and db2")


def test_a_stale_last_known_primary_counts_towards_a_possible_split_brain() -> None:
    boxes = (box("db1", stale=True, age=12.0, reason="connection refused"), box("db2"))
    alarm = only("split-brain", boxes=boxes, databases=(db("db1"), db("db2")))
    assert (
        alarm.message
        == "possible split brain: db1 last seen writable 12 s ago (stale), db2 writable now"
    )
    assert "no-primary" not in codes(boxes=boxes, databases=(db("db1"), db("db2")))


def test_a_promoted_standby_with_a_read_only_old_primary_is_no_split_brain() -> None:
    assert "split-brain" not in codes(databases=(db("db1", writable=False), db("db2")))


def test_no_primary_at_all() -> None:
    dbs = (db("db1", role=None, problem="connection refused"), db("db2", role="standby"))
    alarm = only("no-primary", databases=dbs)
    assert alarm.severity == "critical"
    assert alarm.message == "no writable primary: db1 is unreachable, db2 is a standby"
    assert only("database-unreachable", databases=dbs).message == "db1: connection refused"


def test_a_stale_primary_is_no_fresh_primary() -> None:
    boxes = (box("db1", stale=True, age=40.0),)
    alarm = only("no-primary", boxes=boxes)
    assert "db1 last seen writable 40 s ago (stale)" in alarm.message
    assert "database-unreachable" not in codes(boxes=boxes)


def test_a_read_only_primary_is_a_warning_not_a_missing_primary() -> None:
    dbs = (db("db1", writable=False, read_only_default=True), db("db2", role="standby"))
    alarm = only("primary-read-only", databases=dbs)
    assert alarm.severity == "warning" and alarm.subject == ("db1",)
    assert "no-primary" not in codes(databases=dbs)
    assert run(databases=dbs)[0].primaries == ()


def test_a_read_only_primary_is_expected_in_the_sites_read_only_mode() -> None:
    dbs = (db("db1", writable=False, read_only_default=True), db("db2", role="standby"))
    for mode in ("read-only", "maintenance"):
        lb = balancer(flags=SiteFlags(mode, "upgrading", "03:30 UTC"))
        assert "primary-read-only" not in codes(databases=dbs, balancer=lb)
        assert "no-primary" not in codes(databases=dbs, balancer=lb)
    stale = tuple(box(b.name, stale=True) if b.name == "lb1" else box(b.name) for b in INV.boxes)
    lb = balancer(flags=SiteFlags("read-only", None, None))
    assert "primary-read-only" in codes(databases=dbs, balancer=lb, boxes=stale)


def test_a_standby_whose_receiver_is_not_streaming() -> None:
    dbs = (db("db1", standbys=()), db("db2", role="standby", receiver_status=None))
    alarm = only("standby-not-streaming", databases=dbs)
    assert alarm.severity == "critical"
    assert alarm.message == "db2 is not streaming from the primary: its WAL receiver is not running"
    assert run(databases=dbs)[0].standbys_streaming == ()


def test_a_standby_the_primary_does_not_list() -> None:
    dbs = (db("db1", standbys=(link(state="catchup"),)), db("db2", role="standby"))
    assert "pg_stat_replication" in only("standby-not-streaming", databases=dbs).message


def test_a_standby_listed_by_address_rather_than_name() -> None:
    primary = db("db1", standbys=(link("walreceiver", client_addr="10.0.0.6"),))
    assert codes(databases=(primary, db("db2", role="standby"))) == []


def test_without_a_fresh_primary_the_receiver_alone_is_trusted() -> None:
    boxes = (box("db1", stale=True),)
    assert "standby-not-streaming" not in codes(boxes=boxes)
    assert run(boxes=boxes)[0].standbys_streaming == ("db2",)


@pytest.mark.parametrize(
    ("lag_bytes", "replay_lag_s", "standby_lag_s", "expected"),
    [
        (LAG_BYTES_WARN + 1, None, 0.0, "db2 is 16.0 MiB behind the primary"),
        (0, REPLAY_LAG_WARN_S + 12, 0.0, "db2 is 42 s behind the primary"),
        (0, None, 45.0, "db2 is 45 s behind the primary"),
        (LAG_BYTES_WARN * 2, 31.0, 0.0, "db2 is 32.0 MiB and 31 s behind the primary"),
        (LAG_BYTES_WARN, REPLAY_LAG_WARN_S, 0.0, None),
        (None, None, None, None),
    ],
)
def test_standby_lag(
    lag_bytes: int | None,
    replay_lag_s: float | None,
    standby_lag_s: float | None,
    expected: str | None,
) -> None:
    primary = db("db1", standbys=(link(lag_bytes=lag_bytes, replay_lag_s=replay_lag_s),))
    dbs = (primary, db("db2", role="standby", replay_lag_s=standby_lag_s))
    alarms = [a for a in run(databases=dbs)[1] if a.code == "standby-lag"]
    assert [a.message for a in alarms] == ([expected] if expected else [])
    assert all(a.severity == "warning" for a in alarms)


def test_replay_paused() -> None:
    dbs = (db("db1"), db("db2", role="standby", replay_paused=True))
    assert only("replay-paused", databases=dbs).severity == "warning"


def test_archiver_failing_only_when_the_failure_is_newer() -> None:
    failing = Archiver(3, "0002", 90.0, 1, "0003", 95.0)
    recovered = Archiver(4, "0003", 96.0, 1, "0003", 95.0)
    never_archived = Archiver(0, None, None, 2, "0001", 50.0)
    assert "0003" in only("archiver-failing", databases=(db("db1", archiver=failing),)).message
    assert "archiver-failing" not in codes(databases=(db("db1", archiver=recovered),))
    assert "archiver-failing" in codes(databases=(db("db1", archiver=never_archived),))


def test_members_of_different_clusters() -> None:
    dbs = (db("db1"), db("db2", role="standby", system_identifier="9999"))
    alarm = only("system-mismatch", databases=dbs)
    assert alarm.severity == "critical" and alarm.subject == ("db1", "db2")


def test_members_on_different_timelines() -> None:
    dbs = (db("db1", timeline=2), db("db2", role="standby"))
    assert only("timeline-mismatch", databases=dbs).message == (
        "members are on different timelines: db1 on 2, db2 on 1"
    )


# --- the balancer ----------------------------------------------------------------------


def test_no_server_up_means_the_site_is_down() -> None:
    down = balancer(server("web1", operational="DOWN"), server("web2", "drain", "DRAIN"))
    alarm = only("backends-down", balancer=down)
    assert alarm.severity == "critical"
    assert run(balancer=down)[0].backends_up == 0


def test_a_hot_server_not_up_is_a_warning_but_a_warm_one_in_maint_is_expected() -> None:
    down = balancer(
        server("web1"), server("web2", operational="DOWN"), server("web3", "maint", "MAINT")
    )
    alarm = only("backends-down", balancer=down)
    assert (alarm.severity, alarm.subject) == ("warning", ("web2",))
    assert alarm.message == "hot servers not serving: web2 is DOWN (ready)"
    assert run(balancer=down)[0].backends_up == 1


def test_a_hot_server_drained_lately_is_planned_and_past_its_plan_a_warning() -> None:
    drained = balancer(
        server("web1"), server("web2", "drain", "DRAIN"), server("web3", "maint", "MAINT")
    )
    verdicts, alarms = run(balancer=drained)  # drained 60 s ago (the builder's last_change_s)
    assert (alarms, verdicts.planned) == ((), ("web2 drain",))
    old = balancer(
        server("web1"),
        replace(server("web2", "drain", "DRAIN"), last_change_s=PLAN_GRACE_S + 1),
        server("web3", "maint", "MAINT"),
    )
    alarm = only("backends-out", balancer=old)
    assert (alarm.severity, alarm.subject) == ("warning", ("web2",))


def test_the_live_role_decides_which_servers_should_serve() -> None:
    # Mid-rollover: web3 has been made hot and web2 warm; web2 in maint is then expected.
    lb = balancer(
        server("web1"), server("web2", "maint", "MAINT"), server("web3", operational="UP 1/2")
    )
    nodes = (node("web1"), node("web2", role="warm", mail="log"), node("web3", role="hot"))
    assert "backends-down" not in codes(balancer=lb, nodes=nodes)
    assert run(balancer=lb, nodes=nodes)[0].backends_up == 2


def _ab(live: str, *servers: Server) -> BalancerState:
    """web1, web2 in backend site; web3 in site_b (an A/B rollover's side B), LIVE serving."""
    return replace(balancer(*servers), live=live)


def test_only_the_live_backend_counts_for_the_site() -> None:
    side_b = replace(server("web3", operational="DOWN"), backend="site_b")
    verdicts, alarms = run(balancer=_ab("site", server("web1"), server("web2"), side_b))
    assert (verdicts.backends_up, verdicts.backends_total) == (2, 2)
    assert "backends-down" not in [a.code for a in alarms]


def test_with_side_b_live_its_servers_alone_count() -> None:
    side_b = replace(server("web3"), backend="site_b")
    a_down = (server("web1", operational="DOWN"), server("web2", "maint", "MAINT"))
    verdicts, _alarms = run(balancer=_ab("site_b", *a_down, side_b))
    assert (verdicts.backends_up, verdicts.backends_total) == (1, 1)
    down = replace(side_b, operational="DOWN")
    alarm = only("backends-down", balancer=_ab("site_b", server("web1"), server("web2"), down))
    assert alarm.severity == "critical"
    assert alarm.message == "no server of backend site_b is UP: the site is down"
    assert alarm.subject == ("web3",)


def test_a_live_backend_cluster_yaml_does_not_declare_is_critical() -> None:
    lb = replace(balancer(), live="site_c", live_problem="the flags map sends the site to site_c")
    alarm = only("live-backend", balancer=lb)
    assert (alarm.severity, alarm.subject) == ("critical", ("lb1",))
    assert "backends-down" not in codes(balancer=lb)


def test_a_stale_balancer_raises_no_backend_alarm() -> None:
    down = balancer(server("web1", operational="DOWN"))
    stale = (box("lb1", stale=True, reason="ssh: timeout"),)
    assert codes(balancer=down, boxes=stale) == ["balancer-not-answering", "box-stale"]
    alarm = only("balancer-not-answering", balancer=down, boxes=stale)
    assert alarm.severity == "critical" and "ssh: timeout" in alarm.message
    assert run(balancer=down, boxes=stale)[0].site_mode is None


def test_site_mode_read_only_and_maintenance() -> None:
    flags = SiteFlags("read-only", "Upgrading to 4.2", "14:30 UTC")
    verdicts, alarms = run(balancer=balancer(flags=flags))  # no time given: the plan holds
    assert "site-mode" not in [a.code for a in alarms]
    assert verdicts.planned == ("site read-only until 14:30 UTC",)
    assert (verdicts.site_mode, verdicts.site_message, verdicts.site_until) == (
        "read-only",
        "Upgrading to 4.2",
        "14:30 UTC",
    )
    # 1970-01-01 00:01:40 UTC is before 14:30 UTC that day, after 2026-12-06 14:30 UTC never.
    assert "site-mode" not in codes(balancer=balancer(flags=flags), now=100.0)
    late = SiteFlags("read-only", "Upgrading to 4.2", "1970-01-01 00:01 UTC")
    alarm = only("site-mode", balancer=balancer(flags=late), now=100.0)
    assert alarm.severity == "warning"
    assert alarm.message == (
        "the site is still in read-only mode, past its until 1970-01-01 00:01 UTC: "
        "'Upgrading to 4.2'"
    )
    forever = SiteFlags("maintenance", None, "the end of the maintenance")
    assert "site-mode" not in codes(balancer=balancer(flags=forever), now=1e10)


def test_an_unreadable_flags_map_is_a_warning() -> None:
    flags = SiteFlags("normal", None, None, problem="the flags map has mode 'readonly'")
    assert only("site-flags", balancer=balancer(flags=flags)).severity == "warning"


# --- nodes -----------------------------------------------------------------------------


def test_no_scheduler() -> None:
    alarm = only("scheduler-count", nodes=nodes_with("web1", scheduler=False, mail="log"))
    assert (
        alarm.severity == "critical"
        and alarm.message == "no node runs scheduled tasks and real mail"
    )


def test_two_schedulers() -> None:
    alarm = only("scheduler-count", nodes=nodes_with("web2", scheduler=True))
    assert alarm.subject == ("web1", "web2") and "twice" in alarm.message


def test_a_stale_scheduler_is_not_counted() -> None:
    alarm = only("scheduler-count", boxes=(box("web1", stale=True),))
    assert "web1 unknown" in alarm.message
    assert run(boxes=(box("web1", stale=True),))[0].schedulers == ()


def test_a_warm_node_sending_real_mail() -> None:
    alarm = only("warm-real-mail", nodes=nodes_with("web3", mail="real"))
    assert (alarm.severity, alarm.subject) == ("critical", ("web3",))


def test_a_warm_node_writing_the_hot_log() -> None:
    hot = LogFile(LOG.format(role="hot", node="web3"), 2.0, 10)
    alarm = only("warm-hot-log", nodes=nodes_with("web3", access_logs=(hot,)))
    assert alarm.severity == "critical" and "2 s ago" in alarm.message
    old = replace(hot, age_s=15.0)
    assert "warm-hot-log" not in codes(nodes=nodes_with("web3", access_logs=(old,)))
    warm = LogFile(LOG.format(role="warm", node="web3"), 3.0, 10)
    assert only("warm-hot-log", nodes=nodes_with("web3", access_logs=(hot, warm)))


def test_a_node_just_turned_warm_is_not_taken_for_one_logging_as_hot() -> None:
    # It wrote its hot log 4 s ago, before the switch, and its warm log since.
    hot = LogFile(LOG.format(role="hot", node="web3"), 4.0, 10)
    warm = LogFile(LOG.format(role="warm", node="web3"), 1.0, 10)
    assert "warm-hot-log" not in codes(nodes=nodes_with("web3", access_logs=(hot, warm)))


def test_a_hot_node_writing_the_hot_log_is_fine() -> None:
    hot = LogFile(LOG.format(role="hot", node="web1"), 0.5, 10)
    assert codes(nodes=nodes_with("web1", access_logs=(hot,))) == []


def test_a_role_file_problem() -> None:
    alarm = only("role-file", nodes=nodes_with("web2", role_problem="role file missing"))
    assert alarm.message == "web2: role file missing"


def test_a_role_that_differs_from_the_inventory() -> None:
    alarm = only("role-differs", nodes=nodes_with("web3", role="hot"))
    assert alarm.severity == "warning" and alarm.message == "web3 is hot; cluster.yaml has it warm"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"health_status": 503}, "answered 503"),
        ({"site_alive": False}, "not running"),
        ({"health_status": None, "health_problem": "timed out"}, "timed out"),
    ],
)
def test_an_unhealthy_hot_node(changes: dict[str, Any], words: str) -> None:
    alarm = only("node-unhealthy", nodes=nodes_with("web2", **changes))
    assert alarm.severity == "warning" and words in alarm.message


def test_a_warm_node_failing_its_health_check_is_not_unhealthy_hot() -> None:
    assert codes(nodes=nodes_with("web3", health_status=503)) == []


def test_an_unknown_health_is_not_an_alarm() -> None:
    assert codes(nodes=nodes_with("web2", health_status=None, site_alive=None)) == []


# --- boxes and ordering ----------------------------------------------------------------


def test_a_stale_box_says_why() -> None:
    alarm = only("box-stale", boxes=(box("web2", stale=True, age=31.0, reason="host unreachable"),))
    assert alarm.message == "web2: data is 31 s old: host unreachable"
    never = BoxFreshness("web2", False, None, None, None, True, None)
    assert only("box-stale", boxes=(never,)).message == "web2: never probed"


def test_critical_alarms_come_first() -> None:
    _, alarms = run(
        boxes=(box("web2", stale=True),),
        databases=(db("db1"), db("db2")),
    )
    severities = [a.severity for a in alarms]
    assert severities == sorted(severities, key=["critical", "warning"].index)
    assert severities[0] == "critical" and severities[-1] == "warning"


def test_a_paused_standby_that_stopped_streaming_says_both() -> None:
    dbs = (db("db1", standbys=()), db("db2", role="standby", replay_paused=True))
    assert sorted(codes(databases=dbs)) == ["replay-paused", "standby-not-streaming"]
