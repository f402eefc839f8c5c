"""The HAProxy probe: parsers on real captured answers, the probe on a fake and the lab.

The fixtures were captured from the lab's HAProxy 2.6: "at-rest" as `lab up`
leaves it (web3 warm, configured disabled); "drain" after `set server
site/web2 state drain`, `set server site/web1 health down` and the flags map
set to read-only with a message and a time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.inventory import Balancer
from console.inventory.loader import load
from console.lab.layout import LabLayout
from console.probes.haproxy import (
    Ask,
    BalancerProbeError,
    admin_state,
    parse_backend_states,
    parse_map,
    parse_servers_state,
    parse_stat,
    probe_balancer,
    site_flags,
)
from console.state.balancer import SiteFlags
from tests.support.labclient import haproxy

FIXTURES = Path(__file__).parent / "fixtures" / "haproxy"
MAP = "/tmp/hotspare-lab-127.0.94/boxes/lb1/etc/site-flags.map"
CFG = Balancer(
    box="lb1",
    socket="/run/haproxy.sock",
    frontend="site",
    backend="site",
    state_file="/var/lib/haproxy/server-state",
    flags_map=MAP,
    site_url=None,
)


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


def fake_ask(answers: dict[str, str]):
    async def ask(command: str) -> str:
        return answers[command]

    return ask


def captured(when: str, **override: str):
    answers = {
        "show stat": fixture(f"stat-{when}"),
        "show servers state": fixture(f"servers-state-{when}"),
        f"show map {MAP}": fixture("map-normal" if when == "at-rest" else "map-read-only"),
    }
    answers.update({k.replace("_", " "): v for k, v in override.items()})
    return fake_ask(answers)


def test_parse_stat_reads_every_row_by_header_name() -> None:
    rows = parse_stat(fixture("stat-at-rest"))
    assert [(r["pxname"], r["svname"]) for r in rows] == [
        ("site", "FRONTEND"),
        ("site", "web1"),
        ("site", "web2"),
        ("site", "web3"),
        ("site", "BACKEND"),
    ]
    web1 = rows[1]
    assert (web1["status"], web1["check_status"], web1["check_code"]) == ("UP", "L7OK", "200")
    assert web1["check_desc"] == "Layer7 check passed"


def test_parse_stat_refuses_what_is_not_csv() -> None:
    with pytest.raises(BalancerProbeError, match="did not return CSV: Unknown command"):
        parse_stat(fixture("error-unknown-command"))


def test_parse_servers_state_at_rest_and_drained() -> None:
    assert parse_servers_state(fixture("servers-state-at-rest")) == {
        "web1": 0,
        "web2": 0,
        "web3": 5,
    }
    assert parse_servers_state(fixture("servers-state-drain")) == {"web1": 0, "web2": 8, "web3": 5}


def test_parse_servers_state_refuses_an_error() -> None:
    with pytest.raises(BalancerProbeError, match="Can't find backend"):
        parse_servers_state(fixture("error-no-backend"))


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0x00, "ready"),
        (0x01, "maint"),  # FMAINT: set by the operator
        (0x02, "maint"),  # IMAINT: inherited from a tracked server
        (0x04, "ready"),  # CMAINT alone: `disabled` in haproxy.cfg, then made ready at run time
        (0x05, "maint"),  # the lab's warm web3
        (0x08, "drain"),  # FDRAIN
        (0x10, "drain"),  # IDRAIN
        (0x20, "maint"),  # RMAINT: DNS resolution failed
        (0x40, "ready"),  # HMAINT alone: its hostname was changed by the CLI; it serves
        (0x09, "maint"),  # maint wins over drain
        (0x18, "drain"),
    ],
)
def test_admin_state_bits(bits: int, expected: str) -> None:
    assert admin_state(bits) == expected


def test_parse_map_keeps_values_with_spaces() -> None:
    assert parse_map(fixture("map-normal")) == {"mode": "normal", "message": "-", "until": "-"}
    assert parse_map(fixture("map-read-only")) == {
        "mode": "read-only",
        "message": "Upgrading to 4.2, please come back soon",
        "until": "14:30 UTC",
    }
    assert parse_map("") == {}


def test_parse_map_refuses_an_error() -> None:
    with pytest.raises(BalancerProbeError, match="Unknown map identifier"):
        parse_map(fixture("error-no-map"))


def test_site_flags_dash_and_missing_are_none() -> None:
    assert site_flags(parse_map(fixture("map-normal"))) == SiteFlags("normal", None, None)
    assert site_flags({}) == SiteFlags("normal", None, None)
    assert site_flags({"mode": "maintenance", "until": "18:00"}) == SiteFlags(
        "maintenance", None, "18:00"
    )


def test_an_unknown_mode_reads_as_normal_with_a_problem() -> None:
    # HAProxy acts only on the exact words: a typo leaves the site taking writes.
    flags = site_flags({"mode": "readonly", "message": "back soon"})
    assert (flags.mode, flags.message) == ("normal", "back soon")
    assert flags.problem is not None and "'readonly'" in flags.problem


def test_probe_balancer_at_rest() -> None:
    balancer = asyncio.run(probe_balancer(captured("at-rest"), CFG, now=100.0))
    assert (balancer.box, balancer.observed_at, balancer.frontend) == ("lb1", 100.0, "site")
    assert balancer.flags == SiteFlags("normal", None, None)
    # 20 requests sent just before the capture: req_rate counts the last second.
    assert (balancer.frontend_request_rate, balancer.frontend_sessions) == (20, 0)
    web1, web2, web3 = balancer.servers
    assert (web1.name, web1.admin, web1.operational) == ("web1", "ready", "UP")
    assert (web1.check_status, web1.check_code, web1.check_duration_ms) == ("L7OK", 200, 7)
    assert (web1.weight, web1.last_change_s, web1.queue, web1.http_5xx) == (1, 9, 0, 0)
    assert web1.max_sessions == 1
    assert (web2.admin, web2.operational) == ("ready", "UP")
    assert (web3.admin, web3.operational, web3.check_status, web3.check_code) == (
        "maint",
        "MAINT",
        "",
        None,
    )


def test_probe_balancer_drained_and_down() -> None:
    balancer = asyncio.run(probe_balancer(captured("drain"), CFG, now=100.0))
    states = {s.name: (s.admin, s.operational) for s in balancer.servers}
    assert states == {
        "web1": ("ready", "DOWN 1/2"),
        "web2": ("drain", "DRAIN"),
        "web3": ("maint", "MAINT"),
    }
    assert balancer.flags == SiteFlags(
        "read-only", "Upgrading to 4.2, please come back soon", "14:30 UTC"
    )


def test_a_check_in_progress_shows_the_last_result() -> None:
    # HAProxy prefixes "* " while a check runs; the capture had none, so patch one in.
    stat = fixture("stat-at-rest").replace(",L7OK,200,", ",* L7OK,200,", 1)
    balancer = asyncio.run(probe_balancer(captured("at-rest", show_stat=stat), CFG, now=0.0))
    assert balancer.servers[0].check_status == "L7OK"


def test_a_server_missing_from_the_state_answer_takes_its_status_word() -> None:
    state = "\n".join(fixture("servers-state-drain").splitlines()[:2]) + "\n"
    balancer = asyncio.run(
        probe_balancer(captured("drain", show_servers_state=state), CFG, now=0.0)
    )
    assert [s.admin for s in balancer.servers] == ["ready", "drain", "maint"]


@pytest.mark.parametrize(
    ("command", "answer", "words"),
    [
        ("show stat", "error-unknown-command", "balancer.socket"),
        ("show servers state", "error-unknown-command", "balancer.socket"),
        (f"show map {MAP}", "error-no-map", "balancer.flags_map"),
        ("show stat", "error-permission", "balancer.socket"),
    ],
)
def test_refusals_name_the_key_to_check(command: str, answer: str, words: str) -> None:
    text = "Permission denied\n\n" if answer == "error-permission" else fixture(answer)
    ask = captured("at-rest", **{command.replace(" ", "_"): text})
    with pytest.raises(BalancerProbeError, match=words) as caught:
        asyncio.run(probe_balancer(ask, CFG, now=0.0))
    assert f"`{command}`" in str(caught.value)


def test_an_unknown_backend_is_named() -> None:
    stat = "\n".join(
        line for line in fixture("stat-at-rest").splitlines() if not line.startswith("site,BACK")
    )
    with pytest.raises(BalancerProbeError, match=r"no backend named 'site'.*balancer.backend"):
        asyncio.run(probe_balancer(captured("at-rest", show_stat=stat), CFG, now=0.0))


def _two_backends(live: str | None) -> tuple[Balancer, Ask]:
    """The at-rest capture with web3 moved to backend site_b, and the map's live entry."""
    stat = fixture("stat-at-rest").replace("site,web3,", "site_b,web3,")
    backend_row = next(r for r in stat.splitlines() if r.startswith("site,BACKEND,"))
    stat += backend_row.replace("site,", "site_b,", 1) + "\n"
    state = fixture("servers-state-at-rest").replace("3 site 3 web3", "4 site_b 1 web3")
    flags = fixture("map-normal") + (f"0x55aa live {live}\n" if live else "")
    cfg = Balancer(**{**CFG.__dict__, "backends": ("site", "site_b")})
    return cfg, captured(
        "at-rest", show_stat=stat, show_servers_state=state, **{f"show_map_{MAP}": flags}
    )


