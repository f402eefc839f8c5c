"""The conventions every `hotspare` command keeps: version, lazy imports, options, times, exits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from console import errors, when
from console.actions import catalog
from console.actions.site.inputs import parse_until
from console.cli import build_parser, main
from console.cli import status as cli_status
from console.errors import ActionError, Exit, HotspareError, StatusExit
from console.logs.since import SinceError, parse_since
from console.state.model import Alarm, ClusterState
from tests.support import verdict_parts as parts

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 2, 10, 20, tzinfo=UTC)
HEAVY = ("asyncssh", "psycopg", "textual")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screens.main", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


# --- 1. --version -------------------------------------------------------------------------


def test_version_comes_from_the_installed_package() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout == f"hotspare {metadata.version('hotspare')}\n"


# --- 2. help and check-config load no SSH, PostgreSQL nor Textual --------------------------


def _every_command() -> list[list[str]]:
    words = {tuple(a.words) for a in catalog.ACTIONS}
    core = ["check-config", "status", "trust", "logs", "logs-collect", "audit", "lab"]
    return [
        [],
        *([name] for name in core),
        *(list(w) for w in sorted(words)),
        ["lab", "up"],
        ["logs", "collect"],
        ["demo"],
        ["screenshot"],
        ["serve"],
    ]


_PROBE = """
import json, sys
from screens.main import main
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit:
        pass
