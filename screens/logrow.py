"""One log line as a row of the logs screen: its pinned node and time, then its body.

Built from a rich Text without markup (a "[/]" in a log is just text), the
widget's own colours under everything else, then the level, the marks and
the cursor. Pure: LogView (screens/logview.py) draws and caches the rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from console.logs.lines import LogLine
from console.logs.marks import brief, severity, spans

TAG_COLOURS = ("cyan", "yellow", "magenta", "green", "bright_blue", "bright_red")
STYLES = {
    "5xx": Style(color="bright_red", bold=True),
    "error": Style(color="red"),
    "warn": Style(color="yellow"),
    "notice": Style(color="magenta", italic=True),
    "match": Style(color="black", bgcolor="yellow"),
    # Reverse and bold: stands out in every theme, the high-contrast one too.
    "cursor": Style(reverse=True, bold=True),
    "cut": Style(dim=True),
    "clock": Style(dim=True),
}
CLOCK_WIDTH = 9  # "23:59:01 "
_BRIEF_CLOCK = re.compile(r"\d\d:\d\d:\d\d(?:[.,]\d+)? ")


def body(line: LogLine, short: bool) -> str:
    """LINE's body: what follows the pinned node and time (SHORT: the brief form of an
    access line, its own time dropped since the pinned one says it)."""
    if short and not line.notice:
        text = brief(line)
        clock = _BRIEF_CLOCK.match(text)
        if clock:
            text = text[clock.end() :]
    else:
        text = line.text
    text = text.expandtabs(8)
    return text + f" …[{line.cut:,} bytes cut]" if line.cut else text


def row(
    line: LogLine,
    text_body: str,
    tag: str,
    tag_colour: str | None,
    base: Style,
    marks: re.Pattern[str] | None,
    on_cursor: bool,
) -> Text:
    """The row's Text: TAG (the node, padded, or ""), the clock, then TEXT_BODY, styled."""
    clock = time.strftime("%H:%M:%S ", time.localtime(line.when))
    start = len(tag) + CLOCK_WIDTH
    text = Text(tag + clock + text_body, no_wrap=True, end="")
    text.stylize(base)
    if tag:
        text.stylize(Style(color=tag_colour), 0, len(tag))
    text.stylize(STYLES["clock"], len(tag), start)
    level = "notice" if line.notice else severity(line)
    if level:
        text.stylize(STYLES[level], start)
    if line.cut:
        cut = len(f" …[{line.cut:,} bytes cut]")
        text.stylize(STYLES["cut"], start + len(text_body) - cut)
    for a, b in spans(marks, text_body):
        text.stylize(STYLES["match"], start + a, start + b)
    if on_cursor:
        text.stylize(STYLES["cursor"])
    return text


class WrappedRows:
    """Where each line starts when wrapped to a width: worked out once, extended as lines
    are appended, and again only when the width changes or `forget` says the lines did."""

    def __init__(self) -> None:
        self._starts: list[int] | None = None
        self._width = 0

    def forget(self) -> None:
        self._starts = None

    def starts(
        self, lines: Sequence[LogLine], width: int, text: Callable[[LogLine], str]
    ) -> list[int]:
        """Each of LINES' first row, and after the last the total, at WIDTH cells a row."""
        starts = self._starts
        if starts is None or self._width != width:
            starts, self._width = [0], width
        total = starts[-1]
        for line in lines[len(starts) - 1 :]:
            total += max(1, -(-cell_len(text(line)) // width))
            starts.append(total)
        self._starts = starts
        return starts


def on_screen(
    strip: Strip, pinned: int, shift: int, part: int, width: int, style: Style, on_cursor: bool
) -> Strip:
    """What a screen row of WIDTH shows of a drawn row STRIP.

    The first PINNED cells (node and time) stay put; the body is shown from
    SHIFT cells on (scrolled sideways, or the wrapped part PART of a line, under
    a blank pinned part).
    """
    if not part and not shift:  # the row as drawn: no join needed
        return strip.crop_extend(0, width, style)
    body = max(1, width - pinned)
    x = pinned + shift
    if part:
        head = Strip.blank(pinned, style + STYLES["cursor"] if on_cursor else style)
    else:
        head = strip.crop(0, pinned)
    return Strip.join([head, strip.crop(x, x + body)]).crop_extend(0, width, style)
