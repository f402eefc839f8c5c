"""Fetching a URL from a box with curl: one command line and one reader of what it prints.

Every HTTP request hotspare makes is made by curl on a box (the site through
the balancer, a node's health and /role, Patroni's REST API), so none of those
need be reachable from the operator's machine. The command is bounded by
curl's --max-time, quotes the URL and the body for the shell, and prints the
answer's body, then the HTTP status and curl's exit status on lines of their
own: one stdout tells every outcome apart, curl missing included.

An API that wants TLS or a password (Patroni's REST API can) names files on
the box in an `Access`: the CA bundle, a client certificate and key, and a
netrc file holding the user and password. Only paths go on the command line:
the password stays in its file, out of the process list, the plan and the
audit log.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from console.text import one_line

Run = Callable[[str], Awaitable[str]]
"""Runs one shell command on the box and returns what it printed."""

JSON = "application/json"

_STATUS, _EXIT = "hotspare-http", "hotspare-curl"
_STATUS_LINE = re.compile(rf"{_STATUS} (\d{{3}})")
_EXIT_LINE = re.compile(rf"{_EXIT} (\d+)")
NOT_INSTALLED = 127  # the shell's "command not found"
UNREADABLE = 26
"""curl's "could not read a local file"; also said for a netrc file the line finds unreadable
(curl itself would go on without the user and password)."""
_UNTRUSTED = (51, 60, 83, 90, 91)  # the server's certificate: not trusted, not for that host
_HANDSHAKE = (35, 53, 54, 59, 66, 80)  # TLS could not be set up (or taken down) with the server
_BROKEN = (52, 55, 56)  # the connection ended without an HTTP answer
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
"""Methods that change nothing: curl sends them no password (an API guards the others)."""


@dataclass(frozen=True)
class Access:
    """Files on the box that let curl in to an API guarded by TLS or a password (paths only).

    Attributes:
        cacert: the CA bundle that signs the server's certificate; None: the box's own CAs.
        cert: a client certificate, for a server that verifies its clients.
        key: that certificate's private key.
        netrc: a netrc file holding the user and password (HTTP basic authentication),
            sent only with a method that changes something (not SAFE_METHODS): a read
            made every refresh would send it every refresh.
        keys: the prefix of the cluster.yaml keys naming these files ("patroni_" for
            patroni_cacert...), so that a message says which key to check.
    """

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    netrc: str | None = None
    keys: str = ""

    def options(self, password: bool = True) -> str:
        """curl's options for these files, shell-quoted ("" when there are none); the netrc
        file's only with PASSWORD."""
        given = (
            ("--cacert", self.cacert),
            ("--cert", self.cert),
            ("--key", self.key),
            ("--netrc-file", self.netrc if password else None),
        )
        return " ".join(f"{flag} {shlex.quote(path)}" for flag, path in given if path)

    def named(self, *names: str) -> str:
        """The keys that set NAMES, for a message: ' (patroni_cacert)'; '' without a prefix."""
        return f" ({', '.join(self.keys + n for n in names)})" if self.keys else ""

    def check(self, *names: str) -> str:
        """What to check for NAMES: '; check patroni_cacert in cluster.yaml'; '' if no prefix."""
        keys = " and ".join(self.keys + n for n in names)
        return f"; check {keys} in cluster.yaml" if self.keys else ""


NO_ACCESS = Access()


@dataclass(frozen=True)
class Request:
    """METHOD URL [BODY] as curl makes it on a box, given up after MAX_TIME seconds.

    ACCESS names the files curl needs for a guarded API (TLS, a password); None for none.
    """

    method: str
    url: str
    max_time: float
    body: str | None = None
    content_type: str | None = None
    access: Access | None = None

    def curl(self, options: str = "") -> str:
        """The bare curl call, silent and bounded; URL and BODY shell-quoted.

        For scripts that read curl's exit status themselves; OPTIONS (shell-quoted
        already, such as ``-o /dev/null``) go before the URL.
        """
        words = ["curl -s", f"--max-time {self.max_time:g}"]
        if self.method != "GET":
            words.append(f"-X {shlex.quote(self.method)}")
        if self.content_type is not None:
            words.append(f"-H {shlex.quote('Content-Type: ' + self.content_type)}")
        if self.body is not None:
            words.append(f"-d {shlex.quote(self.body)}")
        files = self.access.options(self.method not in SAFE_METHODS) if self.access else ""
        if files:
            words.append(files)
        if options:
            words.append(options)
        return " ".join([*words, shlex.quote(self.url)])

    def command(self) -> str:
        """The shell line that makes the request; `parse` reads what it prints.

        curl goes on without the user and password when it cannot read its netrc
        file, so the line checks the file first and says UNREADABLE instead; a read
        checks it too (it sends no password), so that a missing file shows before
        an action needs it.
        """
        status = f"-w '\\n{_STATUS} %{{http_code}}\\n'"
        line = f'{self.curl(status)}; echo "{_EXIT} $?"'
        netrc = self.access.netrc if self.access is not None else None
        if not netrc:
            return line
        return f'if test -r {shlex.quote(netrc)}; then {line}; else echo "{_EXIT} {UNREADABLE}"; fi'


