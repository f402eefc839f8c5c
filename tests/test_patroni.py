"""The Patroni seam without a Patroni: parsing /cluster, the monitor's reading, the plans.

The fixtures under fixtures/patroni are modelled on the ``GET /cluster`` answers
documented for Patroni 3.x and 4.x (docs/rest_api.rst, ``cluster_as_json``).
Nothing here talks to a box: where a step runs, a fake ``ctx.run`` hands back
canned curl output, and only the parsing of that answer is under test. The
real proof (a Patroni lab) comes later.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from console.actions import patroni as actions
from console.actions.context import ActionError, Context
from console.actions.plan import Check, Plan, Probe
from console.inventory import Inventory
from console.monitor import Monitor
from console.probes.patroni import (
    PatroniProbeError,
    PatroniView,
    curl_command,
    parse_cluster,
    parse_curl,
    probe_patroni,
    summary,
    unreachable,
)
from console.ssh import RemoteTimeout, Result
from console.state.model import ClusterState
from tests import verdict_parts as parts

FIXTURES = Path(__file__).parent / "fixtures" / "patroni"
URL = "http://127.0.0.1:8008"


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def view(name: str, observed_at: float = 100.0) -> PatroniView:
    return parse_cluster(fixture(name), observed_at)


def answered(body: str, status: int = 200, exit: int = 0) -> str:
    """What a curl_command line prints: the body, the HTTP status, curl's exit status."""
    return f"{body}\nhotspare-http {status:03d}\nhotspare-curl {exit}\n"


def patroni_inventory(**changes: Any) -> Inventory:
    dbs = tuple(
        replace(d, manager="patroni", patroni_url=URL, **changes) for d in parts.INV.databases
    )
    return replace(parts.INV, databases=dbs)


INV = patroni_inventory()


def state_with(patroni: PatroniView | None) -> ClusterState:
    return replace(parts.cluster_state(), patroni=patroni)


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


# --- curl on the box ----------------------------------------------------------------------


def test_curl_command_bounds_the_call_and_quotes_what_it_sends() -> None:
    get = curl_command(f"{URL}/cluster", 3.0)
    assert get.startswith("curl -s --max-time 3 ")
    assert f" {URL}/cluster; " in get
    assert " 'http://h:8008/cluster?a=1&b=2'; " in curl_command("http://h:8008/cluster?a=1&b=2", 3)
    assert "POST" not in get
    post = curl_command(f"{URL}/switchover", 30.0, {"leader": "db1", "candidate": "db2"})
    assert "--max-time 30 -X POST -H 'Content-Type: application/json' " in post
    assert """-d '{"leader":"db1","candidate":"db2"}'""" in post
    hostile = curl_command(f"{URL}/failover", 30.0, {"candidate": "x'; rm -rf /; '"})
    assert "rm -rf /; '\"'\"'" in hostile  # stays inside single quotes


@pytest.mark.parametrize(
    ("output", "exit", "status", "body"),
    [
        (answered('{"members": []}'), 0, 200, '{"members": []}'),
        (answered("line one\nline two", 412), 0, 412, "line one\nline two"),
        (answered(""), 0, 200, ""),
        (answered("hotspare-curl 0", 503), 0, 503, "hotspare-curl 0"),  # the body cannot pose
        ("hotspare-curl 127\n", 127, None, ""),  # no curl: -w never printed
        (answered("", 0, exit=7), 7, 0, ""),
    ],
)
def test_curl_output_gives_exit_status_and_body(
    output: str, exit: int, status: int | None, body: str
) -> None:
    answer = parse_curl(output, URL)
    assert (answer.exit, answer.status, answer.body) == (exit, status, body)


@pytest.mark.parametrize(
    ("exit", "says"),
    [
        (127, "curl is not installed"),
        (7, "nothing answers at http://127.0.0.1:8008: is Patroni running?"),
        (28, "did not answer at http://127.0.0.1:8008 in time"),
        (35, "curl exit 35"),
    ],
)
def test_no_http_answer_is_said_in_operator_words(exit: int, says: str) -> None:
    answer = parse_curl(answered("", 0, exit=exit), URL)
    problem = answer.problem(URL)
    assert problem is not None and says in problem


def test_output_without_curls_exit_status_is_a_probe_error() -> None:
    with pytest.raises(PatroniProbeError, match="no curl result"):
        parse_curl("sh: 1: syntax error\x1b[2J", URL)


