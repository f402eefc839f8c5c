"""The console under a real pseudo-terminal, for the console benchmarks.

`Console` spawns `hotspare --cluster FILE` with a pty as its controlling
terminal (stdin, stdout and stderr; Textual draws on stderr), the window size
set with TIOCSWINSZ before the spawn, TERM=xterm-256color. Everything the
console writes is read from the master side as soon as it arrives, counted,
and fed to `Grid`, a minimal terminal model (cursor moves, erases, printable
text; colours ignored) good enough to ask "what does the screen show now".
Like a plain xterm, the model answers none of Textual's queries (no
synchronized-output mode), so a predicate is checked after every read.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.cells import get_character_cell_size

from bench.common import HOTSPARE, ROOT, BenchError, hotspare_env
from console.lab.layout import LabLayout

Predicate = Callable[["Grid"], bool]
READ_SIZE = 65536
QUIT_TIMEOUT = 10.0

# One token of terminal output: a CSI sequence, an OSC string, another escape,
# a control character, or a run of printable text.
_TOKEN = re.compile(
    r"\x1b\[(?P<csi>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[()*+#%][0-~]"
    r"|\x1b[@-~]"
    r"|(?P<ctl>[\x00-\x1f\x7f])"
    r"|(?P<text>[^\x00-\x1f\x1b\x7f]+)"
)
# An escape sequence cut by the end of a read: kept for the next one.
_PARTIAL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[()*+#%])?\Z")


class Grid:
    """What a terminal of COLUMNS x LINES shows, text only."""

    def __init__(self, columns: int, lines: int) -> None:
        self.columns = columns
        self.lines = lines
        self.rows = [[" "] * columns for _ in range(lines)]
        self.x = 0
        self.y = 0
        self._pending = ""
        self.row_bytes: list[int] | None = None  # bytes written per row, once counting

    def count_rows(self) -> None:
        """From now on, count the bytes of output that land on each row."""
        self.row_bytes = [0] * self.lines

    def feed(self, text: str) -> None:
        """Apply TEXT (decoded terminal output) to the screen."""
        text = self._pending + text
        cut = _PARTIAL.search(text)
        self._pending = text[cut.start() :] if cut else ""
        if cut:
            text = text[: cut.start()]
        for match in _TOKEN.finditer(text):
            if self.row_bytes is not None:
                self.row_bytes[self.y] += len(match[0].encode())
            if match["text"] is not None:
                self._write(match["text"])
            elif match["final"] is not None:
                self._csi(match["csi"], match["final"])
            elif match["ctl"] is not None:
                self._control(match["ctl"])

    def _write(self, text: str) -> None:
        row = self.rows[self.y]
        for char in text:
            width = get_character_cell_size(char)
            if width == 0:
                continue
            if self.x < self.columns:
                row[self.x] = char
                if width == 2 and self.x + 1 < self.columns:
                    row[self.x + 1] = ""
            self.x = min(self.x + width, self.columns)

    def _control(self, char: str) -> None:
        if char == "\r":
            self.x = 0
        elif char == "\n":
            self.y = min(self.y + 1, self.lines - 1)
        elif char == "\b":
            self.x = max(self.x - 1, 0)

    def _csi(self, params: str, final: str) -> None:
        if params.startswith(("?", ">", "<", "=")):
            return  # private modes and queries: no effect on the text
        args = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []

        def arg(i: int, default: int) -> int:
            return args[i] if len(args) > i and args[i] else default

        if final in "Hf":
            self.y = min(arg(0, 1), self.lines) - 1
            self.x = min(arg(1, 1), self.columns) - 1
        elif final == "A":
            self.y = max(self.y - arg(0, 1), 0)
        elif final == "B":
            self.y = min(self.y + arg(0, 1), self.lines - 1)
        elif final == "C":
            self.x = min(self.x + arg(0, 1), self.columns - 1)
        elif final == "D":
            self.x = max(self.x - arg(0, 1), 0)
        elif final == "G":
            self.x = min(arg(0, 1), self.columns) - 1
        elif final == "d":
            self.y = min(arg(0, 1), self.lines) - 1
        elif final == "J":
            self._erase_display(arg(0, 0))
        elif final == "K":
            self._erase_line(arg(0, 0))

    def _erase_display(self, mode: int) -> None:
        if mode in (2, 3):
            self.rows = [[" "] * self.columns for _ in range(self.lines)]
            return
        self._erase_line(mode)
        span = range(self.y + 1, self.lines) if mode == 0 else range(self.y)
        for y in span:
            self.rows[y] = [" "] * self.columns

    def _erase_line(self, mode: int) -> None:
        row = self.rows[self.y]
        start, end = {0: (self.x, self.columns), 1: (0, self.x + 1)}.get(mode, (0, self.columns))
        row[start:end] = [" "] * (end - start)

    def text(self) -> str:
        """The screen as lines of text."""
        return "\n".join("".join(row).rstrip() for row in self.rows)

    def has(self, *words: str) -> bool:
        """Whether the screen shows every one of WORDS."""
        shown = self.text()
        return all(word in shown for word in words)

    def count(self, word: str) -> int:
        """How many times WORD is on the screen."""
        return self.text().count(word)


def console_env(pycache: Path | None) -> dict[str, str]:
    """hotspare's environment (see common.hotspare_env), as a local terminal has it.

    SSH_CONNECTION and TEXTUAL_* are dropped, so the console draws at Textual's
    default frame rate whatever shell the bench runs from.
    """
    env = hotspare_env(pycache)
    for name in list(env):
        if name == "SSH_CONNECTION" or name.startswith("TEXTUAL_"):
            del env[name]
    return env


def console_argv(cluster: Path, *extra: str) -> list[str]:
    """`hotspare --cluster CLUSTER`, the console, as an operator types it."""
    return [str(HOTSPARE), "--cluster", str(cluster), *extra]


def lab_rows(lab: LabLayout) -> int:
    """Rows the lab's first snapshot fills: a server and a node per web node, each database."""
    return 2 * len(lab.web_names) + len(lab.db_names)


