"""Alarm transitions told to hooks: what changed, what is told when, and real hook processes.

The rate limits run on an injected clock (no sleeps); the hooks are real
programs (small scripts in tmp_path) run by the real runner.
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

from console.alerts import SCHEMA, Alerter, Call, HookResult, Throttle, document, run_hook
from console.events import AlarmChange, alarm_changes, changes
from console.inventory import AlertHook, Alerts
from console.state.model import Alarm, ClusterState, Severity
from console.state.wording import alarm
from tests.support.labclient import eventually
from tests.support.verdict_parts import cluster_state

WEB2 = alarm("node-unhealthy", "warning", ["web2"], "web2: health check answered 503")
SPLIT = alarm("split-brain", "critical", ["db1", "db2"], "db1 and db2 both accept writes")
BOTH = AlertHook(("/bin/true",))
PAGER = AlertHook(("/bin/true",), severities=("critical",))


def _with(*alarms: Alarm, at: float = 100.0) -> ClusterState:
    return replace(cluster_state(), alarms=alarms, taken_at=at)


def _as(a: Alarm, severity: Severity, message: str | None = None) -> Alarm:
    return replace(a, severity=severity, message=message or a.message)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _told(calls: tuple[Call, ...]) -> list[tuple[str, str, str, int]]:
    return [
        (c.change.transition, c.change.alarm.code, c.change.alarm.severity, c.suppressed)
        for c in calls
    ]


# -- which transitions there are ----------------------------------------------------------


def test_raised_cleared_and_severity_changed_are_told_apart() -> None:
    before = _with(WEB2, SPLIT)
    after = _with(
        _as(WEB2, "critical", "web2: site down"), alarm("no-primary", "critical", [], "x")
    )
    found = {(c.transition, c.alarm.code, c.previous) for c in alarm_changes(before, after)}
    assert found == {
        ("severity-changed", "node-unhealthy", "warning"),
        ("raised", "no-primary", None),
        ("cleared", "split-brain", None),
    }


def test_a_new_message_for_the_same_alarm_is_no_transition() -> None:
    before = _with(WEB2)
    after = _with(replace(WEB2, message="web2: health check answered 502"))
    assert alarm_changes(before, after) == ()


def test_the_first_snapshot_raises_every_alarm_it_has() -> None:
    assert [c.transition for c in alarm_changes(None, _with(WEB2, SPLIT))] == ["raised", "raised"]


def test_the_timeline_still_tells_raised_and_cleared_alarms_the_same_way() -> None:
    said = [e.text for e in changes(_with(WEB2), _with(SPLIT))]
    assert "ALARM db1 and db2 both accept writes" in said
    assert "cleared: web2 is healthy again" in said


# -- the document -------------------------------------------------------------------------


def test_the_document_carries_the_alarm_and_where_it_is() -> None:
    change = AlarmChange("severity-changed", _as(WEB2, "critical"), "warning")
    doc = document(change, "shop", "production", 1796601600.0, suppressed=2, queued=1)
    assert json.loads(json.dumps(doc)) == {
        "schema": SCHEMA,
        "transition": "severity-changed",
        "code": "node-unhealthy",
        "severity": "critical",
        "previous_severity": "warning",
        "subject": ["web2"],
        "message": "web2: health check answered 503",
        "summary": "[production] CRITICAL (was warning): web2: health check answered 503",
        "at": "2026-12-07T00:00:00Z",
        "at_epoch": 1796601600.0,
        "cluster": "shop",
        "environment": "production",
        "suppressed": 2,
        "queued": 1,
        "standing": False,
    }


def test_a_cleared_alarm_is_summed_up_in_words_and_a_hostile_message_stays_one_line() -> None:
    doc = document(AlarmChange("cleared", WEB2), "shop", "prod", 0.0)
    assert doc["summary"] == "[prod] CLEARED: web2 is healthy again"
    evil = alarm("box-stale", "critical", ["web1"], "web1 said \x1b[2J\nrm -rf /")
    doc = document(AlarmChange("raised", evil), "shop", "prod", 0.0)
    assert "\n" not in doc["summary"] and "\x1b" not in doc["summary"]
    assert doc["message"] == evil.message  # exact in its own field; JSON escapes it


# -- rate limiting ---------------------------------------------------------------------------


def test_one_call_per_alarm_per_interval_and_the_clear_is_told_when_it_ends() -> None:
    clock = Clock()
    throttle = Throttle(Alerts(hooks=(BOTH,), min_interval=60), clock)
    assert _told(throttle.step(alarm_changes(None, _with(WEB2)), 100.0)) == [
        ("raised", "node-unhealthy", "warning", 0)
    ]
    clock.now += 5
    assert throttle.step(alarm_changes(_with(WEB2), _with()), 105.0) == ()  # held
    assert throttle.pending() == 1
    clock.now += 54
    assert throttle.step((), 159.0) == ()
    clock.now += 1  # 60 s after the raise was told
    calls = throttle.step((), 160.0)
    assert _told(calls) == [("cleared", "node-unhealthy", "warning", 0)]
    assert calls[0].at == 105.0  # when it cleared, not when it was told
    assert throttle.pending() == 0


def test_a_flap_is_folded_and_counted_in_the_next_call() -> None:
    clock = Clock()
    throttle = Throttle(Alerts(hooks=(BOTH,), min_interval=60), clock)
    throttle.step(alarm_changes(None, _with(WEB2)), 100.0)
    states = [_with(WEB2), _with(), _with(WEB2), _with(), _with(WEB2), _with()]
    for before, after in itertools.pairwise(states):
        clock.now += 2
        assert throttle.step(alarm_changes(before, after), 100.0) == ()
    clock.now += 60
    # raised, then 5 transitions: told once, as cleared (where it ended), 4 folded into it.
    assert _told(throttle.step((), 170.0)) == [("cleared", "node-unhealthy", "warning", 4)]


def test_a_flap_that_ends_where_it_began_calls_no_one_and_is_counted_later() -> None:
    clock = Clock()
    throttle = Throttle(Alerts(hooks=(BOTH,), min_interval=60), clock)
    throttle.step(alarm_changes(None, _with(WEB2)), 100.0)
    clock.now += 2
    throttle.step(alarm_changes(_with(WEB2), _with()), 102.0)
    clock.now += 2
    throttle.step(alarm_changes(_with(), _with(WEB2)), 104.0)
    clock.now += 100
    assert throttle.step((), 204.0) == () and throttle.pending() == 0
    calls = throttle.step(alarm_changes(_with(WEB2), _with()), 205.0)
    assert _told(calls) == [("cleared", "node-unhealthy", "warning", 2)]


def test_becoming_critical_is_told_at_once_whatever_the_interval() -> None:
    clock = Clock()
    throttle = Throttle(Alerts(hooks=(BOTH,), min_interval=60), clock)
    throttle.step(alarm_changes(None, _with(WEB2)), 100.0)
    clock.now += 1
    worse = _with(_as(WEB2, "critical"))
    calls = throttle.step(alarm_changes(_with(WEB2), worse), 101.0)
    assert [(c.change.transition, c.change.previous) for c in calls] == [
        ("severity-changed", "warning")
    ]
    clock.now += 1  # and back to a warning: that waits for the interval
    assert throttle.step(alarm_changes(worse, _with(WEB2)), 102.0) == ()


def test_a_pager_for_critical_alarms_hears_only_of_them_and_when_they_stop_being_critical() -> None:
    clock = Clock()
    throttle = Throttle(Alerts(hooks=(PAGER,), min_interval=0), clock)
    assert throttle.step(alarm_changes(None, _with(WEB2)), 100.0) == ()  # a warning
    worse = _with(_as(WEB2, "critical"))
    assert _told(throttle.step(alarm_changes(_with(WEB2), worse), 101.0)) == [
        ("severity-changed", "node-unhealthy", "critical", 0)
    ]
    calls = throttle.step(alarm_changes(worse, _with(WEB2)), 102.0)
    assert [(c.change.transition, c.change.alarm.severity, c.change.previous) for c in calls] == [
        ("severity-changed", "warning", "critical")
    ]
    assert throttle.step(alarm_changes(_with(WEB2), _with()), 103.0) == ()  # a warning's clear


def test_the_cap_per_minute_holds_a_storm_and_sends_critical_first() -> None:
    clock = Clock()
    throttle = Throttle(Alerts(hooks=(BOTH,), min_interval=0, max_per_minute=3), clock)
    storm = tuple(alarm("node-unhealthy", "warning", [f"web{i}"], f"web{i} down") for i in range(9))
    first = throttle.step(alarm_changes(None, _with(*storm, SPLIT)), 100.0)
    assert first[0].change.alarm.code == "split-brain"
    assert len(first) == 3 and {c.queued for c in first} == {7}
    clock.now += 59
    assert throttle.step((), 159.0) == ()
    clock.now += 1
    assert len(throttle.step((), 160.0)) == 3
    clock.now += 60
    assert len(throttle.step((), 220.0)) == 3 and throttle.pending() == 1


def test_the_first_snapshots_alarms_are_marked_standing() -> None:
    throttle = Throttle(Alerts(hooks=(BOTH,)), Clock())
    (call,) = throttle.step(alarm_changes(None, _with(SPLIT)), 100.0, standing=True)
    assert call.standing


# -- real hooks --------------------------------------------------------------------------


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_hook_reads_the_document_on_its_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    hook = _script(
        tmp_path, "hook", f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())\n"
    )
    results: list[HookResult] = []
    alerter = Alerter(Alerts(hooks=(AlertHook((str(hook),), timeout=30),)), report=results.append)

    async def go() -> None:
        alerter.update(_with(SPLIT))
        await alerter.close()

    asyncio.run(go())
    (result,) = results
    assert result.ok and result.exit_status == 0 and result.problem is None, result
    assert (result.code, result.transition) == ("split-brain", "raised")
    doc = json.loads(out.read_text())
    assert doc["code"] == "split-brain" and doc["standing"] is True
    assert (doc["cluster"], doc["environment"]) == ("lab", "lab")
    assert alerter.calls == 1 and alerter.failures == 0 and list(alerter.recent) == results


def test_a_failing_hook_is_a_result_with_its_status_and_last_line(tmp_path: Path) -> None:
    hook = _script(tmp_path, "fails", "import sys; print('paging API said 401'); sys.exit(3)\n")
    result = asyncio.run(run_hook([str(hook)], b"{}", 30))
    assert not result.ok and result.exit_status == 3
    assert result.problem == "exited with status 3: paging API said 401"


def test_a_hook_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    hook = _script(
        tmp_path,
        "hangs",
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n",
    )
    result = asyncio.run(run_hook([str(hook)], b"{}", 2))
    assert not result.ok and result.exit_status == -9
    assert result.problem is not None and result.problem.startswith("killed after 2 s")
    child = int(pidfile.read_text())
    # SIGKILL is sent to the group at once; the kernel ends each process a moment later.
    assert eventually(lambda: _proc_state(child) in ("Z", "X", "gone"), timeout=10)


def _proc_state(pid: int) -> str:
    """The process's state letter (Z: a zombie, dead), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"


