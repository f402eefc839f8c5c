"""What one entry of the action catalogue declares: its target, options, key and builder.

The catalogue itself (console/actions/catalog.py) is the list of entries and
the few functions that plan from one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Group = Literal["balancer", "roles", "site", "database", "cluster", "supervisor"]
Kind = Literal["flag", "seconds", "int", "time", "moment", "message"]


@dataclass(frozen=True)
class Target:
    """What an action acts on: the console's selection, the CLI's positional argument.

    Attributes:
        kind: "node" (a web node), "database" (a member) or "site" (no argument).
        param: the plan builder's keyword for it ("node", "standby", "name").
        metavar: how the CLI shows it ("NODE", "STANDBY").
    """

    kind: Literal["node", "database", "site"]
    param: str = ""
    metavar: str = ""


SITE = Target("site")
NODE = Target("node", "node", "NODE")


@dataclass(frozen=True)
class Option:
    """One option of an action beside its target, front-end neutral.

    Attributes:
        name: the plan builder's keyword ("timeout").
        help: one line.
        kind: how the text is read: a flag, seconds, a whole number, a time
            (the one time grammar, console/actions/site/inputs.py; a page's "until",
            to the minute), a moment (the same grammar, to the second, ahead of
            now: when Patroni is to act) or a page message.
        default: when not given.
        required: the CLI insists on it.
        positional: given in place on the command line (`weight web1 50`).
        metavar: how the CLI shows its value.
    """

    name: str
    help: str
    kind: Kind = "flag"
    default: Any = False
    required: bool = False
    positional: bool = False
    metavar: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Ask:
    """One question the console asks before it plans an action.

    Attributes:
        option: the option the answer sets; an emptied answer leaves its default.
        question: in the operator's words.
        default: already typed in, to keep or edit.
    """

    option: str
    question: str
    default: str = ""


@dataclass(frozen=True)
class Key:
    """How the console starts an action: its key and what it asks first.

    Attributes:
        key: the key as Textual names it ("d", "M"); "" for the palette only.
        label: the key bar's word.
        preset: option values the console passes (forcing is typing the name there).
        ask: the questions asked first, on one screen.
    """

    key: str
    label: str
    preset: Mapping[str, Any] = field(default_factory=dict)
    ask: tuple[Ask, ...] = ()


@dataclass(frozen=True)
class Action:
    """One action.

    Attributes:
        words: the command's words ("drain"; "read-only", "on").
        group: what it acts on, as the package of its plan module is named.
        help: one line, in the operator's words.
        target: the node, member or the site.
        build: "module:function" of the plan builder, called
            (inv, state, <target.param>=NAME, **options).
        options: beside the target.
        typed: what must be typed to go ahead, in words ("" for a y/N).
        key: the console key, or None (command line only).
        applies: "module:function" (inv, state, target) -> bool: whether this
            is what the key means now, when several actions share it.
        aliases: other names of the last word.
        resumes: the builder takes `resume`, the memo of an interrupted run of
            the same command that this run finishes.
        locked: takes the cluster's action lock (every action but `unlock`).
    """

    words: tuple[str, ...]
    group: Group
    help: str
    target: Target
    build: str
    options: tuple[Option, ...] = ()
    typed: str = ""
    key: Key | None = None
    applies: str = ""
    aliases: tuple[str, ...] = ()
    resumes: bool = False
    locked: bool = True

    @property
    def name(self) -> str:
        return " ".join(self.words)
