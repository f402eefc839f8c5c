"""Checks for single values: each takes a YAML node and returns a clean value.

A check that does not like the value raises ``Bad`` with the text that follows
"found X; " in the message, so every message says what was found and what
was expected.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from console.text import shown

from .yamltree import Node, is_null, scalar

Check = Callable[[Node], Any]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit"
_HAPROXY_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
COLOURS = ("red", "yellow", "green", "blue", "magenta", "cyan", "white")
_HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


class Bad(Exception):
    """The value is wrong; ``text`` says what was expected instead."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def text(node: Node) -> str:
    """Non-empty, one-line text."""
    value = scalar(node)
    if not isinstance(value, str):
        raise Bad("expected text" + _quote_hint(node))
    if not value.strip() or "\n" in value or "\0" in value:
        raise Bad("expected non-empty text on one line")
    if not value.isprintable():  # it would reach terminals, pages and shell lines as it is
        odd = " ".join(shown(c) for c in sorted({c for c in value if not c.isprintable()}))
        raise Bad(f"expected text without control, bidi or other invisible characters: {odd}")
    return value


def _quote_hint(node: Node) -> str:
    if isinstance(node, yaml.ScalarNode) and not is_null(node):
        return " (put it in quotes to make it text)"
    return ""


def optional(check: Check) -> Check:
    """Allow null (meaning: none) in addition to what ``check`` allows."""

    def check_optional(node: Node) -> Any:
        return None if is_null(node) else check(node)

    return check_optional


def whole_number(low: int, high: int) -> Check:
    """A whole number from ``low`` to ``high``; true/false and quoted digits are not."""
    expected = f"expected a whole number from {low} to {high}"

    def check_number(node: Node) -> int:
        value = scalar(node)
        # bool is a subclass of int in Python, but `port: yes` is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (write it without quotes)" if _is_quoted_int(value) else ""
            raise Bad(expected + hint)
        if not low <= value <= high:
            raise Bad(expected)
        return value

    return check_number


def _is_quoted_int(value: object) -> bool:
    return isinstance(value, str) and value.strip().isdigit()


port = whole_number(1, 65535)


def timeout(node: Node) -> float:
    """Seconds: a number above 0 and at most 120."""
    value = scalar(node)
    expected = "expected a number of seconds above 0 and at most 120"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Bad(expected)
    if not 0 < value <= 120:
        raise Bad(expected)
    return float(value)


_SIZE_UNITS = {"": 1, "B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SIZE = re.compile(r"\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*")


def size(node: Node) -> int:
    """An amount of data: a whole number of bytes, or with PostgreSQL's units (16MB, 512kB)."""
    value = scalar(node)
    expected = "expected a size such as 16MB, 512kB or 1GB (PostgreSQL's units), or bytes"
    if isinstance(value, bool):
        raise Bad(expected)
    if isinstance(value, int):
        if value < 0:
            raise Bad(expected)
        return value
    found = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise Bad(expected)
    return int(found.group(1)) * _SIZE_UNITS[found.group(2) or ""]


def flag(node: Node) -> bool:
    """true or false."""
    value = scalar(node)
    if not isinstance(value, bool):
        raise Bad("expected true or false")
    return value


def choice(options: Sequence[str]) -> Check:
    """One of a fixed set of words."""

    def check_choice(node: Node) -> str:
        value = scalar(node)
        if not isinstance(value, str) or value not in options:
            raise Bad("expected one of: " + ", ".join(options) + _suggest(value, options))
        return value

    return check_choice


def _suggest(value: object, options: Sequence[str], wrap: str = "'{}'") -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, options, n=1)
    return f" (did you mean {wrap.format(close[0])}?)" if close else ""


def did_you_mean(value: str, options: Sequence[str]) -> str:
    """Return `` (did you mean 'x'?)`` for a close option, else an empty string."""
    return _suggest(value, options)


