"""Patroni's REST API behind TLS and a password: cluster.yaml's files, curl's options, the words.

The keys are read from case files (tests/inventory_cases/patroni_tls); the
curl line is run for real, in a real shell, against a real local TLS server
that guards its POSTs as Patroni does (a client certificate, then basic
authentication), with a CA, server and client certificates made by openssl;
Patroni's 401 and 403 are read from canned answers. The lab's Patroni
configuration and HAProxy checks are read as text. The same on the real
Patroni lab: tests/test_patroni_tls_lab.py.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from console.actions.database import patroni_pause
from console.inventory import InventoryError, load
from console.lab import configs, patroni
from console.lab.inventory_file import render
from console.lab.layout import LabLayout
from console.probes import http as fetching
from console.probes.patroni import PatroniProbeError, probe_patroni
from console.probes.patroni_api import PatroniApi, api_of, patroni_api
from tests.support.patroni_parts import INV, answered, state_with, view

CASES = Path(__file__).resolve().parent / "inventory_cases" / "patroni_tls"
PASSWORD = "s3cret-never-shown"

# --- cluster.yaml ---------------------------------------------------------------------------


def test_the_four_files_are_read_with_node_filled_in() -> None:
    inv = load(CASES / "good_tls.yaml")
    db2 = inv.database("db2")
    assert (db2.patroni_url, db2.patroni_cacert, db2.patroni_cert, db2.patroni_key) == (
        "https://127.0.10.22:8008",
        "/etc/patroni/tls/ca.pem",
        "/etc/patroni/tls/db2-client.pem",
        "/etc/patroni/tls/db2-client.key",
    )
    assert db2.patroni_auth == "/etc/patroni/hotspare.netrc"
    assert load(CASES.parent / "good_lab.yaml").database("db1").patroni_auth is None


BROKEN = [
    ("relative_cacert", 50, "database_defaults.patroni_cacert", "remote paths must be absolute"),
    (
        "cert_without_key",
        50,
        "database_defaults.patroni_cert",
        "patroni_cert is set but patroni_key is not",
    ),
    ("key_without_cert", 52, "databases.db2.patroni_key", "patroni_key is set but patroni_cert"),
    ("cacert_over_http", 50, "database_defaults.patroni_cacert", "patroni_url is not https://"),
    ("colon_in_cert", 50, "database_defaults.patroni_cert", "':' in a certificate's path"),
    ("host_in_auth", 50, "database_defaults.patroni_auth", "unknown placeholder {host}"),
]


@pytest.mark.parametrize(("name", "line", "key", "text"), BROKEN, ids=[c[0] for c in BROKEN])
def test_each_mistake_is_named_once_at_its_line(name: str, line: int, key: str, text: str) -> None:
    with pytest.raises(InventoryError) as info:
        load(CASES / f"{name}.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.key) == (line, key), str(problem)
    assert text in problem.message


def test_a_password_over_plain_http_loads_as_patronis_own_default_allows(tmp_path: Path) -> None:
    text = (CASES / "host_in_auth.yaml").read_text().replace("{host}.netrc", "hotspare.netrc")
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    assert load(path).database("db1").patroni_auth == "/etc/patroni/hotspare.netrc"


# --- one place builds the requests ------------------------------------------------------------


def test_every_request_carries_the_files_and_only_their_paths() -> None:
    api = patroni_api(load(CASES / "good_tls.yaml").database("db1"))
    line = api.request("POST", "restart", 60.0, {"restart_pending": True}).command()
    assert line.startswith("if test -r /etc/patroni/hotspare.netrc; then curl -s --max-time 60 ")
    for option in (
        "--cacert /etc/patroni/tls/ca.pem",
        "--cert /etc/patroni/tls/db1-client.pem",
        "--key /etc/patroni/tls/db1-client.key",
        "--netrc-file /etc/patroni/hotspare.netrc",
    ):
        assert option in line
    assert line.endswith(f'else echo "hotspare-curl {fetching.UNREADABLE}"; fi')
    assert "https://127.0.10.21:8008/restart" in line and "-u " not in line
    # A read sends no password (Patroni wants none there), but checks the file is there.
    get = api.request("GET", "cluster", 3.0).command()
    assert get.startswith("if test -r /etc/patroni/hotspare.netrc; then curl ")
    assert "--netrc-file" not in get and "--cacert /etc/patroni/tls/ca.pem" in get
    assert " -X " not in get and " -d " not in get


def test_a_patroni_without_files_is_asked_exactly_as_before() -> None:
    plain = PatroniApi("http://h:8008")
    assert plain.request("GET", "/cluster", 3.0).command() == (
        fetching.Request("GET", "http://h:8008/cluster", 3.0).command()
    )
    body = plain.request("PATCH", "config", 10.0, {"pause": True}).command()
    assert (
        body
        == fetching.Request(
            "PATCH", "http://h:8008/config", 10.0, '{"pause":true}', fetching.JSON
        ).command()
    )
    assert api_of("http://h:8008/").at("cluster") == "http://h:8008/cluster"


def test_paths_are_quoted_for_the_shell() -> None:
    access = fetching.Access("/etc/my ca.pem", netrc="/etc/a'b")
    line = fetching.Request("GET", "https://h/", 3.0, access=access).command()
    assert "--cacert '/etc/my ca.pem'" in line
    assert """if test -r '/etc/a'"'"'b'; then""" in line


def test_the_actions_plans_show_the_files_never_a_password() -> None:
    dbs = tuple(
        replace(
            d,
            patroni_url="https://127.0.0.1:8008",
            patroni_cacert="/etc/patroni/ca.pem",
            patroni_auth="/etc/patroni/hotspare.netrc",
        )
        for d in INV.databases
    )
    inv = replace(INV, databases=dbs)
    plan = patroni_pause.plan_pause(inv, state_with(view("healthy")))
    (step,) = plan.steps
    assert "--cacert /etc/patroni/ca.pem" in step.command
    assert "--netrc-file /etc/patroni/hotspare.netrc" in step.command
    assert "https://127.0.0.1:8008/config" in step.command


# --- what curl says, in words -----------------------------------------------------------------

URL = "https://10.0.0.5:8008/cluster"
FILES = fetching.Access("/etc/p/ca.pem", "/etc/p/c.pem", "/etc/p/c.key", "/etc/p/netrc", "patroni_")


@pytest.mark.parametrize(
    ("exit", "url", "access", "says"),
    [
        (60, URL, FILES, "not trusted (curl exit 60): it is not signed by the CA in /etc/p/ca.pem"),
        (60, URL, FILES, "check patroni_cacert and patroni_url in cluster.yaml"),
        (60, URL, fetching.Access(keys="patroni_"), "no patroni_cacert given: the system's CAs"),
        (77, URL, FILES, "cannot read the CA bundle /etc/p/ca.pem (patroni_cacert) on the box"),
        (58, URL, FILES, "client certificate /etc/p/c.pem and key /etc/p/c.key"),
        (26, URL, FILES, "the netrc file /etc/p/netrc (patroni_auth) cannot be read on the box"),
        (35, URL, FILES, "the TLS handshake with Patroni at"),
        (56, URL, fetching.Access(keys="patroni_"), "it wants a client certificate; check"),
        (52, "http://10.0.0.5:8008/x", FILES, "the URL must start with https://"),
        (35, "http://10.0.0.5:8008/x", FILES, "(curl exit 35)"),
    ],
)
def test_tls_failures_say_what_is_wrong_and_which_key_to_check(
    exit: int, url: str, access: fetching.Access, says: str
) -> None:
    said = fetching.parse(answered("", 0, exit=exit)).problem(url, "Patroni", "", access)
    assert said is not None and says in said


@pytest.mark.parametrize(
    ("status", "body", "access", "says"),
    [
        (401, "no auth header received", FILES, "does not take the user and password in"),
        (401, "no auth header received", FILES, "a 'default' line"),
        (401, "not authenticated", fetching.Access(keys="patroni_"), "set patroni_auth"),
        (403, "client certificate required", fetching.Access(), "set patroni_cert and"),
        (403, "client certificate required", FILES, "did not take the client certificate"),
        (403, "Access is denied", FILES, "restapi.allowlist"),
    ],
)
def test_patronis_refusals_say_which_key_or_setting_to_check(
    status: int, body: str, access: fetching.Access, says: str
) -> None:
    api = PatroniApi("https://10.0.0.5:8008", access)
    said = api.problem(fetching.parse(answered(body, status)), api.at("restart"))
    assert said is not None and says in said and body in said
    assert api.problem(fetching.parse(answered("{}", 503)), api.at("restart")) is None


def test_the_view_read_through_tls_fails_as_one_clean_probe_error() -> None:
    async def run(command: str) -> str:
        assert "--cacert /etc/p/ca.pem" in command
        return answered("", 0, exit=60)

    with pytest.raises(PatroniProbeError, match=r"certificate at https://10\.0\.0\.5:8008/cluster"):
        asyncio.run(probe_patroni(run, PatroniApi("https://10.0.0.5:8008", FILES), 1.0))


def test_the_labs_patroni_serves_https_and_wants_a_password_and_a_client_certificate() -> None:
    lab = LabLayout.for_block("127.0.42", engine="patroni")
    secret = {"postgres": "p", "replicator": "r", "restapi": "rest-password"}
    config = yaml.safe_load(patroni.patroni_config(lab, "db2", secret))
    tls = f"{lab.root}/boxes/db2/etc/tls"
    assert config["restapi"]["certfile"] == f"{tls}/rest.crt"
    assert (config["restapi"]["cafile"], config["restapi"]["verify_client"]) == (
        f"{tls}/ca.crt",
        "optional",
    )
    assert config["restapi"]["authentication"] == {
        "username": "patroni",
        "password": "rest-password",
    }
    assert config["ctl"] == {
        "cacert": f"{tls}/ca.crt",
        "certfile": f"{tls}/client.crt",
        "keyfile": f"{tls}/client.key",
    }
    cfg = configs.haproxy_cfg(lab)
    ca = f"{lab.root}/boxes/lb1/etc/tls/ca.crt"
    assert f"check-ssl verify required ca-file {ca} verifyhost db2" in cfg
    assert "verify none" not in cfg


def test_the_labs_cluster_yaml_names_each_boxs_files(tmp_path: Path) -> None:
    lab = LabLayout.for_block("127.0.42", engine="patroni")
    path = tmp_path / "cluster.yaml"
    path.write_text(render(lab, "/usr/lib/postgresql/15/bin"))
    assert not re.search(r"^\s*\w*(password|passwd)\w*:", path.read_text(), re.MULTILINE)
    db3 = load(path).database("db3")
    box = f"{lab.root}/boxes/db3/etc"
    assert (db3.patroni_url, db3.patroni_cacert, db3.patroni_auth) == (
        "https://127.0.42.23:8008",
        f"{box}/tls/ca.crt",
        f"{box}/patroni.netrc",
    )
    assert (db3.patroni_cert, db3.patroni_key) == (f"{box}/tls/client.crt", f"{box}/tls/client.key")
