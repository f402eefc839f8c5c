"""`hotspare status` answered by the shared monitor, before the rest of hotspare loads.

A jump host's `hotspare status` (or a check every minute) costs the
interpreter's start and one socket round trip: the monitor prints the
table from its latest snapshot. Anything else, or any doubt (no monitor,
one that reads another cluster.yaml, a snapshot not fresh, an option this
path does not know), and the command goes the long way, which says why.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from console import cluster_file
from console.daemon import place
from console.daemon.wire import hello_digest, request_line

WAIT = 1.0  # seconds for the whole exchange; the monitor answers from memory


def status(argv: Sequence[str]) -> int | None:
    """Run `hotspare status` as ARGV asks if the shared monitor can answer; its exit status.

    Returns:
        None when it cannot, or ARGV is not a plain `status [--json]`.
    """
    asked = _plain_status(argv)
    if asked is None or not place.wanted():
        return None
    given, as_json = asked
    try:
        path = cluster_file.cluster_path(given)
        socket_path = place.socket_for(path)
    except Exception:  # the long way says what is wrong with the file or the path
        return None
    try:
        answer = _ask(socket_path, place.digest(path), as_json)
    except TimeoutError:
        # A monitor there but hung (SIGSTOP, swapped out): say so once, and let the
        # long way read the site itself rather than wait for it a second time.
        print(
            f"status: not using the shared monitor: the monitor on {socket_path} "
            f"did not answer within {WAIT:g} s",
            file=sys.stderr,
        )
        os.environ[place.ENV] = "own"
        return None
    except Exception:  # any other doubt: the long way, which says what is wrong
        return None
    if answer is None:
        return None
    code, output = answer
    sys.stdout.write(output + "\n")
    sys.stdout.flush()
    return code


def _plain_status(argv: Sequence[str]) -> tuple[str | None, bool] | None:
    """(--cluster's value, --json) when ARGV is `status` with only those and --timeout."""
    words = list(argv)
    given, as_json, seen = None, False, False
    while words:
        word = words.pop(0)
        if word == "status" and not seen:
            seen = True
        elif word == "--json" and seen:
            as_json = True
        elif word in ("--cluster", "--timeout") and words:
            value = words.pop(0)
            given = value if word == "--cluster" else given
        elif word.startswith("--cluster="):
            given = word.partition("=")[2]
        elif word.startswith("--timeout="):
            pass
        else:
            return None
    return (given, as_json) if seen else None


def _ask(path: Path, digest: str, as_json: bool) -> tuple[int, str] | None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(str(path))
        sock.sendall(request_line("status", as_json))
        reply = b""
        while reply.count(b"\n") < 2:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            reply += chunk
    hello_line, _, answer_line = reply.partition(b"\n")
    if not digest or hello_digest(hello_line) != digest:
        return None
    answer = json.loads(answer_line)
    if not isinstance(answer, dict) or not isinstance(answer.get("exit"), int):
        return None
    return int(answer["exit"]), str(answer["output"])
