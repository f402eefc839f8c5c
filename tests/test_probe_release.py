"""The node probe's release lines: what the site runs (version_url) and what current selects."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from console.inventory import WebNode
from console.probes.node import parse, script

PLAIN = WebNode(
    name="web1",
    box="web1",
    server="web1",
    role="hot",
    scheduler=True,
    health_url="http://10.0.0.11:8000/healthz",
    access_log="/srv/site/log/access.{role}.web1.log",
    error_log="/srv/site/log/error.web1.log",
    role_file="/srv/site/etc/node-role",
    pid_file="/srv/site/run/site.pid",
)
RELEASED = replace(
    PLAIN, releases="/srv/site/my releases", version_url="http://10.0.0.11:8000/version"
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def probed(node: WebNode, *lines: str) -> tuple[str | None, str | None]:
    state = parse("now 1000\n" + "".join(line + "\n" for line in lines), node, 1000.0)
    return state.release, state.selected_release


def version_line(answer: str) -> str:
    return f"version {b64(answer)}"


def selected_line(target: str) -> str:
    return f"selected {b64(target)}"


def test_the_script_reads_releases_only_when_the_inventory_declares_them() -> None:
    assert "version" not in script(PLAIN) and "readlink" not in script(PLAIN)
    text = script(RELEASED)
    assert "curl -s --max-time 1 -f http://10.0.0.11:8000/version | head -c 4096 | base64" in text
    assert "readlink '/srv/site/my releases/current'" in text
    assert text.endswith("true")


def test_json_and_a_link_give_the_running_and_the_selected_release() -> None:
    answer = json.dumps({"release": "v2", "node": "web1", "pid": 7, "started": 1.5}, indent=1)
    assert probed(RELEASED, version_line(answer), selected_line("v3-broken")) == (
        "v2",
        "v3-broken",
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("v7 built 2026-11-25\n", "v7"),  # plain text: its first word
        ("  2.4.1  \n", "2.4.1"),
        ('{"release": "release 9 rc"}', "release 9 rc"),
        ('{"release": 9}', None),  # not a name
        ('{"version": "v2"}', None),
        ("[1, 2]", None),
        ('{"release": "v2\\u001b[31m"}', None),  # a terminal escape
        ('{"release": "' + "x" * 41 + '"}', None),  # longer than 40
        ('{"release": "' + "x" * 40 + '"}', "x" * 40),
        ("", None),
        ("\x07bell", None),
    ],
)
def test_the_version_answer_is_read_strictly(answer: str, expected: str | None) -> None:
    assert probed(RELEASED, version_line(answer))[0] == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("v1", "v1"),
        ("v2/", "v2"),
        ("/srv/site/my releases/v3-broken", "v3-broken"),
        ("v1\nhealth 200 0.001", None),  # a newline in a link name never forges a line
        ("", None),
        ("y" * 41, None),
    ],
)
def test_the_selected_link_is_read_strictly(target: str, expected: str | None) -> None:
    assert probed(RELEASED, selected_line(target))[1] == expected


@pytest.mark.parametrize(
    "line",
    ["version", "version ", "version not-base64!", "selected", "selected %%%", "version a b"],
)
def test_a_bad_line_is_ignored(line: str) -> None:
    assert probed(RELEASED, line) == (None, None)


def test_nothing_is_read_for_a_node_that_declares_no_releases() -> None:
    lines = (version_line('{"release": "v2"}'), selected_line("v2"))
    assert probed(PLAIN, *lines) == (None, None)
    assert probed(RELEASED, *lines) == ("v2", "v2")


def test_a_missing_answer_leaves_both_unknown() -> None:
    assert probed(RELEASED) == (None, None)