def test_probe_asks_cluster_on_the_box_and_parses_the_answer() -> None:
    sent: list[str] = []

    async def run(command: str) -> str:
        sent.append(command)
        return answered(fixture("healthy"))

    seen = asyncio.run(probe_patroni(run, URL + "/", 7.0))
    assert [m.name for m in seen.members] == ["db1", "db2"]
    assert seen.observed_at == 7.0
    assert sent == [curl_command(f"{URL}/cluster", 3.0)]


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (answered("Service Unavailable\x1b[31m", 503), "Patroni answered 503 at"),
        (answered("", 0, exit=7), "nothing answers at"),
        (answered("not json"), "not JSON"),
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


# --- the monitor reads it through the first answering database box -----------------------


class _Shell:
    def __init__(self, output: str) -> None:
        self.output = output
        self.asked: list[str] = []

    async def ask(self, script: str, timeout: float) -> str:
        self.asked.append(script)
        if self.output == "timeout":
            raise RemoteTimeout("db1", f"the probe did not answer within {timeout:g} s")
        return self.output


def _monitor(inv: Inventory, shells: dict[str, _Shell]) -> Monitor:
    monitor = Monitor(inv, clock=lambda: 100.0)
    for box, shell in shells.items():

        async def opened(shell: _Shell = shell) -> _Shell:
            return shell

        monitor.links[box].shell = opened  # type: ignore[method-assign,assignment]
    return monitor


def test_monitor_without_patroni_has_no_view() -> None:
    assert Monitor(parts.INV).snapshot().patroni is None


def test_monitor_reads_patroni_through_the_first_box_whose_patroni_answers() -> None:
    # Private parts on purpose: refresh_box needs SSH and PostgreSQL, which this test has not.
    down, up = _Shell(answered("", 0, exit=7)), _Shell(answered(fixture("healthy")))
    monitor = _monitor(INV, {"db1": down, "db2": up})
    assert monitor.snapshot().patroni == unreachable(100.0, "Patroni's view: not read yet")
    for box in ("db1", "db2"):
        monitor._records[box].ok, monitor._records[box].last_ok = True, 100.0
    assert monitor._patroni_reader() == "db1"
    asyncio.run(monitor._probe_patroni("db1"))
    assert monitor.snapshot().patroni is not None
    assert "nothing answers" in (monitor.snapshot().patroni.problem or "")  # type: ignore[union-attr]
    assert monitor._patroni_reader() == "db2"
    asyncio.run(monitor._probe_patroni("db2"))
    assert monitor.snapshot().patroni == view("healthy")
    assert monitor._patroni_reader() == "db2"  # it keeps to the box that answers
    assert down.asked == up.asked == [curl_command(f"{URL}/cluster", 3.0)]


def test_a_hung_shell_is_patronis_problem_not_the_boxs() -> None:
    monitor = _monitor(INV, {"db1": _Shell("timeout")})
    monitor._records["db1"].ok, monitor._records["db1"].last_ok = True, 100.0
    asyncio.run(monitor._probe_patroni("db1"))
    snap = monitor.snapshot()
    assert snap.patroni is not None
    assert snap.patroni.problem == ("Patroni's view: db1: the probe did not answer within 4 s")
    assert not snap.freshness("db1").stale  # type: ignore[union-attr]


def test_monitor_marks_an_old_view_with_its_age() -> None:
    now = [100.0]
    monitor = _monitor(INV, {"db1": _Shell(answered(fixture("healthy")))})
    monitor._clock = lambda: now[0]
    asyncio.run(monitor._probe_patroni("db1"))
    assert monitor.snapshot().patroni == view("healthy", observed_at=100.0)
    now[0] += monitor.stale_after + 5  # every database box stopped answering
    late = monitor.snapshot().patroni
    assert late is not None and late.members
    assert late.problem == "no answer for 12 s (no database box has answered since)"
    assert summary(late).startswith("patroni: ✗ no answer for 12 s")


# --- the plans ----------------------------------------------------------------------------


def test_switchover_plan_posts_to_the_candidates_patroni_then_watches() -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == ("promote", "db2", (), None)
    assert plan.way_back == "hotspare promote db1"
    ask, watch = plan.steps
    assert ask.where == watch.where == "curl on db2 to Patroni"
    assert ask.command == curl_command(
        f"{URL}/switchover", 30.0, {"leader": "db1", "candidate": "db2"}
    )
    assert (
        """-X POST -H 'Content-Type: application/json' -d '{"leader":"db1","candidate":"db2"}'"""
        in (ask.command)
    )
    assert watch.command == f"GET {URL}/cluster (every 1 s)"
    assert "db1 is back as a replica" in watch.proves
    assert all(c.ok for c in plan.preconditions)
    assert "REFUSED" not in plan.describe()


