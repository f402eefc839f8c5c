"""Reading cluster.yaml into a YAML node tree that keeps line and column marks.

PyYAML's ``safe_load`` throws the marks away and silently keeps the last of two
duplicate keys, so the loader works on the composed node tree instead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from .errors import Problem

Node = yaml.Node
PASSWORD_KEYS = frozenset({"password", "passwd", "pgpassword"})
PASSWORD_RULE = "passwords never go in cluster.yaml; use PGPASSWORD or a .pgpass file (passfile:)"
_TAG = "tag:yaml.org,2002:"
_KINDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "null": "nothing",
    "timestamp": "a date",
    "binary": "binary data",
}
_CONSTRUCTOR = SafeConstructor()
# The most of an inventory file that is read: a real cluster.yaml is a few KB
# (a hundred nodes take 7 KB; 5,000 boxes fit), and /dev/zero must not fill
# the memory. PyYAML composes about 100 KB a second on a busy machine, so
# this also keeps a wrong file's check to a few seconds.
MAX_BYTES = 256 * 1024


class Reporter:
    """Collects the problems of one file, each at a line and column."""

    def __init__(self, display: str) -> None:
        self.display = display
        self._problems: list[Problem] = []

    def at(self, node: Node | None, key: str, message: str) -> None:
        """Record a problem at ``node`` (or at the top of the file if None)."""
        if node is None:
            self.at_position(1, 1, key, message)
        else:
            mark = node.start_mark
            self.at_position(mark.line + 1, mark.column + 1, key, message)

    def at_position(self, line: int, column: int, key: str, message: str) -> None:
        """Record a problem at a 1-based line and column."""
        self._problems.append(Problem(self.display, line, column, key, message))

    def __bool__(self) -> bool:
        return bool(self._problems)

    def problems(self) -> tuple[Problem, ...]:
        """Return the problems in file order, each once (aliases can repeat one)."""
        unique = dict.fromkeys(self._problems)
        return tuple(sorted(unique, key=lambda p: (p.line, p.column)))


def read_root(path: Path, rep: Reporter) -> Node | None:
    """Read and compose the file; report why not and return None on failure."""
    raw = _read_bytes(path, rep)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        rep.at_position(line, column, "", "the file is not UTF-8 text")
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        _report_yaml_error(exc, rep)
        return None
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else 0
        rep.at_position(
            line,
            column,
            "",
            f"the file contains a character YAML forbids: U+{code:04X} ({exc.reason}); "
            'remove it, or write it as an escape in a double-quoted string ("\\e")',
        )
        return None
    except yaml.YAMLError as exc:
        rep.at_position(1, 1, "", f"YAML error: {exc}")
        return None
    except RecursionError:
        rep.at_position(1, 1, "", "lists or mappings nest too deeply here to be an inventory")
        return None
    if root is None:
        rep.at_position(1, 1, "", "the file is empty; expected at least version, cluster, boxes")
        return None
    return root


def _read_bytes(path: Path, rep: Reporter) -> bytes | None:
    """The file's bytes, if it is a regular file of at most MAX_BYTES; else say why not."""
    try:
        return _read_capped(path)
    except FileNotFoundError:
        reason = (
            "no such file; give the inventory with --cluster FILE or $HOTSPARE_CLUSTER,"
            " or run hotspare where cluster.yaml is"
        )
    except IsADirectoryError:
        reason = "this is a directory, not an inventory file"
    except PermissionError:
        reason = "the file cannot be read: permission denied"
    except NotAnInventoryFile as exc:
        reason = str(exc)
    except OSError as exc:
        reason = f"the file cannot be read: {exc.strerror or exc}"
    rep.at_position(1, 1, "", reason)
    return None


class NotAnInventoryFile(OSError):
    """Something that cannot be a cluster.yaml: a device or pipe, or far too big a file."""


def _read_capped(path: Path) -> bytes:
    """Read PATH, refusing anything but a regular file of at most MAX_BYTES.

    O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever,
    before fstat could tell what it is.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise NotAnInventoryFile(
                f"this is {_file_kind(mode)}, not a regular file; "
                "give the path of the inventory file itself"
            )
        os.set_blocking(fd, True)
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise NotAnInventoryFile(
            f"the file is larger than {MAX_BYTES // 1024} KiB, the most hotspare reads; "
            "an inventory is a few KB (a hundred nodes take 7 KB): is this the right file?"
        )
    return data


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _report_yaml_error(exc: yaml.MarkedYAMLError, rep: Reporter) -> None:
    mark = exc.problem_mark or exc.context_mark
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark:
        start = exc.context_mark
        message += f" ({exc.context} that starts at line {start.line + 1}"
        message += f", column {start.column + 1})"
    if "\\t" in message or "\t" in message:
        message += "; YAML does not allow tabs for indentation, use spaces"
    if mark is None:
        rep.at_position(1, 1, "", message)
    else:
        rep.at_position(mark.line + 1, mark.column + 1, "", message)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def kind(node: Node) -> str:
    """Say in words what kind of value ``node`` holds."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.startswith(_TAG):
        return _KINDS.get(node.tag[len(_TAG) :], f"a YAML {node.tag[len(_TAG) :]} value")
    return f"a value tagged {node.tag}"


