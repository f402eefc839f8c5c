"""/metrics: a snapshot in Prometheus's text format, read back with Prometheus's own parser.

The HTTP tests start the real server on 127.0.0.1 port 0 and talk to it with
urllib and raw sockets; the lab test renders the real site's snapshot.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.inventory import Inventory, load
from console.lab.layout import LabLayout
from console.metrics import CONTENT_TYPE, escape, render
from console.metrics_http import serve
from console.state.codec import decode
from console.state.model import BoxFreshness, ClusterState, Verdicts
from console.state.wording import alarm
from tests.support.labclient import hotspare
from tests.support.verdict_parts import INV, balancer, box, cluster_state, db, link, node, server

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def parsed(text: str) -> Samples:
    """TEXT as Prometheus reads it: sample name -> labels -> value; fails on a bad line."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples[name][frozenset(labels.items())]


def _full() -> tuple[ClusterState, Inventory]:
    """Every part present: two backends, a drained and a parked server, a sick node, a lag."""
    assert INV.balancer is not None
    inv = replace(INV, balancer=replace(INV.balancer, backends=("site", "site_b")))
    servers = (
        server("web1"),
        server("web2", admin="drain"),
        replace(server("web3", "maint", "MAINT"), backend="site_b"),
    )
    standby = db("db2", role="standby")
    primary = db("db1", standbys=(link("db2", lag_bytes=4096, replay_lag_s=1.25),))
    state = cluster_state(
        balancer=balancer(*servers),
        nodes=(node("web1"), node("web2", health_status=503), node("web3")),
        databases=(primary, standby),
        boxes=(*(box(b.name) for b in INV.boxes if b.name != "web3"), _never("web3")),
    )
    alarms = (
        alarm("node-unhealthy", "warning", ["web2"], "web2: 503"),
        alarm("node-unhealthy", "warning", ["web1"], "web1: 503"),
        alarm("split-brain", "critical", ["db1", "db2"], "two primaries"),
    )
    return replace(state, alarms=alarms, environment='eu "west" \\ 1'), inv


def _never(name: str) -> BoxFreshness:
    return BoxFreshness(name, False, None, None, None, True, "never answered")


def test_every_part_of_a_snapshot_is_a_metric() -> None:
    state, inv = _full()
    m = parsed(render(state, inv))
    assert one(m, "hotspare_monitor_info", cluster="lab", environment='eu "west" \\ 1') == 1
    assert one(m, "hotspare_snapshot_timestamp_seconds") == 100.0
    assert (
        one(m, "hotspare_box_fresh", box="web1") == 1
        and one(m, "hotspare_box_fresh", box="web3") == 0
    )
    assert one(m, "hotspare_box_rtt_seconds", box="web1") == 0.001
    assert frozenset({("box", "web3")}) not in m["hotspare_box_age_seconds"]  # unknown: no sample
    assert one(m, "hotspare_balancer_answering") == 1
    assert one(m, "hotspare_site_mode", mode="normal") == 1
    assert one(m, "hotspare_site_mode", mode="maintenance") == 0
    assert one(m, "hotspare_backend_live", backend="site") == 1
    assert one(m, "hotspare_backend_live", backend="site_b") == 0
    assert one(m, "hotspare_backend_servers", backend="site") == 2
    assert one(m, "hotspare_backend_servers_up", backend="site") == 2
    assert one(m, "hotspare_backend_servers_up", backend="site_b") == 0
    assert one(m, "hotspare_server_up", backend="site_b", server="web3") == 0
    assert one(m, "hotspare_server_admin_state", backend="site", server="web2", state="drain") == 1
    assert one(m, "hotspare_server_admin_state", backend="site", server="web2", state="ready") == 0
    assert one(m, "hotspare_server_http_5xx_total", backend="site", server="web1") == 0
    assert one(m, "hotspare_node_healthy", node="web2") == 0
    assert one(m, "hotspare_node_health_status", node="web2") == 503
    assert one(m, "hotspare_node_healthy", node="web1") == 1
    assert one(m, "hotspare_node_role", node="web3", role="warm") == 1
    assert one(m, "hotspare_node_scheduler", node="web1") == 1
    assert one(m, "hotspare_database_role", database="db1", role="primary") == 1
    assert one(m, "hotspare_database_in_recovery", database="db2") == 1
    assert one(m, "hotspare_database_streaming", database="db2") == 1
    assert one(m, "hotspare_database_replica_lag_bytes", database="db2") == 4096
    assert one(m, "hotspare_database_replica_lag_seconds", database="db2") == 1.25
    assert one(m, "hotspare_alarms", severity="warning") == 2
    assert one(m, "hotspare_alarms", severity="critical") == 1
    assert one(m, "hotspare_alarms_by_code", code="node-unhealthy", severity="warning") == 2


def test_an_empty_snapshot_still_reads_and_counts_no_alarms() -> None:
    inv = replace(INV, balancer=None, boxes=(), web_nodes=(), databases=())
    empty = ClusterState(
        "lab",
        "lab",
        "green",
        5.0,
        (),
        None,
        (),
        (),
        Verdicts((), (), 0, 0, None, None, None, ()),
        (),
    )
    text = render(empty, inv)
    m = parsed(text)
    assert one(m, "hotspare_alarms", severity="critical") == 0
    assert one(m, "hotspare_alarms", severity="warning") == 0
    assert "hotspare_balancer_answering" not in m and "hotspare_box_fresh" not in m
    assert "# TYPE hotspare_box_fresh gauge" in text  # declared all the same