def test_parse_backend_states_keys_by_backend_and_server() -> None:
    state = fixture("servers-state-at-rest").replace("3 site 3 web3", "4 site_b 1 web3")
    assert parse_backend_states(state) == {
        ("site", "web1"): 0,
        ("site", "web2"): 0,
        ("site_b", "web3"): 5,
    }


def test_the_probe_reads_every_backend_and_the_live_one() -> None:
    cfg, ask = _two_backends(None)
    balancer = asyncio.run(probe_balancer(ask, cfg, now=0.0))
    seen = [(s.backend, s.name, s.admin) for s in balancer.servers]
    assert seen == [
        ("site", "web1", "ready"),
        ("site", "web2", "ready"),
        ("site_b", "web3", "maint"),
    ]
    assert (balancer.live, balancer.live_problem) == ("site", None)
    assert [s.name for s in balancer.serving] == ["web1", "web2"]

    cfg, ask = _two_backends("site_b")
    balancer = asyncio.run(probe_balancer(ask, cfg, now=0.0))
    assert (balancer.live, balancer.live_problem) == ("site_b", None)
    assert [s.name for s in balancer.serving] == ["web3"]


def test_a_live_backend_cluster_yaml_does_not_declare_is_a_problem() -> None:
    cfg, ask = _two_backends("site_c")
    balancer = asyncio.run(probe_balancer(ask, cfg, now=0.0))
    assert balancer.live == "site_c"
    assert balancer.live_problem is not None
    assert "sends the site to backend site_c, which cluster.yaml does not declare" in (
        balancer.live_problem
    )


def test_an_unknown_frontend_is_named() -> None:
    cfg = Balancer(**{**CFG.__dict__, "frontend": "www"})
    with pytest.raises(BalancerProbeError, match=r"no frontend named 'www'.*balancer.frontend"):
        asyncio.run(probe_balancer(captured("at-rest"), cfg, now=0.0))


@pytest.mark.lab
def test_probe_balancer_on_the_lab_over_ssh(lab: LabLayout) -> None:
    cfg = load(lab.cluster_file).balancer
    assert cfg is not None

    async def ask(command: str) -> str:
        return await haproxy(lab, command)

    balancer = asyncio.run(probe_balancer(ask, cfg, now=1.0))
    admin = {s.name: s.admin for s in balancer.servers}
    assert admin == {name: "maint" if name in lab.warm_names else "ready" for name in lab.web_names}
    assert balancer.flags.mode == "normal"