def no_answer(
    exit: int, url: str, who: str = "the site", check: str = "", access: Access | None = None
) -> str:
    """Why curl got no HTTP answer from WHO at URL (curl's EXIT status), in an operator's words.

    CHECK, when given, is the sentence saying what to check (a cluster.yaml key);
    ACCESS, the files curl was given, for the words on TLS and the netrc file.
    """
    then = f" {check}" if check else ""
    if exit == NOT_INSTALLED:
        return f"curl is not installed on the box: hotspare asks {who} with it"
    if exit in (6, 7):
        return f"nothing answers at {url}: is {who} running?{then}"
    if exit == 28:
        return f"{who} did not answer at {url} in time: is it overloaded or hung?"
    guarded = _guarded(exit, url, who, access or NO_ACCESS)
    if guarded is not None:
        return guarded
    return f"curl could not ask {url} (curl exit {exit}){':' if check else ''}{then}"


def _guarded(exit: int, url: str, who: str, a: Access) -> str | None:
    """The words for a failure of TLS or of the netrc file; None for another failure."""
    if exit == UNREADABLE and a.netrc:
        return (
            f"the netrc file {a.netrc}{a.named('auth')} cannot be read on the box: it must "
            f"exist there and be readable by the SSH user (without it {who} gets no user and "
            f"password){a.check('auth')}"
        )
    if not url.lower().startswith("https:"):
        if exit in _BROKEN:
            return (
                f"{who} at {url} ended the connection without an HTTP answer (curl exit {exit}): "
                f"if it serves https, the URL must start with https://{a.check('url')}"
            )
        return None
    return _tls(exit, url, who, a)


def _tls(exit: int, url: str, who: str, a: Access) -> str | None:
    """The words for a failure of TLS with WHO at the https URL; None for another failure."""
    if exit == 77:
        bundle = f"the CA bundle {a.cacert}{a.named('cacert')}" if a.cacert else "the box's CAs"
        return (
            f"curl cannot read {bundle} on the box: it must exist there and be readable by the "
            f"SSH user{a.check('cacert')}"
        )
    if exit == 58:
        pair = f" {a.cert} and key {a.key}{a.named('cert', 'key')}" if a.cert else ""
        return (
            f"curl cannot use the client certificate{pair} on the box: one is missing or not "
            f"readable by the SSH user, or they are not a pair{a.check('cert', 'key')}"
        )
    if exit in _UNTRUSTED:
        signer = (
            f"the CA in {a.cacert}{a.named('cacert')}"
            if a.cacert
            else f"a CA the box trusts (no {a.keys}cacert given: the system's CAs)"
        )
        return (
            f"{who}'s certificate at {url} is not trusted (curl exit {exit}): it is not signed "
            f"by {signer}, or it does not name the host in the URL{a.check('cacert', 'url')}"
        )
    client = (
        f"is {a.cert} signed by a CA it trusts?"
        if a.cert
        else f"it wants a client certificate{a.check('cert', 'key')}"
    )
    if exit in _HANDSHAKE:
        return (
            f"the TLS handshake with {who} at {url} failed (curl exit {exit}): does it serve "
            f"https there? If it verifies its clients, {client}"
        )
    if exit in _BROKEN:
        return (
            f"{who} at {url} ended the TLS connection without an HTTP answer (curl exit {exit}): "
            f"if it verifies its clients, {client}"
        )
    return None


@dataclass(frozen=True)
class Answer:
    """What a `command` line printed.

    Attributes:
        exit: curl's exit status; None when the output does not end with it
            (the shell failed before curl ran, or the output was cut).
        status: the HTTP status (0 when curl got none); None when curl printed none.
        body: the answer's body, as the box sent it (untrusted).
        output: everything the line printed, for a message when exit is None.
    """

    exit: int | None
    status: int | None
    body: str
    output: str = ""

    def problem(
        self, url: str, who: str = "the site", check: str = "", access: Access | None = None
    ) -> str | None:
        """Why there is no HTTP answer from WHO at URL (asked with ACCESS); None if there is."""
        if self.exit is None:
            return f"no curl result from the box for {url}: {one_line(self.output, 80)}"
        if self.exit == 0 and self.status is not None:
            return None
        return no_answer(self.exit, url, who, check, access)


def parse(output: str) -> Answer:
    """Read the output of a `command` line (never raises: see Answer.problem)."""
    rest, _, last = output.rstrip("\n").rpartition("\n")
    ended = _EXIT_LINE.fullmatch(last.strip())
    if ended is None:
        return Answer(None, None, "", output)
    body, _, status_line = rest.rpartition("\n")
    status = _STATUS_LINE.fullmatch(status_line.strip())
    if status is None:
        return Answer(int(ended.group(1)), None, rest, output)
    return Answer(int(ended.group(1)), int(status.group(1)), body, output)


async def fetch(run: Run, request: Request) -> Answer:
    """REQUEST made with curl by RUN on a box; errors of RUN pass through."""
    return parse(await run(request.command()))
