"""Unplanned failover on the Patroni lab: the leader's Patroni and postmaster killed, timed.

Part of bench/patroni_switchover.py (which runs it after the switchovers).
Before each kill the DCS timing is set with `patronictl edit-config` (run
with a member's own patroni.yml, so it works whatever the REST API asks
for) and read back as Patroni runs it: the ttl of the leader key's etcd
lease, and each member's patroni.dynamic.json (the settings after Patroni's
own adjustments, which `show-config` does not show). A fresh writer and
watch (tests/support/dbwatch.py) run through the kill. Then the leader's
Patroni and its postmaster get SIGKILL (their pids from the lab's pid file
and postmaster.pid, nothing else is signalled), and the bench times, from
the kill: Patroni's /cluster showing another member leading and running,
and the writer's first commit after its longest gap. Every acknowledged id
must be on the new leader; what is not is counted, with when it was
acknowledged. Then the old member's Patroni is started again
(console.lab.patroni.start_member) and must stream from the new leader
before the next kill.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.common import BenchError, Run
from bench.common import timed as timed_run
from bench.promote import commits_after, gap_after, loaded, wait_for
from console.lab import faults, patroni
from console.lab.layout import LabLayout
from console.lab.procs import LabProcessError
from tests.support.dbwatch import Watch, Writer

DEFAULT = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}  # Patroni's own defaults
TIMINGS = {"default": DEFAULT, "short": dict(patroni.TIMING)}
APPLY_TIMEOUT = 60.0  # for every member to run a new timing (a loop_wait of 10 s or more)
ELECTION_TIMEOUT = 90.0
REJOIN_TIMEOUT = 180.0
PATRONICTL_ENV_DROP = ("PYTHONPATH", "VIRTUAL_ENV")


def patronictl(lab: LabLayout, member: str, *args: str) -> Run:
    """`patronictl -c MEMBER's patroni.yml ARGS` from the lab's venv, timed from spawn to exit."""
    program = patroni.venv() / "bin" / "patronictl"
    env = {k: v for k, v in os.environ.items() if k not in PATRONICTL_ENV_DROP}
    return timed_run([str(program), "-c", str(lab.patroni_config(member)), *args], env)


def healthy(lab: LabLayout, timeout: float = REJOIN_TIMEOUT) -> str:
    """Wait until one member leads and every other streams, in Patroni's view; the leader."""
    found: list[str] = []

    def settled() -> bool:
        ahead = patroni.leader(lab)
        others = {db for db in lab.db_names if db != ahead}
        found[:] = [ahead] if ahead else []
        return ahead is not None and patroni.streaming(lab) == others

    wait_for(settled, "one Patroni leader and every other member streaming", timeout)
    return found[0]


# Timing -----------------------------------------------------------------------------------


def leader_key(lab: LabLayout) -> str:
    """The etcd key of the leader lock, from db1's patroni.yml (its namespace and scope)."""
    config = yaml.safe_load(lab.patroni_config(lab.db_names[0]).read_text())
    return f"/{config['namespace'].strip('/')}/{config['scope']}/leader"


def lease(lab: LabLayout) -> tuple[int, int] | None:
    """The etcd lease that holds the leader key: its granted ttl (the ttl Patroni runs) and the
    seconds it has left, or None if no etcd member tells."""
    key = leader_key(lab).encode()
    for db in lab.db_names:
        try:
            found = _etcd(lab, db, "kv/range", {"key": base64.b64encode(key).decode()})
            held = found["kvs"][0]["lease"]
            said = _etcd(lab, db, "lease/timetolive", {"ID": held})
            return int(said["grantedTTL"]), int(said["TTL"])
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return None