def describe(node: Node) -> str:
    """Describe a found value for a message, e.g. ``'abc' (text)``."""
    what = kind(node)
    if not isinstance(node, yaml.ScalarNode) or what == "nothing":
        return what
    if node.tag.startswith(_TAG) and scalar(node) is node and what != "text":
        what = f"not valid as {what}"  # e.g. `!!int abc`
    text = str(node.value)
    if len(text) > 60:
        text = text[:57] + "..."
    shown = repr(text) if what == "text" else text
    return f"{shown} ({what})"


def scalar(node: Node) -> object:
    """Return the Python value of a scalar node, or the node itself if unusual.

    Returning the node for lists, mappings, custom tags and broken values
    makes every type check fail, so the caller reports it in words.
    """
    if not isinstance(node, yaml.ScalarNode):
        return node
    constructors = {
        _TAG + "str": lambda n: str(n.value),
        _TAG + "null": lambda n: None,
        _TAG + "bool": _CONSTRUCTOR.construct_yaml_bool,
        _TAG + "int": _CONSTRUCTOR.construct_yaml_int,
        _TAG + "float": _CONSTRUCTOR.construct_yaml_float,
    }
    construct = constructors.get(node.tag)
    if construct is None:
        return node
    try:
        return construct(node)
    except (ValueError, yaml.YAMLError):
        return node


def is_null(node: Node) -> bool:
    """Tell whether ``node`` is YAML's null (``~``, ``null`` or nothing at all)."""
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"


def key_text(node: Node) -> str | None:
    """Return a mapping key's text as written, or None if it is not a scalar."""
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def items(node: yaml.MappingNode) -> dict[str, tuple[Node, Node]]:
    """Map each key's text to (key node, value node); the last duplicate wins.

    Non-scalar and merge keys are left out: ``check_tree`` reports them.
    """
    found: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        text = key_text(key_node)
        if text is not None and key_node.tag != _TAG + "merge":
            found[text] = (key_node, value_node)
    return found


def has_merge_key(node: yaml.MappingNode) -> bool:
    """Tell whether a mapping uses YAML's merge key (<<)."""
    return any(key.tag == _TAG + "merge" for key, _value in node.value)


def join(path: str, key: str) -> str:
    """Extend a dotted key path by one key."""
    return f"{path}.{key}" if path else key


def check_tree(root: Node, rep: Reporter) -> None:
    """Report duplicate keys, odd keys and password keys anywhere in the file."""
    for path, mapping in _mappings(root):
        seen: dict[str, Node] = {}
        for key_node, _value in mapping.value:
            _check_key(path, key_node, seen, rep)


def _check_key(path: str, key_node: Node, seen: dict[str, Node], rep: Reporter) -> None:
    text = key_text(key_node)
    if text is None:
        rep.at(key_node, path, f"found {kind(key_node)} as a key; keys must be plain names")
        return
    key = join(path, text)
    if key_node.tag == _TAG + "merge":
        rep.at(key_node, key, "YAML merge keys (<<) are not supported; use the defaults sections")
        return
    if text.lower() in PASSWORD_KEYS:
        rep.at(key_node, key, PASSWORD_RULE)
    first = seen.get(text)
    if first is not None:
        rep.at(
            key_node,
            key,
            f"duplicate key '{text}' on lines {first.start_mark.line + 1} and "
            f"{key_node.start_mark.line + 1}; YAML would silently use only the last one, "
            "so delete one of them",
        )
    else:
        seen[text] = key_node


def _mappings(root: Node) -> Iterator[tuple[str, yaml.MappingNode]]:
    """Yield every mapping with its key path, each node once (aliases can loop)."""
    seen: set[int] = set()
    stack: list[tuple[str, Node]] = [("", root)]
    while stack:
        path, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            yield path, node
            for key_node, value_node in node.value:
                stack.append((join(path, key_text(key_node) or "?"), value_node))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node.value))


def display_name(path: str | os.PathLike[str]) -> str:
    """Return the file name to show in messages: relative if under the cwd."""
    text = os.fspath(path)
    if Path(text).is_absolute():
        try:
            relative = os.path.relpath(text)
        except ValueError:
            return text
        if not relative.startswith(".."):
            return relative
    return text