def test_a_hook_that_does_not_exist_or_cannot_run_is_a_result(tmp_path: Path) -> None:
    missing = asyncio.run(run_hook([str(tmp_path / "nope")], b"{}", 5))
    assert not missing.ok and missing.exit_status is None
    assert missing.problem == f"not found: {tmp_path / 'nope'}"
    assert "in PATH" in str(asyncio.run(run_hook(["hotspare-no-such-hook"], b"{}", 5)).problem)
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    denied = asyncio.run(run_hook([str(plain)], b"{}", 5))
    assert denied.problem is not None and "cannot be run" in denied.problem


def test_a_hook_that_leaves_a_child_running_is_done_when_it_exits(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    hook = _script(
        tmp_path,
        "forks",
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('sent in the background')\n",
    )
    try:
        result = asyncio.run(run_hook([str(hook)], b"{}", 60))
        assert result.ok and result.output == "sent in the background", result
    finally:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_a_hook_that_ignores_its_stdin_is_fine(tmp_path: Path) -> None:
    hook = _script(tmp_path, "quiet", "pass\n")
    assert asyncio.run(run_hook([str(hook)], b"x" * 1_000_000, 30)).ok


def test_update_returns_at_once_while_a_slow_hook_runs(tmp_path: Path) -> None:
    hook = _script(tmp_path, "slow", "import time; time.sleep(600)\n")
    alerter = Alerter(Alerts(hooks=(AlertHook((str(hook),), timeout=1),)))

    async def go() -> tuple[int, int]:
        calls = alerter.update(_with(SPLIT))
        running = alerter.running  # the call is a task: update did not wait for it
        await alerter.close()
        return len(calls), running

    assert asyncio.run(go()) == (1, 1)
    (result,) = alerter.recent
    assert not result.ok and result.problem is not None and "killed after 1 s" in result.problem


# -- the documentation --------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "monitoring.md"


def _block(language: str, starting: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)
    return next(b for b in blocks if b.lstrip().startswith(starting))


def test_the_documented_document_has_every_field_and_no_other() -> None:
    shown = json.loads(_block("json", "{"))
    made = document(AlarmChange("raised", WEB2), "shop", "production", 0.0)
    assert set(shown) == set(made)
    assert (
        shown["summary"]
        == document(
            AlarmChange("severity-changed", _as(WEB2, "critical"), "warning"),
            "shop",
            "production",
            0,
        )["summary"]
    )


def test_the_documented_example_hook_posts_the_summary(tmp_path: Path) -> None:
    got: list[bytes] = []

    class Chat(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    chat = http.server.HTTPServer(("127.0.0.1", 0), Chat)
    threading.Thread(target=chat.handle_request, daemon=True).start()
    hook = _script(tmp_path, "to-chat", _block("python", "#!").split("\n", 1)[1])
    doc = document(AlarmChange("raised", SPLIT), "shop", "production", 0.0, suppressed=2)
    env = {**os.environ, "CHAT_WEBHOOK_URL": f"http://127.0.0.1:{chat.server_port}/hooks/x"}
    done = subprocess.run(
        [str(hook)], input=json.dumps(doc), env=env, capture_output=True, text=True, timeout=60
    )
    chat.server_close()
    assert done.returncode == 0 and done.stdout == "chat answered 200\n", done.stderr
    (posted,) = got
    said = json.loads(posted)["text"]
    assert said == "[production] CRITICAL: db1 and db2 both accept writes (2 changes in between)"
