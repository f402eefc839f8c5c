"""Fetching a URL from a box with curl: one command line and one reader of what it prints.

Every HTTP request hotspare makes is made by curl on a box (the site through
the balancer, a node's health and /role, Patroni's REST API), so none of those
need be reachable from the operator's machine. The command is bounded by
curl's --max-time, quotes the URL and the body for the shell, and prints the
answer's body, then the HTTP status and curl's exit status on lines of their
own: one stdout tells every outcome apart, curl missing included.
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


@dataclass(frozen=True)
class Request:
    """METHOD URL [BODY] as curl makes it on a box, given up after MAX_TIME seconds."""

    method: str
    url: str
    max_time: float
    body: str | None = None
    content_type: str | None = None

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
        if options:
            words.append(options)
        return " ".join([*words, shlex.quote(self.url)])

    def command(self) -> str:
        """The shell line that makes the request; `parse` reads what it prints."""
        status = f"-w '\\n{_STATUS} %{{http_code}}\\n'"
        return f'{self.curl(status)}; echo "{_EXIT} $?"'


def no_answer(exit: int, url: str, who: str = "the site", check: str = "") -> str:
    """Why curl got no HTTP answer from WHO at URL (curl's EXIT status), in an operator's words.

    CHECK, when given, is the sentence saying what to check (a cluster.yaml key).
    """
    then = f" {check}" if check else ""
    if exit == NOT_INSTALLED:
        return f"curl is not installed on the box: hotspare asks {who} with it"
    if exit in (6, 7):
        return f"nothing answers at {url}: is {who} running?{then}"
    if exit == 28:
        return f"{who} did not answer at {url} in time: is it overloaded or hung?"
    return f"curl could not ask {url} (curl exit {exit}){':' if check else ''}{then}"


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

    def problem(self, url: str, who: str = "the site", check: str = "") -> str | None:
        """Why there is no HTTP answer from WHO at URL; None when there is one."""
        if self.exit is None:
            return f"no curl result from the box for {url}: {one_line(self.output, 80)}"
        if self.exit == 0 and self.status is not None:
            return None
        return no_answer(self.exit, url, who, check)


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