def _etcd(lab: LabLayout, db: str, path: str, body: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{lab.etcd_url(db)}/v3/{path}", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        answer = json.loads(response.read())
    if not isinstance(answer, dict):
        raise ValueError(f"etcd answered {answer!r}")
    return answer


def running_timing(lab: LabLayout) -> dict[str, int] | None:
    """The timing every member runs (patroni.dynamic.json) with the lease's ttl; None if they
    do not all agree yet."""
    seen = []
    for db in lab.db_names:
        try:
            cached = json.loads((lab.data_dir(db) / "patroni.dynamic.json").read_text())
        except (OSError, ValueError):
            return None
        seen.append({k: cached.get(k) for k in DEFAULT})
    held = lease(lab)
    if held is None or any(s != seen[0] for s in seen) or seen[0]["ttl"] != held[0]:
        return None
    return seen[0]


def set_timing(lab: LabLayout, name: str) -> tuple[dict[str, int], dict[str, int]]:
    """Have Patroni run timing NAME; what it was asked (show-config) and what every member runs."""
    asked = TIMINGS[name]
    sets = [arg for k, v in asked.items() for arg in ("-s", f"{k}={v}")]
    run = patronictl(lab, lab.db_names[0], "edit-config", "--force", *sets)
    if run.returncode != 0:
        raise BenchError(f"patronictl edit-config exited {run.returncode}: {run.stderr}")
    wanted = {**asked, "ttl": max(asked["ttl"], 20)}  # Patroni raises a ttl below 20 to 20
    wait_for(lambda: running_timing(lab) == wanted, f"every member runs {wanted}", APPLY_TIMEOUT)
    shown = yaml.safe_load(patronictl(lab, lab.db_names[0], "show-config").stdout) or {}
    return {k: int(shown[k]) for k in DEFAULT if k in shown}, running_timing(lab) or {}


# The kill ---------------------------------------------------------------------------------


def kill_leader(lab: LabLayout, member: str) -> tuple[float, int]:
    """SIGKILL MEMBER's Patroni, then its postmaster; when (monotonic), and the postmaster."""
    killed = time.monotonic()
    try:
        _, pid = faults.kill_member(lab, member)
    except LabProcessError as exc:
        raise BenchError(str(exc)) from None
    return killed, pid


def new_leader(lab: LabLayout, old: str) -> tuple[str, float]:
    """Wait until Patroni shows a member other than OLD leading and running; it and when."""
    found: list[str] = []

    def elected() -> bool:
        ahead = patroni.leader(lab)
        found[:] = [ahead] if ahead and ahead != old else []
        return bool(found)

    wait_for(elected, f"a new Patroni leader after {old} was killed", ELECTION_TIMEOUT)
    return found[0], time.monotonic()


@dataclass
class Failover:
    """One kill of the leader, and what the writer and Patroni showed."""

    timing: str
    old: str
    new: str = ""
    asked: dict[str, int] = field(default_factory=dict)
    effective: dict[str, int] = field(default_factory=dict)
    lease_left: int = 0  # seconds the leader key's lease had left just before the kill
    new_leader: float = 0.0  # from the kill until Patroni shows the new leader running
    writes_back: float = 0.0  # from the kill until the writer's first commit after its gap
    acked_after_kill_ms: list[float] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    lost_ms: list[float] = field(default_factory=list)  # when each lost commit was acked
    acked: int = 0
    errors: int = 0
    two_writable: int = 0
    back: float = 0.0  # from Patroni's restart until the old member streams again
    reinit: bool = False

    def line(self) -> str:
        lost = (
            f"LOST {len(self.lost)} (acked {self.lost_ms} ms after the kill)" if self.lost else ""
        )
        return (
            f"failover {self.timing:7} {self.old}->{self.new}  lease left {self.lease_left:2} s"
            f"  new leader {self.new_leader:5.1f} s"
            f"  writes back {self.writes_back:5.1f} s  acked after kill "
            f"{len(self.acked_after_kill_ms)}  lost {len(self.lost)}  two writable "
            f"{self.two_writable}  old streams {self.back:5.1f} s after restart"
            f"{' (reinit)' if self.reinit else ''}  {lost}"
        )


def measure(lab: LabLayout, timing: str) -> Failover:
    """Set TIMING, kill the leader under the writer's load, time the election, bring it back."""
    healthy(lab)
    asked, effective = set_timing(lab, timing)
    old = healthy(lab)
    failover = Failover(timing, old, asked=asked, effective=effective)
    writer, watch = loaded(lab)
    try:
        held = lease(lab)
        failover.lease_left = held[1] if held else -1
        killed, pid = kill_leader(lab, old)
        failover.new, elected = new_leader(lab, old)
        failover.new_leader = elected - killed
        commits_after(writer, elected)
    finally:
        writer.stop()
        watch.stop()
    tally(failover, writer, watch, killed)
    failover.back, failover.reinit = bring_back(lab, old, failover.new, pid)
    return failover


def tally(failover: Failover, writer: Writer, watch: Watch, killed: float) -> None:
    """Fill FAILOVER from the stopped WRITER and WATCH; the kill was at KILLED."""
    begin, end = gap_after(writer, killed)
    failover.writes_back = end - killed
    failover.acked_after_kill_ms = [
        round((t - killed) * 1000, 1) for _, t in writer.acked if killed < t <= begin
    ]
    failover.lost = writer.missing_on(failover.new)
    when = dict(writer.acked)
    failover.lost_ms = [round((when[i] - killed) * 1000, 1) for i in failover.lost]
    failover.acked, failover.errors = len(writer.acked), writer.errors
    failover.two_writable = len(watch.both_writable())


def bring_back(lab: LabLayout, old: str, new: str, pid: int) -> tuple[float, bool]:
    """Start OLD's Patroni again once its killed postmaster is gone; seconds until it streams
    from NEW, and whether it had to be re-initialised (`patronictl reinit`) for that."""
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), f"{old}'s killed postmaster gone", 60)
    started = time.monotonic()
    patroni.start_member(lab, old)
    reinit = not _settles(lab)
    if reinit:
        print(f"{old} did not stream again by itself: patronictl reinit", flush=True)
        run = patronictl(lab, new, "reinit", "--force", "--wait", patroni.scope(lab), old)
        if run.returncode != 0:
            raise BenchError(f"patronictl reinit {old} exited {run.returncode}: {run.stderr}")
        healthy(lab, REJOIN_TIMEOUT)
    if patroni.leader(lab) != new:
        raise BenchError(f"{new} no longer leads after {old} came back")
    return time.monotonic() - started, reinit


def _settles(lab: LabLayout) -> bool:
    try:
        healthy(lab, REJOIN_TIMEOUT)
    except BenchError:
        return False
    return True
