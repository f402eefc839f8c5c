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
