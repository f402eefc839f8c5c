"""The ``alerts`` section: the commands told of alarm transitions, and how often."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

import yaml

from .fields import Bad, Check, choice, text, whole_number
from .model import AlertHook, Alerts
from .sections import Key, as_mapping, merge, read_keys, section
from .upgrade import seconds
from .yamltree import Node, Reporter, describe, is_null, scalar

SEVERITIES = ("critical", "warning")
_COMMAND = (
    "expected the command as a list, such as [/usr/local/bin/page-oncall, --team, web], "
    "or as one line of words split like a shell splits them (but run without one)"
)
_SHELL = (
    "no shell runs a hook, so {found} would reach the program as an argument; "
    "write [/bin/sh, -c, '...'] to run a shell on purpose"
)
_OPERATORS = frozenset("|&;<>()")
_HOOKS = "expected a list of hooks, each a mapping such as {command: [/usr/local/bin/page-oncall]}"
_SEVERITIES = "expected a list of severities: [critical], [warning] or [critical, warning]"


def command(base: Path) -> Check:
    """A program and its arguments; a relative program path is taken from BASE.

    A list is taken word for word. A string is split with shlex (quotes and
    backslashes as in a shell); shell operators and ``$`` expansions in it are
    refused, since no shell runs it to give them their meaning.
    """

    def check_command(node: Node) -> tuple[str, ...]:
        if isinstance(node, yaml.SequenceNode):
            words = _words(node)
        elif isinstance(scalar(node), str):
            words = _split(text(node))
        else:
            raise Bad(_COMMAND)
        if not words:
            raise Bad(f"it is empty; {_COMMAND}")
        return (_program(words[0], base), *words[1:])

    return check_command


def _words(node: yaml.SequenceNode) -> list[str]:
    words = []
    for index, child in enumerate(node.value):
        try:
            words.append(text(child))
        except Bad as bad:
            raise Bad(f"word {index}, {describe(child)}, is not a word: {bad.text}") from bad
    return words


def _split(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError as exc:
        raise Bad(f"{_COMMAND}; this line cannot be split: {exc}") from exc
    for word in words:
        if word and set(word) <= _OPERATORS:
            raise Bad(_SHELL.format(found=f"'{word}'"))
        if "$" in word or "`" in word:
            raise Bad(_SHELL.format(found="a $ or ` expansion"))
    return words


def _program(word: str, base: Path) -> str:
    """WORD as a program: ~ expanded, a relative path with a / taken from BASE."""
    path = Path(word).expanduser() if word.startswith("~") else Path(word)
    if "/" in word and not path.is_absolute():
        return str(base / path)
    return str(path)


def severities(node: Node) -> tuple[str, ...]:
    """A non-empty list of alarm severities."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise Bad(_SEVERITIES)
    check = choice(SEVERITIES)
    found = []
    for child in node.value:
        try:
            found.append(check(child))
        except Bad as bad:
            raise Bad(f"{describe(child)} in it is not a severity: {bad.text}") from bad
    return tuple(dict.fromkeys(found))


def hook_keys(base: Path) -> dict[str, Key]:
    """The keys of one hook."""
    return {
        "command": Key(command(base), required=True),
        "severities": Key(severities, default=AlertHook.severities),
        "timeout": Key(seconds(1, 300), default=AlertHook.timeout),
    }


def read_alerts(rep: Reporter, top: Mapping[str, tuple[Node, Node]], base: Path) -> Alerts | None:
    """Read the optional alerts section (no hooks when it is absent); None if reported."""
    keys = {
        "hooks": Key(lambda node: node, default=None),
        "min_interval": Key(seconds(0, 86400), default=Alerts.min_interval),
        "max_per_minute": Key(whole_number(1, 600), default=Alerts.max_per_minute),
    }
    node = section(rep, top, "alerts", "a mapping of alert settings (hooks, min_interval)")
    if node is None:
        return None if "alerts" in top else Alerts()
    read = read_keys(rep, node, "alerts", keys)
    hooks = _hooks(rep, read.values.get("hooks"), base)  # checked even when a setting is bad
    merged = merge(rep, read, None, keys, "", ())
    if merged is None or hooks is None:
        return None
    values = {k: v for k, v in merged[0].items() if k != "hooks"}
    return Alerts(hooks=hooks, **values)


def _hooks(rep: Reporter, node: Node | None, base: Path) -> tuple[AlertHook, ...] | None:
    if node is None or is_null(node):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        rep.at(node, "alerts.hooks", f"found {describe(node)}; {_HOOKS}")
        return None
    found: list[AlertHook] = []
    complete = True
    keys = hook_keys(base)
    for index, child in enumerate(node.value):
        path = f"alerts.hooks[{index}]"
        mapping = as_mapping(rep, child, path, "a mapping such as {command: [...]}")
        merged = None
        if mapping is not None:
            merged = merge(rep, read_keys(rep, mapping, path, keys), None, keys, "", ())
        if merged is None:
            complete = False
        else:
            found.append(AlertHook(**merged[0]))
    return tuple(found) if complete else None
