"""The `hotspare` command: exit codes, messages and JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.lab.layout import LabLayout


def test_check_config_summarises_a_good_inventory(
    repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(repo_root / "cluster.yaml")]) == 0
    out = capsys.readouterr().out
    assert "web1  hot   scheduler" in out and out.rstrip().endswith(": OK")


def test_check_config_uses_the_environment_variable(
    repo_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTSPARE_CLUSTER", str(repo_root / "docs" / "cluster.example.yaml"))
    assert main(["check-config"]) == 0
    assert "production" in capsys.readouterr().out


def test_check_config_reports_a_broken_file_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "cluster.yaml"
    broken.write_text("version: 1\ncluster: [oops\n")
    assert main(["--cluster", str(broken), "check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    # The parser notices the unclosed list where the file ends.
    assert f"{broken}:3:1: YAML syntax error" in captured.err
    assert "Traceback" not in captured.err


def test_a_lab_block_outside_loopback_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--block", "10.1.2", "status"]) == 1
    assert "not a loopback /24" in capsys.readouterr().err


@pytest.mark.lab
def test_lab_status_json_says_what_runs_where(
    lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "--block", lab.block, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["schema"] == "hotspare.lab-status/1"
    running = {s["name"]: s["running"] for s in status["services"]}
    # sshd per box, the site and its runsv per web node, PostgreSQL per database, HAProxy, SMTP
    expected = len(lab.boxes) + 2 * len(lab.web_names) + len(lab.db_names) + 2
    assert running == dict.fromkeys(running, True) and len(running) == expected
    assert status["site_url"] == f"http://{lab.block}.2:8080/"
    assert status["db_uris"]["db2"] == f"postgresql://hotspare@{lab.block}.22:5432/site"
