"""Patroni's REST API behind TLS and a password, on the Patroni lab, for real.

The lab's Patroni serves https from the lab CA, wants a client certificate
on its unsafe endpoints (restapi.verify_client: optional) and then the REST
user and password (restapi.authentication); HAProxy checks it over TLS. These
tests ask the real Patroni: what it refuses, that hotspare's own actions get
through with the files cluster.yaml names, and what hotspare says when a file
is wrong or missing.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.lab import patroni, patroni_tls, procs
from console.lab.layout import LabLayout
from tests.support.labclient import eventually, hotspare

pytestmark = pytest.mark.lab


def _post(lab: LabLayout, db: str, path: str, method: str = "POST", cert: bool = True) -> int:
    """METHOD PATH on DB's Patroni over TLS without the user and password: the status."""
    context = patroni_tls.context(lab, db)
    assert context is not None, "the lab's Patroni does not serve https"
    if not cert:
        context = ssl.create_default_context(cafile=str(patroni_tls.tls_dir(lab, db) / "ca.crt"))
    request = urllib.request.Request(
        f"{patroni_tls.rest_url(lab, db)}{path}",
        data=json.dumps({"restart_pending": True}).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def _cluster_file(lab: LabLayout, tmp_path: Path, key: str, value: str) -> Path:
    """A copy of the lab's cluster.yaml with KEY (under database_defaults) set to VALUE."""
    text = lab.cluster_file.read_text()
    changed, count = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {value}", text)
    assert count == 1, f"no {key} in {lab.cluster_file}"
    path = tmp_path / "cluster.yaml"
    path.write_text(changed)
    return path


def _run(path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    from console.cli import main

    capsys.readouterr()
    code = main(["--cluster", str(path), *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def resumed(patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> Iterator[LabLayout]:
    """The Patroni lab, never left paused."""
    yield patroni_lab
    found = patroni.cluster(patroni_lab)
    if found is not None and found.get("pause"):
        code, answer = hotspare(patroni_lab, capsys, "patroni", "resume", "--yes")
        assert code == 0, answer


def test_patroni_refuses_what_changes_something_without_a_certificate_and_a_password(
    patroni_lab: LabLayout,
) -> None:
    lab = patroni_lab
    replica = next(db for db in lab.db_names if db != eventually(lambda: patroni.leader(lab)))
    # With the client certificate but no user and password: 401, nothing restarted.
    assert _post(lab, replica, "restart") == 401
    assert _post(lab, replica, "config", method="PATCH") == 401
    # Without a client certificate Patroni refuses before it asks for the password.
    assert _post(lab, replica, "restart", cert=False) == 403
    # Reads need neither (HAProxy's checks and the console's reads are GETs).
    assert patroni_tls.rest(lab, replica, "patroni")["state"] == "running"
    # Plain http is not served at all.
    with pytest.raises(OSError):  # the connection ends without an HTTP answer
        urllib.request.urlopen(f"http://{lab.address(replica)}:8008/patroni", timeout=5)


def test_hotspares_actions_get_through_and_the_password_is_nowhere(
    resumed: LabLayout,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab = resumed
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOTSPARE_AUDIT", str(audit))
    password = patroni_tls.rest_secret(lab)
    code, paused = hotspare(lab, capsys, "patroni", "pause", "--yes")
    assert (code, paused["outcome"]) == (0, "done"), paused
    assert eventually(lambda: (patroni.cluster(lab) or {}).get("pause") is True, timeout=10)
    code, resumed_ = hotspare(lab, capsys, "patroni", "resume", "--yes")
    assert (code, resumed_["outcome"]) == (0, "done"), resumed_
    assert not (patroni.cluster(lab) or {"pause": True}).get("pause")
    (step,) = paused["plan"]["steps"]
    assert "--netrc-file" in step["command"] and "--cacert" in step["command"]
    for said in (json.dumps(paused), json.dumps(resumed_), audit.read_text()):
        assert password not in said
    assert "--netrc-file" in audit.read_text()
    assert password not in lab.cluster_file.read_text()


def test_a_wrong_ca_is_said_in_status_and_in_the_plans_refusal(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The system's CA bundle: real CAs, none of which signed the lab's Patroni.
    path = _cluster_file(
        patroni_lab, tmp_path, "patroni_cacert", "/etc/ssl/certs/ca-certificates.crt"
    )
    code, status = _run(path, capsys, "status")
    said = status["patroni"]["problem"]
    assert "Patroni's certificate at https://" in said and "is not trusted" in said
    assert "check patroni_cacert and patroni_url in cluster.yaml" in said
    code, plan = _run(path, capsys, "patroni", "pause", "--yes")
    assert plan["outcome"] == "refused" and code != 0
    assert "is not trusted" in plan["reason"] and "patroni_cacert" in plan["reason"]
    assert not (patroni.cluster(patroni_lab) or {}).get("pause")


def test_a_missing_auth_file_is_said_in_status_and_in_the_plans_refusal(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    absent = f"{patroni_lab.root}/boxes/{{node}}/etc/absent.netrc"
    path = _cluster_file(patroni_lab, tmp_path, "patroni_auth", absent)
    code, status = _run(path, capsys, "status")
    said = status["patroni"]["problem"]
    assert "the netrc file" in said and "absent.netrc (patroni_auth) cannot be read" in said
    code, plan = _run(path, capsys, "patroni", "pause", "--yes")
    assert plan["outcome"] == "refused" and code != 0
    assert "absent.netrc (patroni_auth) cannot be read on the box" in plan["reason"]


def test_a_wrong_password_stops_the_action_with_patronis_401_in_words(
    resumed: LabLayout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lab = resumed
    for db in lab.db_names:
        wrong = lab.box_dir(db) / "etc" / "wrong.netrc"
        wrong.write_text(f"default login {patroni_tls.REST_USER} password not-the-one\n")
        wrong.chmod(0o600)
        procs.give(lab, wrong)
    path = _cluster_file(
        lab, tmp_path, "patroni_auth", f"{lab.root}/boxes/{{node}}/etc/wrong.netrc"
    )
    code, status = _run(path, capsys, "status")
    assert status["patroni"]["problem"] is None, status["patroni"]  # reads need no password
    code, answer = _run(path, capsys, "patroni", "pause", "--yes")
    assert code != 0 and answer["outcome"] != "done", answer
    said = json.dumps(answer)
    assert "Patroni answered 401" in said and "does not take the user and password in" in said
    assert "wrong.netrc (patroni_auth)" in said and "not-the-one" not in said
    assert not (patroni.cluster(lab) or {}).get("pause")
