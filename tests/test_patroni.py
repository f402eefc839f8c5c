"""The Patroni seam without a Patroni: parsing /cluster, curl on the box, the console's line.

The fixtures under fixtures/patroni are modelled on the ``GET /cluster`` answers
documented for Patroni 3.x and 4.x (docs/rest_api.rst, ``cluster_as_json``).
The real proof (a Patroni lab) comes later.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from console.probes import http
from console.probes.patroni import (
    PatroniProbeError,
    parse_cluster,
    probe_patroni,
    summary,
    unreachable,
)
from tests.support.patroni_parts import (
    URL,
    answered,
    fixture,
    view,
)

# --- parsing /cluster ---------------------------------------------------------------------


def test_a_healthy_cluster_reads_as_members_with_their_roles_and_lag() -> None:
    seen = view("healthy", observed_at=42.0)
    assert seen.observed_at == 42.0
    assert (seen.paused, seen.scheduled_switchover, seen.problem) == (False, None, None)
    db1, db2 = seen.members
    assert (db1.name, db1.role, db1.state, db1.lag, db1.timeline) == (
        "db1",
        "leader",
        "running",
        None,
        5,
    )
    assert (db2.name, db2.role, db2.state, db2.lag) == ("db2", "replica", "streaming", 0)
    assert (db2.host, db2.port, db2.nofailover) == ("10.0.0.6", 5432, False)
    assert seen.leaders == (db1,)
    assert seen.member("db2") is db2
    assert seen.member("db9") is None


def test_pause_scheduled_switchover_unknown_lag_and_tags_are_read() -> None:
    paused = view("paused_scheduled")
    assert paused.paused
    assert paused.scheduled_switchover is not None
    assert paused.scheduled_switchover.at == "2026-11-26T03:30:00+00:00"
    assert (paused.scheduled_switchover.leader, paused.scheduled_switchover.candidate) == (
        "db1",
        "db2",
    )
    assert paused.members[1].role == "sync_standby"
    lagging = view("lagging_unknown")
    assert lagging.member("db2").lag == 50 * 1024 * 1024  # type: ignore[union-attr]
    db3 = lagging.member("db3")
    assert db3 is not None
    assert (db3.lag, db3.state, db3.nofailover, db3.timeline) == (None, "stopped", True, None)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "a JSON list at the top"),
        ('{"scope": "site"}', "no list of members"),
        ('{"members": {"db1": {}}}', "no list of members"),
        ('{"members": ["db1"]}', "member 1 as a text"),
        ('{"members": [{"role": "leader"}]}', "member 1's name as nothing"),
        ('{"members": [{"name": 7, "role": "leader"}]}', "member 1's name as a number"),
        ('{"members": [{"name": "  ", "role": "leader"}]}', "member 1's name empty"),
        ('{"members": [{"name": "db1"}]}', "member db1's role as nothing"),
        ('{"members": [{"name": "db1", "role": "leader", "port": true}]}', "port as True"),
        ('{"members": [{"name": "db1", "role": "replica", "lag": -5}]}', "lag as -5"),
        ('{"members": [{"name": "db1", "role": "replica", "lag": "lots"}]}', "lag as 'lots'"),
        ('{"members": [{"name": "db1", "role": "leader", "tags": []}]}', "tags as a list"),
        ('{"members": [], "pause": "yes"}', "pause as a text"),
        ('{"members": [], "scheduled_switchover": "soon"}', "scheduled_switchover as a text"),
        ('{"members": [], "scheduled_switchover": {}}', "scheduled_switchover's time"),
        (
            '{"members": [{"name": "db1", "role": "leader"}, {"name": "db1", "role": "replica"}]}',
            "'db1' twice",
        ),
        ('{"members": [{"name": "' + "x" * 300 + '", "role": "leader"}]}', "longer than 255"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        ('{"members": []}' + " " * 1_000_001, "an answer of"),
    ],
)
def test_an_answer_out_of_shape_says_what_is_wrong_and_what_to_check(text: str, says: str) -> None:
    with pytest.raises(PatroniProbeError) as info:
        parse_cluster(text, 1.0)
    message = str(info.value)
    assert says in message
    assert "patroni_url" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "name", ["db1\x1b[2J", "db1\nleader db9", "db\x00", "\u202edb1", "db1\x9b31m", "a\u2028b"]
)
def test_control_characters_in_a_name_are_refused_and_never_repeated(name: str) -> None:
    text = json.dumps({"members": [{"name": name, "role": "leader", "state": "running"}]})
    with pytest.raises(PatroniProbeError, match="control characters in member 1's name") as info:
        parse_cluster(text, 1.0)
    message = str(info.value)
    assert "\x1b" not in message and "\n" not in message and "\u202e" not in message


def test_control_characters_in_a_state_are_refused_too() -> None:
    text = json.dumps({"members": [{"name": "db1", "role": "leader", "state": "run\x1b]0;x\x07"}]})
    with pytest.raises(PatroniProbeError, match="member db1's state"):
        parse_cluster(text, 1.0)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            found += _paths(inner, (*path, n))
    return found


def _with(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    inner = copy
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = new
    return copy


def test_no_variant_of_a_documented_answer_escapes_as_a_traceback() -> None:
    base = json.loads(fixture("paused_scheduled"))
    hostile = [None, [], {}, "", "x\x1b[2J", -1, True, 1.5, "unknown", 2**70, [None], {"a": 1}]
    for path in _paths(base):
        for new in hostile:
            try:
                parse_cluster(json.dumps(_with(base, path, new)), 1.0)
            except PatroniProbeError as exc:
                assert "\x1b" not in str(exc) and "\n" not in str(exc), (path, new)


def test_an_empty_cluster_is_a_view_with_no_leader() -> None:
    empty = parse_cluster('{"members": []}', 1.0)
    assert (empty.members, empty.leaders) == ((), ())


# --- asking Patroni with curl on the box (the curl line itself: test_http.py) ----------


def test_probe_asks_cluster_on_the_box_and_parses_the_answer() -> None:
    sent: list[str] = []
    status = {"state": "running", "dcs_last_seen": 1796646565, "patroni": {"name": "db1"}}
    answers = {
        "/cluster": fixture("healthy"),
        "/patroni": json.dumps(status),
        "/config": json.dumps({"ttl": 10, "loop_wait": 2, "retry_timeout": 5}),
    }

    async def run(command: str) -> str:
        sent.append(command)
        return answered(next(a for path, a in answers.items() if f"{URL}{path}" in command))

    seen = asyncio.run(probe_patroni(run, URL + "/", 7.0, details=True))
    assert [m.name for m in seen.members] == ["db1", "db2"]
    assert seen.observed_at == 7.0
    assert sent == [http.Request("GET", f"{URL}{path}", 3.0).command() for path in answers]
    assert (seen.reader, seen.dcs_last_seen) == ("db1", 1796646565.0)
    # Patroni runs a ttl below 20 as 20, and its config does not say so.
    assert (seen.ttl, seen.effective_ttl, seen.loop_wait) == (10, 20, 2)
    assert "ttl 20 (asked 10)" in summary(seen)


@pytest.mark.parametrize(
    "extra", [answered("", 0, exit=28), answered("[1, 2]"), answered("{", 200), answered("x", 404)]
)
def test_the_view_stands_when_patronis_status_or_config_cannot_be_read(extra: str) -> None:
    async def run(command: str) -> str:
        return answered(fixture("healthy")) if "/cluster" in command else extra

    seen = asyncio.run(probe_patroni(run, URL, 7.0, details=True))
    assert [m.name for m in seen.members] == ["db1", "db2"] and seen.problem is None
    assert (seen.reader, seen.dcs_last_seen, seen.ttl, seen.effective_ttl) == (None,) * 4


def test_pending_restart_and_the_tags_are_read_and_shown() -> None:
    raw = json.loads(fixture("healthy"))
    raw["members"][1]["pending_restart"] = True
    raw["members"][1]["tags"] = {"noloadbalance": True, "nofailover": "yes"}
    seen = parse_cluster(json.dumps(raw), 1.0)
    member = seen.member("db2")
    assert member is not None and member.pending_restart and member.noloadbalance
    assert member.nofailover and seen.pending_restart == ("db2",)
    assert "restart pending db2" in summary(seen)


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (answered("Service Unavailable\x1b[31m", 503), "Patroni answered 503 at"),
        (answered("", 0, exit=7), "nothing answers at"),
        (answered("not json"), "not JSON"),
        (answered("", 0, exit=127), "curl is not installed on the box: hotspare asks Patroni"),
        (answered("", 0, exit=28), f"Patroni did not answer at {URL}/cluster in time"),
        (answered("", 0, exit=35), r"curl exit 35\): check patroni_url in cluster.yaml"),
        ("sh: 1: syntax error\x1b[2J", "no curl result from the box"),
    ],
)
def test_probe_failures_are_probe_errors_on_one_clean_line(output: str, says: str) -> None:
    async def run(command: str) -> str:
        return output

    with pytest.raises(PatroniProbeError, match=says) as info:
        asyncio.run(probe_patroni(run, URL, 1.0))
    assert "\x1b" not in str(info.value)


# --- the console's line -------------------------------------------------------------------


def test_summary_is_one_short_line() -> None:
    assert summary(view("healthy")) == "patroni: leader db1 · db2 streaming lag 0B"
    assert summary(view("paused_scheduled"), 100) == (
        "patroni: leader db1 · db2 streaming lag 0B · paused · switchover 2026-11-26 03:30"
    )
    assert len(summary(view("paused_scheduled"))) == 76
    assert summary(view("no_leader")).startswith("patroni: NO leader · db1 stopped lag ?")
    assert summary(view("standby_cluster")).startswith("patroni: standby leader db1")
    assert summary(unreachable(1.0, "db1: nothing answers")) == "patroni: ✗ db1: nothing answers"
    cut = summary(view("lagging_unknown"), 40)
    assert len(cut) == 40 and cut.endswith("…")