def complete_picture(rows: int) -> Predicate:
    """The screen shows the first snapshot: a primary, a streaming standby, ROWS rows live."""

    def shown(grid: Grid) -> bool:
        return grid.has("primary", "streaming") and grid.count("live") >= rows

    return shown


def first_frame(grid: Grid) -> bool:
    """Textual has drawn the main screen's panels (with or without data)."""
    return grid.has("balancer", "web nodes", "databases", "events")


def _controlling_tty() -> None:
    # Runs in the child after setsid(): the pty (its stdin) becomes its terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Console:
    """One console process on a pty of its own, read as it writes."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        size: tuple[int, int] = (100, 32),
        record: Path | None = None,
    ) -> None:
        columns, lines = size
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = dict(env, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        self.master = master
        self.grid = Grid(columns, lines)
        self.bytes_read = 0
        self.reads: list[tuple[float, int]] = []  # (perf_counter, bytes) of every read
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._record = record.open("ab") if record else None
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_controlling_tty,  # the bench runs no threads
            )
        finally:
            os.close(slave)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pump(self, timeout: float) -> bool:
        """Read what the console wrote within TIMEOUT seconds; False at end of output."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0.0))
        if not ready:
            return True
        try:
            data = os.read(self.master, READ_SIZE)
        except OSError:  # EIO: the console closed its side
            return False
        if not data:
            return False
        self.bytes_read += len(data)
        self.reads.append((time.perf_counter(), len(data)))
        if self._record is not None:
            self._record.write(struct.pack("dI", time.time(), len(data)) + data)
        self.grid.feed(self._decode(data))
        return True

    def wait_for(self, predicate: Predicate, timeout: float, what: str) -> float:
        """Read until PREDICATE holds on the screen; the perf_counter time it did."""
        deadline = time.perf_counter() + timeout
        while not predicate(self.grid):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise BenchError(f"the console did not show {what} in {timeout:g} s:\n{self}")
            if not self.pump(left):
                raise BenchError(f"the console ended before showing {what}:\n{self}")
        return time.perf_counter()

    def drain(self, seconds: float) -> None:
        """Keep reading (so the console never blocks on its terminal) for SECONDS."""
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            if not self.pump(left):
                return

    def press(self, keys: str) -> float:
        """Type KEYS; the perf_counter time just before."""
        now = time.perf_counter()
        os.write(self.master, keys.encode())
        return now

    def quit(self) -> float:
        """Press q and reap the console; seconds from the key to its exit."""
        pressed = self.press("q")
        deadline = pressed + QUIT_TIMEOUT
        while self.proc.poll() is None and time.perf_counter() < deadline:
            if not self.pump(0.01):
                self.proc.wait(max(deadline - time.perf_counter(), 0.01))
        if self.proc.poll() is None:
            raise BenchError(f"the console did not quit within {QUIT_TIMEOUT:g} s of q")
        return time.perf_counter() - pressed

    def close(self) -> None:
        """Stop the console if it still runs (TERM, then KILL, by pid) and free the pty."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(QUIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._record is not None:
            self._record.close()
            self._record = None
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def __str__(self) -> str:
        return self.grid.text()
