"""node hot|warm and scheduler move, against the real lab: what the actions claim is what is true.

Every lab test here restores the lab's role files and balancer states in a
finally, whatever the action did. The lab's sweep runs every 3 s
(console/lab/control.py), so a scheduler move takes about 3.3 s: the move
waits until the sweep's next run was due before it starts the new scheduler.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console import cli, node_role
from console.lab.layout import LabLayout
from console.probes.haproxy import admin_state, parse_servers_state, parse_stat
from tests.support.labclient import db, eventually, haproxy, http

WEB = ("web1", "web2", "web3")
SWEEP_INTERVAL = 3.0  # the lab's --sweep-interval (console/lab/control.py)
# The move starts the new scheduler only once the sweep's next run was due
# and 0.15 s more have shown none came; then it reads every /role and writes
# the new role file (about 0.1 s in the lab). So a hand-over's gap may pass
# two intervals by that much, never by more than this.
HANDOVER = 0.5


# --- the command line ------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """The lab as one test acts on it."""

    lab: LabLayout
    cluster: Path
    audit: Path
    capsys: pytest.CaptureFixture[str]

    def hotspare(self, *argv: str) -> tuple[int, dict[str, Any]]:
        """Run hotspare with --json; its exit status and what it printed."""
        self.capsys.readouterr()
        status = cli.main(
            ["--cluster", str(self.cluster), *argv, "--json"],
        )
        out = self.capsys.readouterr().out
        return status, (json.loads(out) if out.strip() else {})

    def audit_records(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def role(self, node: str) -> node_role.NodeRole:
        return node_role.read(self.lab.role_file(node))

    def site_role(self, node: str) -> dict[str, Any]:
        status, body = http(self.lab.node_url(node) + "role")
        assert status == 200, body
        answer: dict[str, Any] = json.loads(body)
        return answer

    def hook_lines(self, node: str) -> list[str]:
        path = self.lab.box_dir(node) / "log" / "hooks.log"
        return path.read_text().splitlines() if path.exists() else []


def _outcomes(site: Site) -> list[dict[str, Any]]:
    """Each action's outcome in the audit log (not its intent nor its steps' records)."""
    return [r for r in site.audit_records() if "outcome" in r]


def _servers(lab: LabLayout) -> dict[str, dict[str, str]]:
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    return {r["svname"]: r for r in rows if r.get("pxname") == "site" and r["svname"] in WEB}


def _admin(lab: LabLayout) -> dict[str, str]:
    states = parse_servers_state(asyncio.run(haproxy(lab, "show servers state site")))
    return {name: admin_state(bits) for name, bits in states.items()}


def _saved_admin(lab: LabLayout) -> dict[str, str]:
    states = parse_servers_state(lab.state_file().read_text())
    return {name: admin_state(bits) for name, bits in states.items()}


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".test-restore")
    temporary.write_bytes(data)
    temporary.chmod(0o644)
    temporary.replace(path)


def _site_says(lab: LabLayout, node: str, scheduler: bool) -> Callable[[], bool]:
    def check() -> bool:
        return bool(json.loads(http(lab.node_url(node) + "role")[1])["scheduler"] == scheduler)

    return check


def _restore(lab: LabLayout, roles: dict[str, bytes], admin: dict[str, str]) -> None:
    """Put the role files and balancer states back as they were; wait until the sites agree."""
    for node, data in roles.items():
        if lab.role_file(node).read_bytes() != data:
            _write_atomically(lab.role_file(node), data)
    if _admin(lab) != admin:
        for server, state in admin.items():
            asyncio.run(haproxy(lab, f"set server site/{server} state {state}"))
        lab.state_file().write_text(asyncio.run(haproxy(lab, "show servers state")))
    for node, data in roles.items():
        eventually(_site_says(lab, node, node_role.parse(data.decode()).scheduler))
    ready = [s for s, state in admin.items() if state == "ready"]
    eventually(lambda: all(_servers(lab)[s]["status"] == "UP" for s in ready), timeout=20)


@pytest.fixture
def site(
    lab: LabLayout,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Site]:
    """The lab with hooks that leave a line in each node's log dir, audited to a temp file."""
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(audit))
    hook = f"{{node}} {{role}} {{address}} >> {lab.root}/boxes/{{node}}/log/hooks.log"
    text = lab.cluster_file.read_text()
    text = text.replace("after_role_change: null", f"after_role_change: echo role {hook}")
    text = text.replace("after_scheduler_move: null", f"after_scheduler_move: echo move {hook}")
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(text)
    roles = {node: lab.role_file(node).read_bytes() for node in WEB}
    admin = _admin(lab)
    hook_logs = [lab.box_dir(node) / "log" / "hooks.log" for node in WEB]
    for path in hook_logs:
        path.unlink(missing_ok=True)
    try:
        yield Site(lab, cluster, audit, capsys)
    finally:
        _restore(lab, roles, admin)
        for path in hook_logs:
            path.unlink(missing_ok=True)