def test_failover_plan_needs_the_name_typed_and_sends_only_the_candidate() -> None:
    plan = actions.plan_failover(INV, state_with(view("healthy")), "db2")
    assert (plan.action, plan.target, plan.refusals, plan.confirm) == ("failover", "db2", (), "db2")
    assert plan.steps[0].command == curl_command(f"{URL}/failover", 30.0, {"candidate": "db2"})
    assert "once Patroni shows db1 streaming again" in plan.way_back
    assert any("a failover does not wait" in c.detail for c in plan.preconditions)


def test_failover_without_a_leader_is_what_failover_is_for() -> None:
    plan = actions.plan_failover(INV, state_with(view("no_leader")), "db2")
    assert plan.refusals == ()
    assert "no leader to wait for" in plan.summary
    assert plan.way_back == ""


@pytest.mark.parametrize(
    ("fixture_name", "candidate", "says"),
    [
        ("healthy", "db1", "db1 is Patroni's leader, not a replica"),
        ("no_leader", "db2", "Patroni shows no leader: a switchover needs one"),
        ("paused_scheduled", "db2", "Patroni is paused (maintenance mode)"),
        (
            "paused_scheduled",
            "db2",
            "switchover scheduled at 2026-11-26T03:30:00+00:00 (db1 to db2)",
        ),
        ("lagging_unknown", "db2", "db2 is 50.0MB behind the leader, more than switchover_max_lag"),
        ("lagging_unknown", "db3", "db3 is stopped in Patroni, not running or streaming"),
        ("standby_cluster", "db2", "db1 is a standby leader"),
    ],
)
def test_switchover_refusals_say_why_in_a_sentence(
    fixture_name: str, candidate: str, says: str
) -> None:
    inv = patroni_inventory()
    inv = replace(inv, databases=(*inv.databases, replace(inv.databases[1], name="db3")))
    plan = actions.plan_switchover(inv, state_with(view(fixture_name)), candidate)
    assert plan.steps == ()
    assert any(says in r for r in plan.refusals), plan.refusals
    assert "REFUSED" in plan.describe()


def test_more_refusals_nofailover_unknown_lag_two_leaders_and_no_member() -> None:
    lagging = view("lagging_unknown")
    db3 = replace(lagging.members[2], state="streaming")
    tagged = replace(lagging, members=(*lagging.members[:2], db3))
    inv = replace(INV, databases=(*INV.databases, replace(INV.databases[1], name="db3")))
    plan = actions.plan_failover(inv, state_with(tagged), "db3")
    assert "db3 has the nofailover tag: Patroni never promotes it" in plan.refusals
    untagged = replace(tagged, members=(*tagged.members[:2], replace(db3, nofailover=False)))
    refusals = actions.plan_switchover(inv, state_with(untagged), "db3").refusals
    assert refusals == ("Patroni does not know db3's lag: wait for it to stream",)
    healthy = view("healthy")
    two = replace(healthy, members=(healthy.members[0], replace(healthy.members[1], role="leader")))
    assert "Patroni shows 2 leaders (db1, db2): look first" in (
        actions.plan_failover(INV, state_with(two), "db2").refusals
    )
    renamed = replace(
        healthy, members=(healthy.members[0], replace(healthy.members[1], name="pg2"))
    )
    (refusal,) = actions.plan_switchover(INV, state_with(renamed), "db2").refusals
    assert "Patroni has no member db2 (it has: db1, pg2)" in refusal


def test_lag_within_the_candidates_limit_is_allowed() -> None:
    inv = patroni_inventory(switchover_max_lag=64 * 1024 * 1024)
    assert actions.plan_switchover(inv, state_with(view("lagging_unknown")), "db2").refusals == ()


def test_no_view_or_a_view_with_a_problem_refuses() -> None:
    (refusal,) = actions.plan_switchover(INV, state_with(None), "db2").refusals
    assert refusal == "Patroni's view is unknown: hotspare has not read it yet"
    stale = unreachable(1.0, "no answer for 30 s (db1: nothing answers)")
    (refusal,) = actions.plan_failover(INV, state_with(stale), "db2").refusals
    assert "no answer for 30 s" in refusal