loaded = {m.split(".")[0] for m in sys.modules} & set(sys.argv[2:])
print(json.dumps(sorted(loaded)), file=sys.stderr)
"""


def test_help_of_every_command_loads_no_ssh_database_or_textual() -> None:
    helps = [[*words, "--help"] for words in _every_command()]
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(helps), *HEAVY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert "usage: hotspare drain" in probe.stdout and "usage: hotspare lab up" in probe.stdout
    assert json.loads(probe.stderr.splitlines()[-1]) == []


def test_check_config_loads_no_ssh_database_or_textual() -> None:
    checks = [["check-config", str(ROOT / "cluster.yaml")], ["check-config", "--json"]]
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(checks), *HEAVY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert ": OK" in probe.stdout and '"hotspare.config/1"' in probe.stdout
    assert json.loads(probe.stderr.splitlines()[-1]) == []


# --- 3. global options after the command --------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["drain", "web1", "--observe"], {"observe": True, "cluster": None, "node": "web1"}),
        (["--observe", "drain", "web1"], {"observe": True}),
        (["drain", "web1"], {"observe": False, "debug": False}),
        (["status", "--cluster", "F"], {"cluster": "F", "command": "status"}),
        (["--cluster", "G", "status"], {"cluster": "G"}),
        (["--cluster", "G", "status", "--cluster", "F"], {"cluster": "F"}),
        (["read-only", "on", "--until", "30m", "--debug"], {"debug": True, "until": "30m"}),
        (["lab", "up", "--block", "127.0.10", "--web-nodes", "4"], {"block": "127.0.10"}),
        (["lab", "--web-nodes", "4", "up"], {"web_nodes": 4, "lab_command": "up"}),
        (["lab", "--block", "127.0.5", "status", "--web-nodes", "2"], {"block": "127.0.5"}),
    ],
)
def test_global_and_lab_options_go_before_or_after_the_command(
    argv: list[str], expected: dict[str, Any]
) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {key: args.get(key, "<missing>") for key in expected} == expected


def test_lab_options_after_the_verb_keep_the_defaults_of_the_others() -> None:
    args = build_parser().parse_args(["lab", "up", "--web-nodes", "4"])
    assert args.web_nodes == 4 and args.block  # the lab's own default block


def test_an_error_is_signed_by_the_whole_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "status", "--block", "10.1.2"]) == 1
    assert capsys.readouterr().err.startswith("hotspare lab status: lab block '10.1.2'")


# --- 4. --json ----------------------------------------------------------------------------


def test_check_config_json_is_the_inventory_as_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", str(ROOT / "docs" / "cluster.example.yaml"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "hotspare.config/1" and document["ok"] is True
    assert document["environment"]["label"] == "production"
    assert {box["name"] for box in document["boxes"]} >= {"web1"}
    assert all("jump_chain" in box for box in document["boxes"])


def test_check_config_json_says_not_ok_for_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "cluster.yaml"
    broken.write_text("version: 1\ncluster: [oops\n")
    assert main(["check-config", str(broken), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"schema": "hotspare.config/1", "ok": False}
    assert "YAML syntax error" in captured.err


class _FakeFeed:
    """Hands out the given snapshots, then ends (as ^C would)."""

    states: tuple[ClusterState, ...] = ()

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    async def updates(self) -> AsyncIterator[ClusterState]:
        for state in self.states:
            yield state


class _FakeMonitor:
    """Answers `once` with the given snapshot; needs no box."""

    state: ClusterState

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    async def once(self, deadline: float) -> ClusterState:
        return self.state

    async def close(self) -> None:
        pass


def _with_alarms(*severities: str) -> ClusterState:
    alarms = tuple(Alarm(f"a{i}", s, ("web1",), "x") for i, s in enumerate(severities))  # type: ignore[arg-type]
    return replace(parts.cluster_state(), alarms=alarms)


def test_status_watch_json_prints_one_document_per_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import console.feed
    import console.monitor

    _FakeFeed.states = (_with_alarms(), _with_alarms("warning"))
    monkeypatch.setattr(console.feed, "Feed", _FakeFeed)
    monkeypatch.setattr(console.monitor, "Monitor", _FakeMonitor)
    cluster = str(ROOT / "cluster.yaml")
    assert main(["status", "--watch", "--json", "--cluster", cluster]) == 0
    lines = capsys.readouterr().out.splitlines()
    documents = [json.loads(line) for line in lines]
    assert len(documents) == 2 and {d["schema"] for d in documents} == {cli_status.SCHEMA}
    assert [len(d["alarms"]) for d in documents] == [0, 1]


# --- 5. one time grammar ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ago", "ahead"),
    [
        ("10m", "2026-11-26 02:00:20", "2026-11-26 02:20:20"),
        ("1h30m", "2026-11-26 00:40:20", "2026-11-26 03:40:20"),
        ("14:30", "2026-11-25 14:30:00", "2026-11-26 14:30:00"),
        ("01:00", "2026-11-26 01:00:00", "2026-11-27 01:00:00"),
        ("yesterday", "2026-11-25 00:00:00", "2026-11-25 00:00:00"),
        ("2026-12-06T14:30", "2026-12-06 14:30:00", "2026-12-06 14:30:00"),
        ("2026-11-26 03:30 UTC", "2026-11-26 03:30:00", "2026-11-26 03:30:00"),
    ],
)
def test_one_grammar_two_directions(text: str, ago: str, ahead: str) -> None:
    def utc(moment: when.When) -> str:
        return moment.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    written = text if text.endswith(" UTC") else f"{text} UTC"  # not the test machine's zone
    assert utc(when.parse(written, NOW, ahead=False)) == ago
    assert utc(when.parse(written, NOW, ahead=True)) == ahead


def test_logs_and_site_read_the_same_absolute_time_the_same() -> None:
    text = "2026-12-06T14:30 UTC"
    assert parse_since(text, NOW.timestamp()) == parse_until(text, NOW).at.timestamp()


@pytest.mark.parametrize("bad", ["tomorrow", "last tuesday", "14h30", ""])
def test_a_non_time_is_refused_with_the_forms_for_both(bad: str) -> None:
    with pytest.raises(SinceError, match=r"--since .*expected a duration like 10m"):
        parse_since(bad, NOW.timestamp())
    with pytest.raises(ActionError, match=r"--until .*expected a duration like 10m"):
        parse_until(bad, NOW)


def test_logs_until_is_checked_against_since(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = str(ROOT / "cluster.yaml")
    assert main(["logs", "--since", "1h", "--until", "2h", "--cluster", cluster]) == 2
    assert "hotspare logs: --since '1h' is after --until '2h'" in capsys.readouterr().err
    assert main(["logs", "--until", "soon", "--cluster", cluster]) == 2
    assert "hotspare logs: --until 'soon' is not a time" in capsys.readouterr().err


# --- 6. status exits as monitoring plugins do -----------------------------------------------


@pytest.mark.parametrize(
    ("severities", "code"),
    [((), 0), (("warning",), 1), (("warning", "critical"), 2), (("critical",), 2)],
)
def test_status_exit_follows_the_monitoring_plugin_convention(
    severities: tuple[str, ...], code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.monitor

    _FakeMonitor.state = _with_alarms(*severities)
    monkeypatch.setattr(console.monitor, "Monitor", _FakeMonitor)
    assert main(["status", "--cluster", str(ROOT / "cluster.yaml")]) == code


def test_status_is_unknown_when_it_cannot_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--cluster", str(tmp_path / "missing.yaml")]) == StatusExit.UNKNOWN
    with pytest.raises(SystemExit) as bad_value:
        main(["status", "--interval", "often"])
    with pytest.raises(SystemExit) as bad_option:
        main(["status", "--colour"])
    assert bad_value.value.code == bad_option.value.code == StatusExit.UNKNOWN
    assert "unrecognized arguments: --colour" in capsys.readouterr().err


def test_other_commands_keep_2_for_a_bad_option() -> None:
    with pytest.raises(SystemExit) as bad:
        main(["audit", "--colour"])
    assert bad.value.code == Exit.USAGE


# --- 7. errors in one place -----------------------------------------------------------------


def _error_classes() -> list[tuple[type[Exception], type[Exception] | None, Exit]]:
    from console.dbconn import DatabaseUnreachable
    from console.inventory.errors import InventoryError
    from console.lab.layout import LayoutError
    from console.lab.procs import LabProcessError
    from console.logs.archive import CollectError
    from console.node_role import RoleFileError
    from console.probes.haproxy import BalancerProbeError
    from console.probes.patroni import PatroniProbeError
    from console.ssh.errors import BoxError, HostKeyRefused

    return [
        (BoxError, None, Exit.FAILED),
        (HostKeyRefused, None, Exit.FAILED),
        (InventoryError, None, Exit.USAGE),
        (BalancerProbeError, RuntimeError, Exit.FAILED),
        (PatroniProbeError, RuntimeError, Exit.FAILED),
        (SinceError, ValueError, Exit.USAGE),
        (when.WhenError, ValueError, Exit.USAGE),
        (CollectError, None, Exit.FAILED),
        (LayoutError, ValueError, Exit.FAILED),
        (LabProcessError, RuntimeError, Exit.FAILED),
        (RoleFileError, ValueError, Exit.FAILED),
        (DatabaseUnreachable, None, Exit.FAILED),
        (ActionError, RuntimeError, Exit.USAGE),
    ]


def test_every_operator_error_is_a_hotspare_error_with_its_exit_code() -> None:
    for cls, old_base, code in _error_classes():
        assert issubclass(cls, HotspareError), cls
        assert old_base is None or issubclass(cls, old_base), cls
        assert cls.exit == code, cls


def _with_command(run: Any) -> Any:
    def extend(parser: Any, commands: Any) -> None:
        commands.add_parser("boom").set_defaults(run=run)

    return extend


def test_main_says_a_hotspare_error_once_and_ends_with_its_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(_: Any) -> int:
        raise when.WhenError("'soon' is not a time")

    assert main(["boom"], extend=_with_command(refuse)) == Exit.USAGE
    err = capsys.readouterr().err
    assert err == "hotspare boom: 'soon' is not a time\n"


def test_anything_else_is_an_internal_error(capsys: pytest.CaptureFixture[str]) -> None:
    def crash(_: Any) -> int:
        raise KeyError("oops")

    assert main(["boom"], extend=_with_command(crash)) == Exit.INTERNAL
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "Traceback" not in err


def test_the_exit_table_in_docs_cli_covers_every_code() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    table = [line for line in doc.splitlines() if line.startswith("| ") and "|" in line[2:]]
    codes = {line.split("|")[1].strip() for line in table}
    assert {str(int(c)) for c in (*errors.Exit, *errors.StatusExit)} <= codes
    assert doc.count("## Exit status") == 1
