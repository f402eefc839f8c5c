"""Fetching a URL from a box with curl: the command line, what it prints, and the reasons.

The parser is tested on canned output, and the command line by running it in
a real shell against a real local HTTP server (and with curl missing from PATH).
"""

from __future__ import annotations

import asyncio
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.probes import http as fetching
from tests.support.patroni_parts import answered

URL = "http://127.0.0.1:8008"


def test_the_command_is_bounded_and_quotes_the_url_and_the_body() -> None:
    get = fetching.Request("GET", f"{URL}/cluster", 3.0).command()
    assert get.startswith("curl -s --max-time 3 ")
    assert f" {URL}/cluster; " in get and "-X" not in get and " -d " not in get
    query = fetching.Request("GET", "http://h:8008/cluster?a=1&b=2", 3).command()
    assert " 'http://h:8008/cluster?a=1&b=2'; " in query
    post = fetching.Request("POST", f"{URL}/switchover", 30.0, '{"a":"b"}', fetching.JSON).command()
    assert "--max-time 30 -X POST -H 'Content-Type: application/json' " in post
    assert """-d '{"a":"b"}'""" in post
    assert "-X POST -d '' " in fetching.Request("POST", URL, 5.0, "").command()
    hostile = fetching.Request("POST", URL, 30.0, "x'; rm -rf /; '").command()
    assert "rm -rf /; '\"'\"'" in hostile  # stays inside single quotes


def test_the_bare_call_puts_options_before_the_url() -> None:
    line = fetching.Request("GET", f"{URL}/healthz", 2).curl("-o /dev/null")
    assert line == f"curl -s --max-time 2 -o /dev/null {URL}/healthz"


@pytest.mark.parametrize(
    ("output", "exit", "status", "body"),
    [
        (answered('{"members": []}'), 0, 200, '{"members": []}'),
        (answered("line one\nline two", 412), 0, 412, "line one\nline two"),
        (answered(""), 0, 200, ""),
        (answered("hotspare-curl 0", 503), 0, 503, "hotspare-curl 0"),  # the body cannot pose
        ("hotspare-curl 127\n", 127, None, ""),  # no curl: -w never printed
        (answered("", 0, exit=7), 7, 0, ""),
        ("sh: 1: syntax error\x1b[2J", None, None, ""),  # the shell never ran curl
    ],
)
def test_the_output_gives_curls_exit_the_status_and_the_body(
    output: str, exit: int | None, status: int | None, body: str
) -> None:
    answer = fetching.parse(output)
    assert (answer.exit, answer.status, answer.body) == (exit, status, body)


@pytest.mark.parametrize(
    ("exit", "says"),
    [
        (127, "curl is not installed on the box: hotspare asks the site with it"),
        (7, f"nothing answers at {URL}: is the site running?"),
        (6, f"nothing answers at {URL}: is the site running?"),
        (28, f"the site did not answer at {URL} in time: is it overloaded or hung?"),
        (35, f"curl could not ask {URL} (curl exit 35)"),
    ],
)
def test_no_http_answer_is_said_in_operator_words(exit: int, says: str) -> None:
    assert fetching.parse(answered("", 0, exit=exit)).problem(URL) == says


def test_the_service_and_what_to_check_are_the_callers() -> None:
    answer = fetching.parse(answered("", 0, exit=7))
    said = answer.problem(URL, "Patroni", "check patroni_url")
    assert said == f"nothing answers at {URL}: is Patroni running? check patroni_url"
    assert fetching.parse(answered("ok")).problem(URL) is None
    garbled = fetching.parse("sh: 1: syntax error\x1b[2J\n").problem(URL)
    assert garbled == f"no curl result from the box for {URL}: sh: 1: syntax error"


# --- the command line run for real --------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(200 if self.path == "/ok" else 404, f"got {self.path}\nsecond line")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        kind = self.headers.get("Content-Type", "")
        self._answer(201, f"{kind} {body}")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sh(command: str, path: str | None = None) -> str:
    env = {"PATH": path} if path is not None else None
    done = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=20, env=env
    )
    return done.stdout


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_a_real_get_and_post_read_back_as_sent(server: str) -> None:
    async def run(command: str) -> str:
        return _sh(command)

    got = asyncio.run(fetching.fetch(run, fetching.Request("GET", f"{server}/ok", 5)))
    assert (got.exit, got.status, got.body) == (0, 200, "got /ok\nsecond line")
    assert got.problem(server) is None
    nope = fetching.Request("GET", f"{server}/nope?a=1&b=2", 5)
    missing = asyncio.run(fetching.fetch(run, nope))
    assert (missing.exit, missing.status, missing.body) == (
        0,
        404,
        "got /nope?a=1&b=2\nsecond line",
    )
    body = "x'; echo pwned; '"
    post = fetching.Request("POST", server, 5, body, fetching.JSON)
    posted = asyncio.run(fetching.fetch(run, post))
    assert (posted.status, posted.body) == (201, f"application/json {body}")


@needs_curl
def test_nothing_listening_and_curl_missing_are_told_apart(server: str, tmp_path: Path) -> None:
    closed = fetching.parse(_sh(fetching.Request("GET", "http://127.0.0.1:1/", 5).command()))
    assert closed.exit == 7 and "nothing answers at http://127.0.0.1:1/" in (
        closed.problem("http://127.0.0.1:1/") or ""
    )
    no_curl = fetching.parse(_sh(fetching.Request("GET", server, 5).command(), path=str(tmp_path)))
    assert no_curl.exit == fetching.NOT_INSTALLED
    assert "curl is not installed" in (no_curl.problem(server) or "")