def test_a_database_not_managed_by_patroni_or_not_declared_is_an_action_error() -> None:
    with pytest.raises(ActionError, match="does not say Patroni manages db2"):
        actions.plan_switchover(parts.INV, state_with(view("healthy")), "db2")
    with pytest.raises(ActionError, match=r"no database named 'db9' .*there are: db1, db2"):
        actions.plan_failover(INV, state_with(view("healthy")), "db9")


# --- the steps' reading of Patroni's answers (canned curl output, no box) ----------------


class _Ctx:
    """Just enough of Context: canned answers to ctx.run, a clock, a poll without sleeps."""

    def __init__(self, *outputs: str) -> None:
        self.outputs = list(outputs)
        self.sent: list[tuple[str, str, float]] = []

    async def run(self, box: str, command: str, timeout: float) -> Result:
        self.sent.append((box, command, timeout))
        output = self.outputs.pop(0)
        if output == "timeout":
            raise RemoteTimeout(box, "did not finish")
        return Result(0, output, "")

    def clock(self) -> float:
        return 100.0

    async def poll(self, probe: Probe, timeout: float, every: float = 0.25) -> Check:
        while True:
            check = await probe(cast(Context, self))
            if check.ok or not self.outputs:
                return check


def _run_step(plan: Plan, n: int, ctx: _Ctx) -> tuple[str, Check]:
    step = plan.steps[n]

    async def go() -> tuple[str, Check]:
        said = await step.act(cast(Context, ctx))
        return said, await step.verify(cast(Context, ctx))

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("output", "ok", "says"),
    [
        (answered('Successfully switched over to "db2"'), True, "200: Successfully switched"),
        (answered("candidate name does not match with sync_standby", 412), False, "412, not 200"),
        (answered("Switchover failed", 503), False, "503, not 200: Switchover failed"),
        (answered("Switchover status unknown", 503), True, "watching"),
        (answered("", 0, exit=28), True, "watching"),
        (answered("", 0, exit=7), False, "nothing answers at"),
        (answered("Switchover scheduled", 202), False, "202, not 200"),
    ],
)
def test_the_post_reports_patronis_status_and_reason(output: str, ok: bool, says: str) -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    ctx = _Ctx(output)
    said, check = _run_step(plan, 0, ctx)
    assert check.ok is ok
    assert says in check.detail and said == check.detail
    assert ctx.sent == [("db2", plan.steps[0].command, 35.0)]


def test_the_post_is_checked_again_just_before_on_a_fresh_view() -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    pre = plan.steps[0].pre
    assert pre is not None

    async def before(output: str) -> Check:
        assert pre is not None
        return await pre(cast(Context, _Ctx(output)))

    assert asyncio.run(before(answered(fixture("healthy")))).ok
    moved = asyncio.run(before(answered(fixture("switched"))))
    assert not moved.ok
    assert "the leader is db2 now, not db1" in moved.detail
    with pytest.raises(ActionError, match="db2: nothing answers"):
        asyncio.run(before(answered("", 0, exit=7)))


def test_the_watch_waits_through_errors_until_the_candidate_leads_and_the_old_leader_follows() -> (
    None
):
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    half = json.loads(fixture("switched"))
    half["members"][0]["state"] = "stopped"
    ctx = _Ctx(
        answered("", 0, exit=7),
        "timeout",
        answered(fixture("healthy")),
        answered(json.dumps(half)),
        answered(fixture("switched")),
    )
    said, check = _run_step(plan, 1, ctx)
    assert check.ok, check.detail
    assert said == "db2 leads; db1 is a replica, streaming"
    assert not ctx.outputs


def test_the_watch_reports_the_last_view_when_it_never_settles() -> None:
    plan = actions.plan_switchover(INV, state_with(view("healthy")), "db2")
    _, check = _run_step(plan, 1, _Ctx(answered(fixture("healthy"))))
    assert (check.ok, check.detail) == (False, "leader: db1, running")
    failover = actions.plan_failover(INV, state_with(view("healthy")), "db2")
    switched = json.loads(fixture("switched"))
    del switched["members"][0]  # the old leader is gone: a failover does not wait for it
    _, check = _run_step(failover, 1, _Ctx(answered(json.dumps(switched))))
    assert (check.ok, check.detail) == (True, "db2 leads, running")
