"""Hostile or absurd input gets a message and an exit code, never a traceback or a hang.

Times too far away, a reader that closes the pipe, an inventory that is a
device or a pipe or far too big, names holding bidi overrides and escape
sequences, a changed host key. The lab tests at the end run the real
commands against the lab.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console import when
from console.actions import catalog
from console.actions.site.inputs import parse_until
from console.cli import main
from console.errors import ActionError, Exit, HotspareError, StatusExit
from console.inventory import InventoryError, load
from console.inventory.yamltree import MAX_BYTES
from console.lab.layout import LabLayout
from console.ssh import HostKeyRefused
from console.text import shown
from tests.support import verdict_parts as parts

REPO = Path(__file__).resolve().parent.parent
GOOD = REPO / "tests" / "inventory_cases" / "good_lab.yaml"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
EVIL = "web\u202e1\x1b[31m"  # a right-to-left override and an escape sequence
EVIL_SHOWN = "web\\u202e1\\x1b[31m"


# --- times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "99999999h",
        "9999999999999999999999m",
        pytest.param("9" * 400 + "s", id="400-digits-s"),
        "3651d",
        "87601h",
    ],
)
@pytest.mark.parametrize("ahead", [True, False])
def test_a_duration_past_ten_years_is_refused_with_the_longest_one(text: str, ahead: bool) -> None:
    with pytest.raises(when.WhenError) as info:
        when.parse(text, NOW, ahead=ahead)
    assert "the longest is 3650d (87600h, about ten years)" in str(info.value)
    assert info.value.exit == Exit.USAGE


def test_the_longest_duration_is_taken_both_ways() -> None:
    assert when.parse("3650d", NOW, ahead=True).at.year == 2036
    assert when.parse("87600h", NOW, ahead=False).at.year == 2016


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("99999999h", "the longest is 3650d"),
        ("9999999999999999999999m", "the longest is 3650d"),
        ("9999-12-31T23:59:30 UTC", "after 9999-12-31 23:59, the last minute"),
    ],
)
def test_a_site_until_too_far_ahead_is_bad_input(given: str, said: str) -> None:
    with pytest.raises(ActionError) as info:
        parse_until(given, NOW)
    assert said in str(info.value) and info.value.exit == Exit.USAGE


def test_the_until_option_of_the_catalogue_refuses_it_too() -> None:
    action = next(a for a in catalog.ACTIONS if a.name == "maintenance on")
    until = next(o for o in action.options if o.kind == "time")
    with pytest.raises(ActionError, match="the longest is 3650d"):
        catalog.read_option(until, "99999999h")


def test_a_quoted_time_escapes_what_it_holds() -> None:
    with pytest.raises(when.WhenError) as info:
        when.parse(EVIL, NOW, ahead=True)
    assert EVIL_SHOWN in str(info.value) and "\u202e" not in str(info.value)


# --- a reader that goes away ----------------------------------------------------------


def _closed_pipe_run(*argv: str) -> subprocess.CompletedProcess[str]:
    """`hotspare ARGV` with stdout a pipe nobody reads any more, buffered as in a real run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    os.close(read)
    try:
        command = [sys.executable, "-m", "screens.main", *argv]
        return subprocess.run(
            command, stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=60, cwd=REPO
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["check-config", str(GOOD)], ["completion", "bash"], ["clusters"]],
)
def test_a_closed_pipe_ends_the_command_quietly(argv: list[str]) -> None:
    done = _closed_pipe_run(*argv)
    assert (done.returncode, done.stderr) == (0, "")


def _extend_with(raised: BaseException) -> Any:
    def extend(parser: argparse.ArgumentParser, commands: Any) -> None:
        def run(args: argparse.Namespace) -> int:
            raise raised

        commands.add_parser("boom").set_defaults(run=run)

    return extend


def test_a_broken_pipe_that_is_not_stdouts_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    # A box's socket, say: stdout is fine, so this is a failure, not a reader gone.
    assert main(["boom"], extend=_extend_with(BrokenPipeError(32, "Broken pipe"))) == 70
    assert "internal error: BrokenPipeError" in capsys.readouterr().err


# --- inventory files --------------------------------------------------------------------


def _problem(path: Path | str) -> str:
    with pytest.raises(InventoryError) as info:
        load(path)
    (problem,) = info.value.problems
    return problem.message


def test_a_device_is_refused_without_reading_it() -> None:
    started = time.monotonic()
    assert "this is a device, not a regular file" in _problem("/dev/zero")
    assert time.monotonic() - started < 2


def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "cluster.yaml"
    os.mkfifo(fifo)
    # In a child: were it to wait for a writer, the timeout says so instead of a hung suite.
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "check-config", str(fifo)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == Exit.USAGE
    assert "this is a pipe (FIFO), not a regular file" in done.stderr


def test_a_file_past_the_cap_is_refused_and_one_at_the_cap_is_read(tmp_path: Path) -> None:
    text = GOOD.read_text()
    at_cap = tmp_path / "at-cap.yaml"
    at_cap.write_text(text + "#" * (MAX_BYTES - len(text.encode()) - 1) + "\n")
    assert at_cap.stat().st_size == MAX_BYTES
    assert load(at_cap).name == "lab"
    over = tmp_path / "over.yaml"
    over.write_text(text + "#" * (MAX_BYTES - len(text.encode())) + "\n")
    message = _problem(over)
    assert "larger than 256 KiB, the most hotspare reads" in message
    assert "is this the right file?" in message


