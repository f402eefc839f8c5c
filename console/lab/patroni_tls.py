"""The Patroni lab's REST API as production sites guard it: TLS from a lab CA, and a password.

`lab up --engine patroni` makes a CA of the lab's own (openssl, once per lab;
its key stays in the lab's tls/ directory, on no box), and with it for each
db box Patroni's server certificate (its address and name) and one client
certificate. Patroni then serves https, verifies a client certificate on its
unsafe endpoints (restapi.verify_client: optional) and wants the lab's REST
user and password there too (restapi.authentication). Each db box holds, in
etc/tls/, the CA, its server certificate and key and the client's, and
etc/patroni.netrc with the user and password for curl; lb1 holds the CA, for
HAProxy's checks. Every file belongs to the lab user (keys and the netrc file
mode 600): Patroni and the SSH user are that user.

The lab's own Python (its waits, the tests) asks Patroni with `rest`, which
uses the same files; a lab brought up before it had TLS is still asked over
plain http.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from console.lab import procs
from console.lab.layout import PATRONI_PORT, LabLayout

OPENSSL = "openssl"
REST_USER = "patroni"
DAYS = 3650
TIMEOUT = 2.0


def ca_dir(lab: LabLayout) -> Path:
    """Where the lab's CA (its key too) lives: on no box."""
    return lab.root / "tls"


def tls_dir(lab: LabLayout, box: str) -> Path:
    """BOX's TLS files: ca.crt, and on a db box rest.crt/.key (Patroni's) and client.crt/.key."""
    return lab.box_dir(box) / "etc" / "tls"


def netrc_file(lab: LabLayout, db: str) -> Path:
    """DB's netrc file: the REST user and password for curl on that box."""
    return lab.box_dir(db) / "etc" / "patroni.netrc"


def enabled(lab: LabLayout) -> bool:
    """Whether the lab's Patroni serves https (False for a lab made before it did)."""
    return (tls_dir(lab, lab.db_names[0]) / "rest.crt").exists()


def rest_url(lab: LabLayout, db: str) -> str:
    """DB's Patroni REST API as the lab's own Python asks it, with a trailing slash."""
    scheme = "https" if enabled(lab) else "http"
    return f"{scheme}://{lab.address(db)}:{PATRONI_PORT}/"


def rest_secret(lab: LabLayout) -> str:
    """The password of Patroni's REST user (restapi.authentication), made once."""
    path = lab.root / "pg" / "restapi"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(12) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def restapi_settings(lab: LabLayout, db: str, password: str) -> dict[str, Any]:
    """What patroni.yml's restapi section adds for TLS and the password."""
    tls = tls_dir(lab, db)
    return {
        "certfile": str(tls / "rest.crt"),
        "keyfile": str(tls / "rest.key"),
        "cafile": str(tls / "ca.crt"),
        # Unsafe endpoints want a client certificate the lab CA signed; GETs
        # (HAProxy's checks, the console's reads) are let in without one.
        "verify_client": "optional",
        "authentication": {"username": REST_USER, "password": password},
    }


def ctl_settings(lab: LabLayout, db: str) -> dict[str, str]:
    """patroni.yml's ctl section: what patronictl (and Patroni asking the other members)
    presents; the user and password come from restapi.authentication."""
    tls = tls_dir(lab, db)
    return {
        "cacert": str(tls / "ca.crt"),
        "certfile": str(tls / "client.crt"),
        "keyfile": str(tls / "client.key"),
    }


def prepare(lab: LabLayout) -> str:
    """Make the CA and certificates unless made, copy them to the boxes, write each db box's
    netrc file. Returns the REST password."""
    made = ca_dir(lab)
    if not all((made / f"{name}.crt").exists() for name in ("ca", "client", *lab.db_names)):
        _make(lab, made)
    password = rest_secret(lab)
    for box in (*lab.db_names, "lb1"):
        tls = tls_dir(lab, box)
        tls.mkdir(parents=True, exist_ok=True)
        procs.give(lab, tls)
        _copy(lab, made / "ca.crt", tls / "ca.crt", 0o644)
    for db in lab.db_names:
        tls = tls_dir(lab, db)
        _copy(lab, made / f"{db}.crt", tls / "rest.crt", 0o644)
        _copy(lab, made / f"{db}.key", tls / "rest.key", 0o600)
        _copy(lab, made / "client.crt", tls / "client.crt", 0o644)
        _copy(lab, made / "client.key", tls / "client.key", 0o600)
        lines = "".join(
            f"machine {lab.address(m)} login {REST_USER} password {password}\n"
            for m in lab.db_names
        )
        _write(lab, netrc_file(lab, db), lines, 0o600)
    return password