def _unchanged(site: Site, roles: dict[str, bytes], admin: dict[str, str]) -> None:
    assert {n: site.lab.role_file(n).read_bytes() for n in WEB} == roles
    assert _admin(site.lab) == admin


def _logged_in(site: Site, node: str) -> str:
    """Make a marked request to NODE directly; the role of the access log it landed in."""
    token = f"t{secrets.token_hex(6)}"
    assert http(site.lab.node_url(node) + f"?{token}")[0] == 200
    logs = {
        role: site.lab.box_dir(node) / "log" / f"access.{role}.{node}.log"
        for role in ("hot", "warm")
    }

    def found() -> list[str]:
        return [r for r, p in logs.items() if p.exists() and token in p.read_text()]

    return str(eventually(lambda: found() and "+".join(found())))


# --- lab tests -------------------------------------------------------------------


@pytest.mark.lab
def test_warm_and_back_to_hot(site: Site) -> None:
    lab = site.lab
    status, warm = site.hotspare("node", "warm", "web2", "--yes")
    assert status == 0, warm
    assert warm["outcome"] == "done" and warm["plan"]["way_back"] == "hotspare node hot web2"
    assert _admin(lab)["web2"] == "maint" and _saved_admin(lab)["web2"] == "maint"
    assert _servers(lab)["web2"]["status"] == "MAINT"
    assert site.role("web2") == node_role.NodeRole(role="warm", scheduler=False, mail="log")
    assert site.site_role("web2")["effective_mail"] == "log"
    assert _logged_in(site, "web2") == "warm"
    assert site.hook_lines("web2") == [f"role web2 warm {lab.address('web2')}"]
    # Its mail goes to its log, never to the relay.
    subject = f"note {secrets.token_hex(4)}"
    assert http(lab.node_url("web2") + "notes", {"body": subject})[0] == 200  # 303 to / followed
    mail_log = lab.box_dir("web2") / "log" / "mail.web2.log"
    eventually(lambda: mail_log.exists() and subject in mail_log.read_text())
    assert "=== mail LOGGED: mail=log ===" in mail_log.read_text()
    assert not any(subject in m.read_text() for m in lab.mail_dir.glob("*.eml"))

    status, hot = site.hotspare("node", "hot", "web2", "--yes")
    assert status == 0, hot
    assert _admin(lab)["web2"] == "ready" and _saved_admin(lab)["web2"] == "ready"
    assert _servers(lab)["web2"]["status"] == "UP"
    assert site.role("web2") == node_role.NodeRole(role="hot", scheduler=False, mail="log")
    assert _logged_in(site, "web2") == "hot"
    assert site.hook_lines("web2")[-1] == f"role web2 hot {lab.address('web2')}"
    records = _outcomes(site)
    assert [(r["action"], r["target"], r["outcome"]) for r in records] == [
        ("node warm", "web2", "done"),
        ("node hot", "web2", "done"),
    ]


