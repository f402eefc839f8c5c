"""Shell completion and the man page come from the full parser and cannot go stale."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from screens.main import main, main_parser

ROOT = Path(__file__).resolve().parent.parent
MAN_PAGE = ROOT / "docs" / "hotspare.1"
# Commands only the console's own entry point adds: proof the parser is the full one.
CONSOLE_COMMANDS = {"demo", "screenshot", "serve", "clusters", "completion"}


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def _commands(bash_script: str) -> list[str]:
    found = re.search(r"^_shtab_hotspare_subparsers=\((.*)\)$", bash_script, re.MULTILINE)
    assert found, "no list of subcommands in the bash script"
    return found[1].split()


def test_every_command_is_in_the_scripts_and_is_a_real_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bash = _script("bash", capsys)
    zsh = _script("zsh", capsys)
    names = _commands(bash)
    assert set(names) >= CONSOLE_COMMANDS | {"status", "drain", "promote", "audit", "lab"}
    for name in names:
        assert re.search(rf"\b{re.escape(name)}\b", zsh), name
        with pytest.raises(SystemExit) as done:
            main_parser().parse_args([name, "--help"])
        assert done.value.code == 0, name
    capsys.readouterr()


def _complete(script: Path, words: list[str], env: dict[str, str]) -> list[str]:
    """What bash offers for WORDS (the last one being completed), with the real script."""
    line = " ".join(shlex.quote(w) for w in words)
    program = (
        f"source {shlex.quote(str(script))}\n"
        f"COMP_WORDS=({line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
        'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()\n'
        "_shtab_hotspare hotspare\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["HOME"],  # files complete too: only the test's own folder's
        timeout=30,
        check=True,
    )
    return sorted(filter(None, done.stdout.splitlines()))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_choices_and_cluster_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "hotspare.bash"
    script.write_text(_script("bash", capsys))
    clusters = tmp_path / "config" / "hotspare" / "clusters"
    clusters.mkdir(parents=True)
    for name in ("shop", "staging", "prod"):
        (clusters / f"{name}.yaml").write_text("version: 1\n")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    assert _complete(script, ["hotspare", "clu"], env) == ["clusters"]
    assert _complete(script, ["hotspare", "completion", ""], env) == ["bash", "zsh"]
    assert _complete(script, ["hotspare", "--cluster", "s"], env) == ["shop", "staging"]
    assert _complete(script, ["hotspare", "status", "--cluster", "p"], env) == ["prod"]
    (tmp_path / "site.yaml").write_text("version: 1\n")
    assert _complete(script, ["hotspare", "--cluster", "s"], env) == [
        "shop",
        "site.yaml",
        "staging",
    ]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_loads_the_script_the_documented_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "_hotspare"
    script.write_text(_script("zsh", capsys))
    subprocess.run(["zsh", "-n", str(script)], check=True, timeout=30)
    # As ~/.zshrc does it: compinit, then eval "$(hotspare completion zsh)".
    program = (
        f"autoload -U compinit; compinit -u -d {shlex.quote(str(tmp_path / 'zcd'))}\n"
        f'eval "$(cat {shlex.quote(str(script))})"\n'
        "print -r -- ${_comps[hotspare]}\n"
    )
    done = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "_shtab_hotspare" and done.stderr == ""


def test_an_unknown_shell_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["completion", "fish"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'fish'" in err and "Traceback" not in err


def _make_man_args() -> list[str]:
    """The argparse-manpage arguments `make man` uses, read from the Makefile itself."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    found = re.search(r"^MAN_ARGS :=(.*)$", text, re.MULTILINE)
    assert found, "no MAN_ARGS in the Makefile"
    return shlex.split(found[1])


def _without_date(page: str) -> list[str]:
    return [line for line in page.splitlines() if not line.startswith(".TH ")]


def test_the_committed_man_page_is_the_parser_s() -> None:
    tool = Path(sys.executable).with_name("argparse-manpage")
    if not tool.exists():
        pytest.skip("argparse-manpage is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [str(tool), *_make_man_args()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
        check=True,
    )
    assert _without_date(done.stdout) == _without_date(MAN_PAGE.read_text()), (
        "docs/hotspare.1 is stale: run `make man`"
    )
    for name in CONSOLE_COMMANDS:
        assert f"\\fBhotspare\\fR \\fI\\,{name}\\/\\fR" in done.stdout, name
