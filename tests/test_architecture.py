"""The architecture contracts of `make lint` really fail on a back-edge or a cycle.

Each test copies the tree to a temporary folder, adds one forbidden import
and runs lint-imports there: the contract must break, naming the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("console", "screens"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_a_front_end_breaks_the_contract(tree: Path) -> None:
    _add_import(tree / "console/state/verdicts.py", "import console.cli.tables  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "The core never imports a front end BROKEN" in result.stdout
    assert "console.state.verdicts -> console.cli.tables" in result.stdout


def test_a_cycle_between_two_modules_breaks_the_contract(tree: Path) -> None:
    _add_import(tree / "console/units.py", "import console.text  # noqa")
    _add_import(tree / "console/text.py", "import console.units  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "No cycles between modules" in result.stdout and "BROKEN" in result.stdout