@pytest.mark.lab
def test_a_failing_hook_stops_the_action_and_says_the_way_back(site: Site) -> None:
    text = site.cluster.read_text()
    site.cluster.write_text(
        text.replace("after_role_change: echo role", "after_role_change: false")
    )
    status, outcome = site.hotspare("node", "warm", "web2", "--yes")
    assert status == 1 and outcome["outcome"] == "failed"
    assert outcome["reason"].startswith("stopped at step 6 (Run hook after_role_change on web2)")
    assert outcome["reason"].endswith("way back: hotspare node hot web2")
    assert [r["ok"] for r in outcome["steps"]] == [True] * 5 + [False]
    assert _admin(site.lab)["web2"] == "maint" and site.role("web2").role == "warm"
    assert [r["outcome"] for r in _outcomes(site)] == ["failed"]


@pytest.mark.lab
def test_the_scheduler_cannot_be_made_warm(site: Site) -> None:
    roles = {n: site.lab.role_file(n).read_bytes() for n in WEB}
    admin = _admin(site.lab)
    status, outcome = site.hotspare("node", "warm", "web1", "--yes")
    assert status == 3
    assert outcome["outcome"] == "refused"
    assert "web1 is the scheduler" in outcome["reason"]
    assert "hotspare scheduler move web2" in outcome["reason"]
    _unchanged(site, roles, admin)
    assert [r["outcome"] for r in _outcomes(site)] == ["refused"]


@pytest.mark.lab
def test_dry_runs_change_nothing(site: Site) -> None:
    roles = {n: site.lab.role_file(n).read_bytes() for n in WEB}
    admin = _admin(site.lab)
    for argv in (("node", "warm", "web2"), ("node", "hot", "web3"), ("scheduler", "move", "web2")):
        status, planned = site.hotspare(*argv, "--dry-run")
        assert status == 0 and planned["dry_run"] is True
        assert planned["plan"]["steps"] and planned["plan"]["refusals"] == []
    _unchanged(site, roles, admin)
    assert _outcomes(site) == []


@pytest.mark.lab
def test_an_observer_is_refused_and_audited(site: Site) -> None:
    roles = {n: site.lab.role_file(n).read_bytes() for n in WEB}
    admin = _admin(site.lab)
    for argv in (("node", "warm", "web2"), ("scheduler", "move", "web2")):
        status, outcome = site.hotspare("--observe", *argv, "--yes")
        assert status == 3 and outcome["outcome"] == "refused"
        assert "observer mode" in outcome["reason"]
    _unchanged(site, roles, admin)
    records = _outcomes(site)
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("node warm", "refused"),
        ("scheduler move", "refused"),
    ]


@pytest.mark.lab
def test_a_move_to_the_scheduler_itself_only_checks_and_unknown_nodes_are_refused(
    site: Site,
) -> None:
    status, outcome = site.hotspare("scheduler", "move", "web1", "--yes")
    assert status == 0 and outcome["plan"]["summary"].startswith("web1 is already the scheduler")
    titles = [s["title"] for s in outcome["steps"]]
    assert titles == ["Check that exactly one node is the scheduler"]
    assert site.hotspare("scheduler", "move", "web9", "--yes")[0] == 2
    assert [r["outcome"] for r in _outcomes(site)] == ["done"]


class _SchedulerWatch:
    """Reads every node's /role over and over: how many said scheduler at each moment."""

    def __init__(self, lab: LabLayout) -> None:
        self.lab = lab
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            said = [json.loads(http(self.lab.node_url(n) + "role")[1])["scheduler"] for n in WEB]
            self.most = max(self.most, sum(said))
            self.samples += 1
            time.sleep(0.02)

    def __enter__(self) -> _SchedulerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _runs_since(lab: LabLayout, first: int) -> list[tuple[str, float]]:
    with db(lab, "db1") as conn:
        rows = conn.execute(
            "SELECT node, extract(epoch FROM ran_at)::float8 FROM sweep_runs"
            " WHERE id > %s ORDER BY id",
            (first,),
        ).fetchall()
    return [(str(node), float(at)) for node, at in rows]


