"""Untrusted text made safe to show: no escape sequences, no control characters."""

from __future__ import annotations

import re

# CSI and OSC sequences first (so their parameters go too), then any other
# C0/C1 control character except tab.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[@-_]"  # other two-byte escapes
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def clean(text: str) -> str:
    """TEXT without terminal escape sequences or control characters (tabs kept)."""
    return _ESCAPES.sub("", text)


def one_line(text: str, limit: int = 200) -> str:
    """TEXT cleaned and folded onto one line, shortened to LIMIT characters."""
    flat = " ".join(clean(text.replace("\n", " ").replace("\r", " ")).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# Everything that could act on a terminal or reorder what is shown: C0 and C1
# controls (tab aside), line and paragraph separators, bidi overrides,
# isolates and marks.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _visible(match: re.Match[str]) -> str:
    return _escape(match[0])


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def needs_escaping(text: str) -> bool:
    """Whether `inert` would change TEXT."""
    return _UNSAFE.search(text) is not None


def inert(text: str) -> str:
    r"""TEXT with every control character shown as an escape (ESC as \x1b).

    For log lines: unlike `clean`, nothing is hidden from the operator, so an
    injected escape sequence is visible as what it is, and does nothing.
    """
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_visible, text)


def printable(text: str, also: str = "", mark: str = "?") -> str:
    """TEXT with MARK for every character that is not printable, and for those in ALSO.

    Not printable (str.isprintable) is wider than `inert`'s rule: every control,
    format (zero-width, bidi) and separator character but the plain space. For
    a line hotspare writes on a box for other consoles to read back and show,
    such as the promotion lock's: `inert`'s escapes would put backslashes into
    it, and ALSO keeps out what the shell line that writes it must not hold.
    """
    return "".join(c if c.isprintable() and c not in also else mark for c in text)


def shown(text: str) -> str:
    r"""TEXT with every character that is not printable written as its escape.

    For a name or value echoed in a message (an inventory's keys, what an
    operator typed): a right-to-left override shows as \u202e and ESC as
    \x1b, so neither reorders, colours nor hides the rest of the line. Wider
    than `inert`: every control, format (zero-width, bidi) and separator
    character but the plain space, tabs and newlines included.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)
