"""`hotspare completion bash|zsh`: the shell completion script, made by shtab from the parser.

The script is generated from the live parser, so it knows every command a
front end added too and cannot drift from `--help`. `--cluster` completes the
names in the clusters folder as well as files; the shell lists that folder
itself, so a Tab press never starts Python.
"""

from __future__ import annotations

import argparse
from typing import Any

SHELLS = ("bash", "zsh")

# Both functions read the folder console/cli/clusters.py reads, and nothing else.
_BASH = r"""
_hotspare_cluster_name_or_file() {
  local dir="${XDG_CONFIG_HOME:-$HOME/.config}/hotspare/clusters" f
  for f in "$dir"/*.yaml; do
    [ -f "$f" ] || continue
    f="${f##*/}"
    f="${f%.yaml}"
    [[ "$f" == "$1"* ]] && printf '%s\n' "$f"
  done
  compgen -f -- "$1"
}
"""
_ZSH = r"""
_hotspare_cluster_name_or_file() {
  local dir="${XDG_CONFIG_HOME:-$HOME/.config}/hotspare/clusters"
  local -a names
  names=( "$dir"/*.yaml(N:t:r) )
  _alternative "clusters:cluster name:(${names})" 'files:inventory file:_files'
}
"""
CLUSTER = {
    "bash": "_hotspare_cluster_name_or_file",
    "zsh": "_hotspare_cluster_name_or_file",
    "preamble": {"bash": _BASH, "zsh": _ZSH},
}


def cluster_names(action: argparse.Action) -> argparse.Action:
    """Mark ACTION (the --cluster option) to complete cluster names and files; return it."""
    action.complete = CLUSTER  # type: ignore[attr-defined]  # shtab reads this attribute
    return action


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of PARSER for SHELL (one of SHELLS)."""
    import shtab  # only this command needs it

    return str(shtab.complete(parser, shell=shell))


def add_parser(commands: Any, root: argparse.ArgumentParser) -> None:
    """Add `completion` to COMMANDS; the script covers ROOT as it is when the command runs."""
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script",
        description='Print the completion script; load it with eval "$(hotspare completion '
        'bash)" in ~/.bashrc, or the same with zsh in ~/.zshrc.',
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    completion.set_defaults(run=lambda args: _print(root, args.shell))


def _print(root: argparse.ArgumentParser, shell: str) -> int:
    print(script(root, shell), end="")
    return 0