def _last_run_id(lab: LabLayout) -> int:
    with db(lab, "db1") as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM sweep_runs").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.lab
def test_scheduler_moves_to_web2_and_back_while_the_sweep_runs(site: Site) -> None:
    lab = site.lab
    first = max(0, _last_run_id(lab) - 3)  # a few runs before the move, to see its rhythm
    eventually(lambda: len(_runs_since(lab, first)) >= 3, timeout=10)
    with _SchedulerWatch(lab) as watch:
        status, there = site.hotspare("scheduler", "move", "web2", "--yes")
        assert status == 0, there
        assert there["plan"]["way_back"] == "hotspare scheduler move web1"
        # Back once web2 has run: a move back before that leaves the sweep idle longer.
        eventually(lambda: [n for n, _ in _runs_since(lab, first)][-1:] == ["web2"], timeout=10)
        status, back = site.hotspare("scheduler", "move", "web1", "--yes")
        assert status == 0, back
        eventually(lambda: [n for n, _ in _runs_since(lab, first)][-1:] == ["web1"], timeout=10)
    assert watch.samples > 50 and watch.most == 1
    runs = _runs_since(lab, first)
    nodes = [node for node, _ in runs]
    assert [node for node, _ in itertools.groupby(nodes)] == ["web1", "web2", "web1"]
    # The sweep's real rhythm: its interval plus the time each run takes.
    interval = statistics.median(b - a for (n1, a), (n2, b) in itertools.pairwise(runs) if n1 == n2)
    gaps = [round(b - a, 3) for (_, a), (_, b) in itertools.pairwise(runs)]
    assert SWEEP_INTERVAL <= interval < SWEEP_INTERVAL + 0.3, gaps
    assert min(gaps) >= SWEEP_INTERVAL, gaps  # at most one run per interval
    assert max(gaps) <= 2 * interval + HANDOVER, gaps  # no gap longer than two intervals
    assert site.role("web1").mail == "real" and site.role("web2").mail == "log"
    web2 = f"web2 hot {lab.address('web2')}"
    assert site.hook_lines("web2") == [f"role {web2}", f"move {web2}", f"role {web2}"]
    assert [r["outcome"] for r in _outcomes(site)] == ["done", "done"]


@pytest.mark.lab
def test_a_warm_node_becomes_scheduler_only_with_its_name_typed(site: Site) -> None:
    roles = {n: site.lab.role_file(n).read_bytes() for n in WEB}
    admin = _admin(site.lab)
    status, outcome = site.hotspare("scheduler", "move", "web3", "--yes")
    assert status == 3 and "'web3' typed" in outcome["reason"]
    _unchanged(site, roles, admin)

    status, outcome = site.hotspare("scheduler", "move", "web3", "--confirm", "web3")
    assert status == 0, outcome
    assert outcome["plan"]["way_back"] == "hotspare scheduler move web1"
    flags = site.site_role("web3")
    assert flags["role"] == "warm" and flags["scheduler"] is True
    assert flags["mail"] == "log" and flags["effective_mail"] == "log"
    assert site.role("web1").scheduler is False and site.role("web1").mail == "log"

    status, outcome = site.hotspare("scheduler", "move", "web1", "--yes")
    assert status == 0, outcome
    assert site.role("web1") == node_role.NodeRole(role="hot", scheduler=True, mail="real")
    assert site.role("web3") == node_role.NodeRole(role="warm", scheduler=False, mail="log")
    assert [r["outcome"] for r in _outcomes(site)] == ["refused", "done", "done"]
