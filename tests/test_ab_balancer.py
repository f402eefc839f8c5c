"""Two backends behind one frontend (an A/B rollover's plumbing), on the real HAProxy.

The A/B lab has web1, web2 hot in backend `site` and web3, web4 warm in
`site_b`, `disabled` in haproxy.cfg; the frontend picks the backend of each
request from the flags map's `live` entry. The probe reads both backends;
`ready` acts on a node's own backend; one `set map` moves the whole site.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from console.inventory import load
from console.lab.layout import LabLayout
from console.probes.haproxy import probe_balancer
from console.state.balancer import BalancerState
from console.state.verdicts import judge
from tests.support.labclient import eventually, haproxy, hotspare, http

SERVED_BY = re.compile(r"Served by node <b>([\w.-]+)</b>")


def probe(lab: LabLayout) -> BalancerState:
    cfg = load(lab.cluster_file).balancer
    assert cfg is not None

    async def ask(command: str) -> str:
        return await haproxy(lab, command)

    return asyncio.run(probe_balancer(ask, cfg, now=1.0))


def served_by(lab: LabLayout, requests: int = 12) -> set[str]:
    """The nodes that answered REQUESTS GETs through the balancer."""
    found = set()
    for _ in range(requests):
        status, body = http(lab.site_url)
        assert status == 200, body[:200]
        match = SERVED_BY.search(body)
        assert match is not None, body[:200]
        found.add(match.group(1))
    return found


def set_live(lab: LabLayout, backend: str) -> None:
    answer = asyncio.run(haproxy(lab, f"set map {lab.flags_map()} live {backend}"))
    assert answer.strip() == "", answer


@pytest.fixture
def side_b_back(ab_lab: LabLayout) -> Iterator[None]:
    """Whatever a test does, side A is live again and web3 in MAINT afterwards."""
    yield
    set_live(ab_lab, "site")
    asyncio.run(haproxy(ab_lab, "set server site_b/web3 state maint"))
    ab_lab.state_file().write_text(asyncio.run(haproxy(ab_lab, "show servers state")))


def test_the_probe_reads_both_backends_and_side_a_is_live(ab_lab: LabLayout) -> None:
    balancer = probe(ab_lab)
    seen = {(s.backend, s.name, s.admin) for s in balancer.servers}
    assert seen == {
        ("site", "web1", "ready"),
        ("site", "web2", "ready"),
        ("site_b", "web3", "maint"),
        ("site_b", "web4", "maint"),
    }
    assert (balancer.live, balancer.live_problem) == ("site", None)
    assert served_by(ab_lab) == {"web1", "web2"}


def test_side_b_readied_serves_nothing_until_the_map_makes_it_live(
    ab_lab: LabLayout, capsys: pytest.CaptureFixture[str], side_b_back: None
) -> None:
    code, answer = hotspare(ab_lab, capsys, "ready", "web3", "--yes")
    assert code == 0, answer
    eventually(
        lambda: {s.name: s.operational for s in probe(ab_lab).servers}["web3"] == "UP",
        timeout=15,
    )
    # web3 is UP in site_b, but the site still serves from side A only.
    assert served_by(ab_lab) == {"web1", "web2"}

    set_live(ab_lab, "site_b")
    assert served_by(ab_lab) == {"web3"}
    balancer = probe(ab_lab)
    assert balancer.live == "site_b"
    inv = load(ab_lab.cluster_file)
    verdicts, alarms = judge(inv, (), balancer, (), ())
    assert (verdicts.backends_up, verdicts.backends_total) == (1, 2)
    assert "backends-down" not in [a.code for a in alarms]

    set_live(ab_lab, "site")
    assert served_by(ab_lab) == {"web1", "web2"}
    code, answer = hotspare(ab_lab, capsys, "maint", "web3", "--yes")
    assert code == 0, answer
    assert {s.name: s.admin for s in probe(ab_lab).servers}["web3"] == "maint"
