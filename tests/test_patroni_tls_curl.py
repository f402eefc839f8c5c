"""Patroni's REST API behind TLS and a password, asked by the real curl line against a local
TLS server that guards its changes as Patroni does: each wrong or missing file told apart."""

from __future__ import annotations

import base64
import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.probes import http as fetching
from console.probes.patroni_api import PatroniApi

PASSWORD = "s3cret-never-shown"


@dataclass(frozen=True)
class Pki:
    folder: Path
    ca: Path
    other_ca: Path
    cert: Path
    key: Path
    netrc: Path


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=30)


def _signed(folder: Path, name: str, ca: str, extensions: str) -> None:
    (folder / f"{name}.ext").write_text(extensions)
    new = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(folder, "req", "-new", *new, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={name}")  # fmt: skip
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
             f"{ca}.key", "-out", f"{name}.crt", "-days", "2",
             "-extfile", f"{name}.ext")  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None or shutil.which("curl") is None:
        pytest.skip("openssl and curl are needed")
    folder = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other"):
        _openssl(folder, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{ca}.key", "-out",
                 f"{ca}.crt", "-days", "2", "-subj", f"/CN=test {ca}")  # fmt: skip
    _signed(folder, "server", "ca", "subjectAltName = IP:127.0.0.1\n")
    _signed(folder, "client", "ca", "extendedKeyUsage = clientAuth\n")
    netrc = folder / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login patroni password {PASSWORD}\n")
    netrc.chmod(0o600)
    return Pki(
        folder, folder / "ca.crt", folder / "other.crt", folder / "client.crt",
        folder / "client.key", netrc,
    )  # fmt: skip


class _Guarded(http.server.BaseHTTPRequestHandler):
    """GETs for anyone; POSTs with a client certificate, then the user and password."""

    def do_GET(self) -> None:
        sent = "true" if self.headers.get("Authorization") else "false"
        self._answer(200, f'{{"members": [], "authorization": {sent}}}')

    def do_POST(self) -> None:
        expected = "Basic " + base64.b64encode(f"patroni:{PASSWORD}".encode()).decode()
        if not self.connection.getpeercert():
            self._answer(403, "client certificate required")
        elif self.headers.get("Authorization") != expected:
            self._answer(401, "no auth header received")
        else:
            self._answer(200, "restarted")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def guarded(pki: Pki) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Guarded)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki.folder / "server.crt", pki.folder / "server.key")
    tls.load_verify_locations(pki.ca)
    tls.verify_mode = ssl.CERT_OPTIONAL  # Patroni's verify_client: optional
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _ask(api: PatroniApi, method: str, path: str) -> tuple[fetching.Answer, str | None]:
    body = {"restart_pending": True} if method == "POST" else None
    line = api.request(method, path, 5.0, body).command()
    assert PASSWORD not in line
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=20)
    answer = fetching.parse(out.stdout)
    return answer, api.problem(answer, api.at(path))


def _api(url: str, pki: Pki, **changes: str | None) -> PatroniApi:
    files = {"cacert": str(pki.ca), "cert": str(pki.cert), "key": str(pki.key)}
    files["netrc"] = str(pki.netrc)
    return PatroniApi(url, fetching.Access(**(files | changes), keys="patroni_"))


def test_with_the_right_files_curl_reads_and_is_let_in(guarded: str, pki: Pki) -> None:
    answer, problem = _ask(_api(guarded, pki), "GET", "cluster")
    assert (answer.exit, answer.status, problem) == (0, 200, None)
    assert '"authorization": false' in answer.body  # a read sends no password
    answer, problem = _ask(_api(guarded, pki), "POST", "restart")
    assert (answer.status, answer.body, problem) == (200, "restarted", None)


@pytest.mark.parametrize(
    ("changes", "method", "exit", "status", "says"),
    [
        ({"cacert": "other"}, "GET", 60, 0, "not signed by the CA in"),
        ({"cacert": None}, "GET", 60, 0, "no patroni_cacert given"),
        ({"cacert": "missing"}, "GET", 77, 0, "cannot read the CA bundle"),
        ({"key": "missing"}, "GET", 58, 0, "cannot use the client certificate"),
        ({"netrc": "missing"}, "GET", 26, None, "the netrc file"),
        ({"cert": None, "key": None}, "POST", 0, 403, "set patroni_cert and patroni_key"),
        ({"netrc": None}, "POST", 0, 401, "set patroni_auth in cluster.yaml"),
        ({"netrc": "wrong"}, "POST", 0, 401, "does not take the user and password in"),
    ],
)
def test_each_wrong_or_missing_file_is_told_apart(
    guarded: str,
    pki: Pki,
    changes: dict[str, str | None],
    method: str,
    exit: int,
    status: int | None,
    says: str,
) -> None:
    wrong = pki.folder / "wrong-netrc"
    wrong.write_text("machine 127.0.0.1 login patroni password nope\n")
    named = {"other": str(pki.other_ca), "missing": str(pki.folder / "absent"), "wrong": str(wrong)}
    api = _api(guarded, pki, **{k: named.get(v, v) if v else None for k, v in changes.items()})
    answer, problem = _ask(api, method, "restart" if method == "POST" else "cluster")
    assert (answer.exit, answer.status) == (exit, status)
    assert problem is not None and says in problem and PASSWORD not in problem


def test_the_wrong_scheme_either_way_is_told(guarded: str, pki: Pki) -> None:
    _, problem = _ask(_api(guarded.replace("https:", "http:"), pki), "GET", "cluster")
    assert problem is not None and "must start with https://" in problem
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Guarded)
    thread = threading.Thread(target=plain.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{plain.server_address[1]}"
        answer, problem = _ask(_api(url, pki), "GET", "cluster")
    finally:
        plain.shutdown()
        plain.server_close()
    assert answer.exit == 35 and problem is not None and "does it serve https there?" in problem


# --- the lab guards its REST API the same way -----------------------------------------------