def name(what: str) -> Check:
    """A name made of safe characters (used in shell commands and file names)."""

    def check_name(node: Node) -> str:
        value = scalar(node)
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise Bad(f"expected {what}: {NAME_RULE}")
        return value

    return check_name


def haproxy_name(node: Node) -> str:
    """A HAProxy proxy or server name."""
    value = scalar(node)
    if not isinstance(value, str) or not _HAPROXY_NAME.match(value):
        raise Bad("expected a HAProxy name: letters, digits, '_', '.', ':' and '-'")
    return value


def user_name(node: Node) -> str:
    """An operating system or SSH user name."""
    value = scalar(node)
    if not isinstance(value, str) or not _USER_NAME.match(value):
        raise Bad("expected a user name: letters, digits, '_', '.' and '-'")
    return value


def colour(node: Node) -> str:
    """A colour name or #rrggbb, returned in lower case."""
    value = scalar(node)
    expected = "expected one of " + ", ".join(COLOURS) + " or #rrggbb"
    if is_null(node):
        raise Bad(expected + " (quote '#rrggbb': an unquoted # starts a YAML comment)")
    if not isinstance(value, str):
        raise Bad(expected)
    lowered = value.lower()
    if lowered in COLOURS or _HEX_COLOUR.match(value):
        return lowered
    raise Bad(expected + _suggest(lowered, COLOURS))


def is_host(value: str) -> bool:
    """Tell whether ``value`` is an IP address or a valid host name."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    bare = value.removesuffix(".")
    labels = bare.split(".")
    if not bare or len(bare) > 253 or all(label.isdigit() for label in labels):
        # All digits is a mistyped IPv4 address, not a host name.
        return False
    return all(_HOST_LABEL.match(label) for label in labels)


def address(node: Node) -> str:
    """An IP address or a host name."""
    value = scalar(node)
    if not isinstance(value, str) or not is_host(value):
        raise Bad("expected an IP address or a host name")
    return value


def local_path(base: Path) -> Check:
    """A path on this machine: ``~`` expanded, relative to the cluster file's folder."""

    def check_local(node: Node) -> Path:
        value = text(node)
        try:
            expanded = Path(value).expanduser()
        except (RuntimeError, KeyError) as exc:
            raise Bad(f"expected a path whose ~ can be expanded ({exc})") from exc
        return Path(os.path.normpath(base / expanded))

    return check_local


def remote_path(where: str) -> Check:
    """An absolute path on a box (``where`` says which box, for the message)."""

    def check_remote(node: Node) -> str:
        value = text(node)
        if not value.startswith("/"):
            raise Bad(f"remote paths must be absolute: this is a path on {where}")
        return value

    return check_remote


def http_url(node: Node) -> str:
    """An http:// or https:// URL with a host."""
    value = text(node)
    expected = "expected an http:// or https:// URL such as http://{address}:8000/healthz"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise Bad(expected) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Bad(expected)
    return value


def placeholders(allowed: Sequence[str], check: Check) -> Check:
    """Refuse ``{unknown}`` placeholders in text, then apply ``check``."""

    def check_placeholders(node: Node) -> Any:
        value = scalar(node)
        if isinstance(value, str):
            for found in _PLACEHOLDER.findall(value):
                if found not in allowed:
                    raise Bad(_placeholder_text(found, allowed))
        return check(node)

    return check_placeholders


def _placeholder_text(found: str, allowed: Sequence[str]) -> str:
    if not allowed:
        return f"placeholders are not expanded in this key, so {{{found}}} would stay as is"
    listed = ", ".join(f"{{{a}}}" for a in allowed)
    hint = _suggest(found, allowed, wrap="{{{}}}")
    return f"unknown placeholder {{{found}}}{hint}; placeholders allowed here: {listed}"


def require(check: Check, test: Callable[[Any], bool], expected: str) -> Check:
    """Apply ``check``, then refuse values for which ``test`` is false."""

    def check_more(node: Node) -> Any:
        value = check(node)
        if not test(value):
            raise Bad(expected)
        return value

    return check_more
