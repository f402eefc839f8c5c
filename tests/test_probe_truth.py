"""Truthful probes without the lab: which timeline, which address, what is stale or unknown."""

from __future__ import annotations

from dataclasses import replace

from console.cli.tables import render
from console.dbconn import libpq_reason
from console.probes import postgres
from console.state.model import unknown_member, unknown_node
from screens import rows
from tests.support.verdict_parts import INV, balancer, box, cluster_state, codes, db, only, run

# --- the timeline a standby follows ---------------------------------------------------


def test_a_streaming_standby_follows_its_receivers_timeline() -> None:
    assert postgres.standby_timeline(received=3, replayed=3, history=3, checkpoint=2) == 3


def test_with_its_receiver_down_a_standby_follows_the_wal_it_replayed_not_its_checkpoint() -> None:
    # After a switchover to timeline 3 the standby's last restartpoint was still on 2.
    assert postgres.standby_timeline(received=None, replayed=3, history=3, checkpoint=2) == 3
    # Its replayed segment recycled: the newest history file it accepted still knows.
    assert postgres.standby_timeline(received=None, replayed=None, history=3, checkpoint=2) == 3
    assert postgres.standby_timeline(received=None, replayed=None, history=None, checkpoint=2) == 2
    assert postgres.standby_timeline(None, None, None, None) is None


def test_the_probe_row_of_a_standby_without_receiver_reads_the_replayed_timeline() -> None:
    cfg = INV.database("db2")
    row = {
        "in_recovery": True,
        "read_only_default": False,
        "system_identifier": "7312",
        "primary_timeline": None,
        "checkpoint_timeline": 2,
        "replayed_timeline": 3,
        "history_timeline": 3,
        "current_lsn": None,
        "receive_lsn": "0/6000000",
        "replay_lsn": "0/60000A0",
        "replay_paused": False,
        "last_replayed_commit": None,
        "replay_lag_s": 0.0,
        "connections": 0,
        "receiver": None,
        "standbys": [],
        "slots": [],
        "archiver": None,
    }
    state = postgres._database(row, cfg, now=1.0)
    assert (state.role, state.timeline, state.receiver_status) == ("standby", 3, None)


# --- the member's own address, never the SSH forward's ---------------------------------

FORWARDED = (
    'connection failed: connection to server at "127.0.0.1", port 35213 failed: '
    "server closed the connection unexpectedly"
)


def test_libpq_reason_drops_the_forwards_address() -> None:
    assert libpq_reason(FORWARDED) == "server closed the connection unexpectedly"
    with_ip = (
        'connection to server at "127.0.0.1" (127.0.0.1), port 41003 failed: Connection refused'
    )
    assert libpq_reason(with_ip) == "Connection refused"
    assert libpq_reason("connection timeout expired") == "connection timeout expired"


def test_the_unreachable_alarm_names_the_members_address_from_cluster_yaml() -> None:
    cfg = INV.database("db1")  # host 10.0.0.5 in the test inventory
    problem = postgres.refusing(cfg, libpq_reason(FORWARDED))
    down = postgres.unreachable(cfg, 100.0, problem)
    alarm = only("database-unreachable", databases=(down, db("db2", role="standby")))
    assert "10.0.0.5:5432" in alarm.message and "its box db1 answers over SSH" in alarm.message
    assert "127.0.0.1" not in alarm.message and "35213" not in alarm.message
    silent = postgres.unreachable(cfg, 100.0, postgres.not_answering(cfg, 3.0))
    message = only("database-unreachable", databases=(silent, db("db2", role="standby"))).message
    assert message == (
        "db1: PostgreSQL at 10.0.0.5:5432 does not answer a new connection within 3 s; "
        "its box db1 answers over SSH"
    )


# --- the balancer: stale means the site mode is unknown, and that is critical ----------

HUNG = "HAProxy on lb1 does not answer within 3 s; its box answers over SSH"


def test_a_hung_haproxy_on_a_box_that_answers_makes_the_site_mode_unknown() -> None:
    lb = replace(balancer(), problem=HUNG)
    verdicts, alarms = run(balancer=lb)
    assert verdicts.site_mode is None and verdicts.site_message is None
    assert [(a.code, a.severity) for a in alarms] == [("balancer-not-answering", "critical")]
    assert HUNG in alarms[0].message


def test_a_balancer_never_read_says_why_too() -> None:
    verdicts, _ = run(balancer=None, balancer_problem=HUNG)
    assert verdicts.site_mode is None
    assert only("balancer-not-answering", balancer=None, balancer_problem=HUNG).message.endswith(
        HUNG
    )
    assert "balancer-not-answering" not in codes()  # a healthy one raises nothing


def test_a_stale_balancer_is_shown_stale_and_the_banner_does_not_say_normal() -> None:
    lb = replace(balancer(), observed_at=90.0, problem=HUNG)
    state = cluster_state(balancer=lb)
    banner = rows.banner(state, observer=False).plain
    assert "SITE MODE UNKNOWN" in banner and "NORMAL" not in banner
    fresh = rows.balancer_freshness(state)
    assert fresh is not None and fresh.stale and fresh.reason == HUNG
    assert rows.server_row(lb.servers[0], fresh)[-1].plain == "STALE 10s"
    assert "data STALE 10s" in render(state) and "SITE MODE UNKNOWN" in render(state)


# --- sshd: a new connection, the same alarm whether data still flows or not ------------

SSHD = "sshd on web2 accepts connections at 10.0.0.3:22 but sends no SSH greeting within 3 s"


def test_a_hung_sshd_is_one_alarm_whether_an_old_connection_answers_or_not() -> None:
    answering = replace(box("web2"), sshd_problem=SSHD)
    silent = replace(box("web2", stale=True, reason="no SSH answer"), sshd_problem=SSHD)
    for web2 in (answering, silent):
        boxes = tuple(web2 if b.name == "web2" else box(b.name) for b in INV.boxes)
        assert codes(boxes=boxes) == ["sshd-not-answering"]
        alarm = only("sshd-not-answering", boxes=boxes)
        assert alarm.message.startswith(SSHD) and alarm.subject == ("web2",)


# --- never probed: in the tables all the same, unknown, not DOWN -----------------------


def test_what_was_never_probed_stays_in_the_tables_as_unknown() -> None:
    never = box("db1", stale=True, reason="no SSH answer")
    never = replace(never, age=None, last_ok=None)
    web2 = replace(box("web2", stale=True, reason="no SSH answer"), age=None, last_ok=None)
    boxes = tuple({"db1": never, "web2": web2}.get(b.name, box(b.name)) for b in INV.boxes)
    member = unknown_member("db1", "db1", 100.0, "never probed: its box db1 has not answered")
    node = unknown_node("web2", "web2", "hot", 100.0)
    nodes = tuple(node if n.name == "web2" else n for n in cluster_state().nodes)
    state = cluster_state(boxes=boxes, databases=(member, db("db2", role="standby")), nodes=nodes)
    table = render(state)
    db1 = next(line for line in table.splitlines() if line.startswith("  db1 "))
    assert " ? " in db1 and "DOWN" not in db1 and db1.endswith("STALE never")
    nodes_part = table.split("NODES", 1)[1]
    web2_line = next(line for line in nodes_part.splitlines() if line.startswith("  web2 "))
    assert "FAIL" not in web2_line and web2_line.endswith("STALE never")
    assert rows.db_row(member, state)[1].plain == "?"
    assert rows.node_row(node, state.freshness("web2"))[4].plain == "?"
    assert "database-unreachable" not in [a.code for a in state.alarms]