def test_the_text_follows_the_format_line_by_line() -> None:
    state, inv = _full()
    text = render(state, inv)
    assert text.endswith("\n") and "\n\n" not in text
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names)) and all(n.startswith("hotspare_") for n in names)
    assert 'environment="eu \\"west\\" \\\\ 1"' in text
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_every_metric_is_documented_and_every_documented_one_exists() -> None:
    state, inv = _full()
    rendered = {line.split()[2] for line in render(state, inv).splitlines() if "# TYPE" in line}
    doc = (Path(__file__).resolve().parent.parent / "docs" / "monitoring.md").read_text()
    documented = set(re.findall(r"^\| `(hotspare_[a-z0-9_]+)`", doc, re.M))
    assert rendered == documented


def test_a_balancer_that_does_not_answer_says_so() -> None:
    sick = replace(balancer(), problem="HAProxy's runtime socket refused the connection")
    m = parsed(render(cluster_state(balancer=sick), INV))
    assert one(m, "hotspare_balancer_answering") == 0
    m = parsed(render(cluster_state(balancer=None), INV))
    assert one(m, "hotspare_balancer_answering") == 0


# -- the HTTP server -----------------------------------------------------------------------


@pytest.fixture
def started() -> Iterator[Callable[..., str]]:
    """start(**options) serves a known body on 127.0.0.1 port 0 and returns its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[asyncio.Server] = []

    def start(**options: Any) -> str:
        body = options.pop("body", lambda: 'hotspare_alarms{severity="critical"} 0\n')
        coro = serve("127.0.0.1", 0, body, **options)
        server = asyncio.run_coroutine_threadsafe(coro, loop).result(10)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    asyncio.run_coroutine_threadsafe(_stop(servers), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


async def _stop(servers: list[asyncio.Server]) -> None:
    """Close SERVERS (on their own loop: asyncio is not thread-safe), let connections end."""
    for each in servers:
        each.close()
        await each.wait_closed()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    _done, pending = await asyncio.wait(others, timeout=15) if others else (set(), set())
    for task in pending:
        task.cancel()


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _raw(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if data:
        sock.sendall(data)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    sock.close()
    return got


def test_get_metrics_answers_the_body_in_prometheus_content_type(started: Any) -> None:
    state, inv = _full()
    url = started(body=lambda: render(state, inv))
    status, headers, body = _get(url + "/metrics")
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE
    assert one(parsed(body.decode()), "hotspare_alarms", severity="critical") == 1
    assert _get(url + "/metrics?x=1")[0] == 200
    status, headers, body = _get(url + "/metrics", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


def test_other_paths_are_404_and_other_methods_405(started: Any) -> None:
    url = started()
    assert _get(url + "/")[0] == 404 and _get(url + "/metrics/x")[0] == 404
    status, headers, _ = _get(url + "/metrics", "POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_a_body_that_fails_is_a_500_and_the_server_goes_on(started: Any) -> None:
    calls: list[int] = []

    def body() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no snapshot yet")
        return "ok 1\n"

    url = started(body=body)
    status, _, text = _get(url + "/metrics")
    assert status == 500 and b"no snapshot yet" in text
    assert _get(url + "/metrics")[0] == 200


def test_a_client_that_sends_nothing_is_cut_off_and_holds_no_one(started: Any) -> None:
    url = started(read_timeout=1.0)
    port = int(url.rsplit(":", 1)[1])
    silent = _raw(port)
    assert _get(url + "/metrics")[0] == 200  # served while the silent one waits
    assert _read_all(silent).startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_a_huge_request_line_or_head_is_refused(started: Any) -> None:
    url = started()
    assert _get(url + "/metrics?" + "a" * 100_000)[0] == 414
    port = int(url.rsplit(":", 1)[1])
    head = b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: " + b"b" * 4000 + b"\r\n"
    answer = _read_all(_raw(port, head * 3 + b"\r\n"))
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_clients_past_the_limit_are_closed_at_once(started: Any) -> None:
    url = started(max_clients=2, read_timeout=5.0)
    port = int(url.rsplit(":", 1)[1])
    waiting = [_raw(port), _raw(port)]
    try:
        answer = _read_all(_raw(port, b"GET /metrics HTTP/1.1\r\n\r\n"))
    except ConnectionResetError:  # closed with the request unread: the kernel resets
        answer = b""
    assert answer == b""
    for sock in waiting:
        sock.close()


def test_not_http_is_a_400(started: Any) -> None:
    port = int(started().rsplit(":", 1)[1])
    assert _read_all(_raw(port, b"HELLO\r\n\r\n")).startswith(b"HTTP/1.1 400 ")


# -- the lab ---------------------------------------------------------------------------------


@pytest.mark.lab
def test_the_labs_snapshot_has_every_box_up_and_its_backends(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, document = hotspare(lab, capsys, "status")
    state = decode(document)
    inv = load(lab.cluster_file)
    m = parsed(render(state, inv))
    for name in lab.boxes:
        assert one(m, "hotspare_box_fresh", box=name) == 1, name
        assert one(m, "hotspare_box_connected", box=name) == 1, name
    assert inv.balancer is not None
    for backend in inv.balancer.backends:
        servers = [w.server for w in inv.web_nodes if w.backend == backend]
        assert one(m, "hotspare_backend_servers", backend=backend) == len(servers)
        for name in servers:
            assert (frozenset({("backend", backend), ("server", name)})) in m["hotspare_server_up"]
    assert one(m, "hotspare_backend_servers_up", backend=inv.balancer.backend) >= 1
    assert one(m, "hotspare_database_role", database="db1", role="primary") == 1
    assert one(m, "hotspare_database_streaming", database="db2") == 1