def test_a_hundred_nodes_are_well_under_the_cap(tmp_path: Path) -> None:
    text = GOOD.read_text()
    boxes = "".join(f"  n{i:03d}: {{address: 10.0.{i // 250}.{i % 250 + 1}}}\n" for i in range(100))
    nodes = "".join(f"  n{i:03d}: {{role: warm}}\n" for i in range(100))
    path = tmp_path / "hundred.yaml"
    path.write_text(text.replace("boxes:\n", "boxes:\n" + boxes, 1).replace(
        "web_nodes:\n", "web_nodes:\n" + nodes, 1
    ))  # fmt: skip
    assert path.stat().st_size < MAX_BYTES / 10
    assert len(load(path).web_nodes) == 103


def test_deep_nesting_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 100_000)
    assert "nest too deeply" in _problem(path)


def test_thousands_of_problems_print_only_the_first_fifty(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(GOOD.read_text() + "".join(f"k{i}: 1\n" for i in range(2000)))
    with pytest.raises(InventoryError) as info:
        load(path)
    text = str(info.value)
    assert len(info.value.problems) == 2000 and len(text.splitlines()) == 52
    assert "... and 1950 more; is this the right file?" in text


def test_an_unusable_inventory_is_bad_input_for_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--cluster", "/dev/zero", "drain", "web1"]) == Exit.USAGE
    assert "/dev/zero:1:1: this is a device" in capsys.readouterr().err
    assert main(["--cluster", "/dev/zero", "status"]) == StatusExit.UNKNOWN


# --- names that hold bidi and control characters ------------------------------------------


def test_shown_escapes_what_is_not_printable_and_keeps_the_rest() -> None:
    assert shown("web1 ünïcode [b]") == "web1 ünïcode [b]"
    assert shown(EVIL) == EVIL_SHOWN
    assert shown("a\u2066b\u200fc\x85d\te\nf\U000e0001") == (
        "a\\u2066b\\u200fc\\x85d\\x09e\\x0af\\U000e0001"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  web3: {address: 127.0.10.13}", '  "{evil}": {{address: 127.0.10.13}}'),
        ("  web3: {role: warm}", '  "{evil}": {{role: warm}}'),
        ("  box: lb1", '  box: "{evil}"'),
        ("  web3: {address: 127.0.10.13}", '  web3: {{address: 127.0.10.13, jump: ["{evil}"]}}'),
        ("  web3: {address: 127.0.10.13}", '  web3: {{address: 127.0.10.13, "{evil}": 1}}'),
        ("  port: 2222", '  port: !!int "{evil}"'),
        ("version: 1", 'version: 1\n"{evil}": 1'),
        ("    label: lab", '    label: "{evil}"'),  # text is refused too, not only names
    ],
)
def test_an_inventory_error_shows_a_hostile_name_escaped(
    tmp_path: Path, old: str, new: str
) -> None:
    # YAML's double quotes carry the escape sequence (ESC is not allowed raw) and the override.
    evil = "web\u202e1\\e[31m\\u0085x"
    text = GOOD.read_text()
    assert old in text
    path = tmp_path / "cluster.yaml"
    path.write_text(text.replace(old, new.format(evil=evil), 1))
    with pytest.raises(InventoryError) as info:
        load(path)
    said = str(info.value)
    assert "web\\u202e1\\x1b[31m\\x85x" in said
    assert said.isprintable() or set(said) - set(shown(said)) <= {"\n"}
    assert not {"\u202e", "\x1b", "\x85"} & set(said)


def test_names_an_operator_types_are_escaped_in_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--cluster", str(GOOD), "logs", EVIL]) == Exit.USAGE
    assert f"no web node named {EVIL_SHOWN};" in capsys.readouterr().err
    assert main(["--cluster", str(GOOD), "trust", EVIL]) == Exit.USAGE
    assert f"hotspare trust: no box or jump host named '{EVIL_SHOWN}'" in capsys.readouterr().err
    # Whatever the error, main shows its message escaped, line by line.
    assert main(["boom"], extend=_extend_with(HotspareError(f"a\n{EVIL}"))) == Exit.FAILED
    assert capsys.readouterr().err == f"hotspare boom: a\n{EVIL_SHOWN}\n"


# --- a changed host key -----------------------------------------------------------------


def test_a_changed_host_key_is_a_critical_alarm_not_a_stale_box() -> None:
    stale = parts.box("web2", stale=True, reason="HOST KEY CHANGED ...")
    changed = replace(stale, host_key_changed=True)
    _, alarms = parts.run(boxes=(changed,))
    (alarm,) = [a for a in alarms if a.subject == ("web2",)]
    assert (alarm.code, alarm.severity) == ("host-key-changed", "critical")
    assert alarms[0] is alarm  # critical ones first
    unknown = parts.box("web2", stale=True, reason="unknown host key ...")
    _, alarms = parts.run(boxes=(unknown,))
    assert [(a.code, a.severity) for a in alarms] == [("box-stale", "warning")]


def test_a_changed_host_key_refuses_an_unknown_one_fails() -> None:
    assert HostKeyRefused("web2", "changed", "SHA256:x", changed=True).exit == Exit.REFUSED
    assert HostKeyRefused("web2", "unknown", "SHA256:x", changed=False).exit == Exit.FAILED


# --- the same, against the lab --------------------------------------------------------------


def test_the_real_commands_say_so_against_the_lab(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = ["--cluster", str(lab.cluster_file)]
    for argv in (
        ["maintenance", "on", "--until", "99999999h", "--dry-run"],
        ["read-only", "on", "--until", "9999999999999999999999m", "--dry-run"],
    ):
        assert main([*cluster, *argv]) == Exit.USAGE
        err = capsys.readouterr().err
        assert "the longest is 3650d (87600h, about ten years)" in err, err
        assert "internal error" not in err
    done = _closed_pipe_run(*cluster, "status")
    assert (done.returncode, done.stderr) == (0, "")