def _make(lab: LabLayout, made: Path) -> None:
    """The CA, each db box's server certificate and the client certificate, with openssl."""
    made.mkdir(parents=True, exist_ok=True)
    made.chmod(0o700)
    config = made / "openssl.cnf"
    config.write_text(_openssl_config(lab))
    _openssl(
        "req", "-x509", "-new", *_new_key(made / "ca.key"), "-out", str(made / "ca.crt"),
        "-days", str(DAYS), "-subj", f"/CN=hotspare lab CA {lab.block}",
        "-config", str(config), "-extensions", "ca",
    )  # fmt: skip
    for name in (*lab.db_names, "client"):
        request = made / f"{name}.csr"
        subject = f"/CN={name}" if name != "client" else "/CN=hotspare lab client"
        _openssl(
            "req", "-new", *_new_key(made / f"{name}.key"), "-out", str(request),
            "-subj", subject, "-config", str(config),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(made / "ca.crt"),
            "-CAkey", str(made / "ca.key"), "-out", str(made / f"{name}.crt"),
            "-days", str(DAYS), "-extfile", str(config), "-extensions", name,
        )  # fmt: skip
        request.unlink()


def _new_key(path: Path) -> list[str]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(path)]


def _openssl_config(lab: LabLayout) -> str:
    """openssl's settings for the lab: one section of extensions per certificate."""
    servers = "".join(
        f"[{db}]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
        f"extendedKeyUsage = serverAuth\nsubjectAltName = IP:{lab.address(db)},DNS:{db}\n\n"
        for db in lab.db_names
    )
    return (
        "# The Patroni lab's CA: generated by hotspare lab up\n"
        "[req]\ndistinguished_name = dn\n\n[dn]\n\n"
        "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n\n"
        "[client]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = clientAuth\n\n" + servers
    )


def _openssl(*args: str) -> None:
    program = shutil.which(OPENSSL)
    if program is None:
        raise procs.LabProcessError(
            "openssl is not installed: the Patroni lab makes its CA with it (apt-get install "
            "openssl, or `make deps`)"
        )
    done = subprocess.run([program, *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise procs.LabProcessError(f"openssl {args[0]} failed: {done.stderr.strip()[-500:]}")


def _copy(lab: LabLayout, source: Path, target: Path, mode: int) -> None:
    _write(lab, target, source.read_text(), mode)


def _write(lab: LabLayout, path: Path, text: str, mode: int) -> None:
    path.touch(mode=mode, exist_ok=True)
    path.chmod(mode)
    path.write_text(text)
    procs.give(lab, path)


# The lab's own client ------------------------------------------------------------------


def context(lab: LabLayout, db: str) -> ssl.SSLContext | None:
    """An SSL context trusting the lab CA and presenting the client certificate (None: http)."""
    if not enabled(lab):
        return None
    tls = tls_dir(lab, db)
    made = ssl.create_default_context(cafile=str(tls / "ca.crt"))
    made.load_cert_chain(str(tls / "client.crt"), str(tls / "client.key"))
    return made


def rest(
    lab: LabLayout,
    db: str,
    path: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    timeout: float = TIMEOUT,
) -> Any:
    """Ask DB's Patroni METHOD PATH as the lab's operator: with the lab CA, the client
    certificate and, for what changes something, the REST user and password. Returns the
    answer's JSON (None for an empty one).

    Raises:
        urllib.error.HTTPError: Patroni answered with an error status.
        OSError, ValueError: no answer, or not JSON.
    """
    request = urllib.request.Request(
        f"{rest_url(lab, db)}{path.lstrip('/')}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    if method != "GET" and enabled(lab):
        token = base64.b64encode(f"{REST_USER}:{rest_secret(lab)}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout, context=context(lab, db)) as answer:
        text = answer.read()
    return json.loads(text) if text.strip() else None


def get_json(lab: LabLayout, db: str, path: str) -> object:
    """GET PATH from DB's Patroni; None when it does not answer 200 with JSON."""
    try:
        return rest(lab, db, path)
    except (urllib.error.URLError, OSError, ValueError):
        return None
