"""Running one alert hook: a local command, the alarm on its stdin, a deadline, never an exception.

The hook runs on the monitor's host, not on a box, without a shell (the
command is a list of words: cluster.yaml's loader split a string form with
shlex). It runs in a session of its own, so that at its deadline the whole
process group is killed: a shell script's children with it, and nothing left
writing to its output file. Whatever happens (it fails, hangs, is not found,
cannot be run) comes back as a HookResult the monitor can log and show.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from console.text import one_line

OUTPUT_KEPT = 2000
"""Characters of a hook's output kept (its last ones: where a script says what went wrong)."""
KILL_WAIT = 5.0
"""Seconds to wait for a killed hook to be reaped."""


@dataclass(frozen=True)
class HookResult:
    """How one call of a hook went.

    Attributes:
        command: the command run.
        ok: it exited with status 0 before its deadline.
        exit_status: its exit status; negative: the signal that ended it;
            None when it never started.
        problem: what went wrong, in words; None when ok.
        seconds: how long it ran.
        output: the end of what it wrote (stdout and stderr together), cleaned.
        code, transition: the alarm and the transition it was told of.
    """

    command: tuple[str, ...]
    ok: bool
    exit_status: int | None
    problem: str | None
    seconds: float
    output: str = ""
    code: str = ""
    transition: str = ""

    def line(self) -> str:
        """One line for a log or a timeline: what ran, for what, and how it went."""
        told = f"{self.transition} {self.code}".strip()
        outcome = "ok" if self.ok else self.problem
        return one_line(f"alert hook {self.command[0]} ({told}): {outcome} in {self.seconds:.1f} s")


async def run_hook(command: Sequence[str], payload: bytes, timeout: float) -> HookResult:
    """Run COMMAND with PAYLOAD on its stdin; kill it (and its group) after TIMEOUT seconds."""
    argv = tuple(command)
    begun = time.monotonic()
    # Output goes to a file, not a pipe: a child the hook leaves running (`curl ... &`)
    # would hold a pipe open, and the hook would look hung until that child ended.
    with tempfile.TemporaryFile() as out:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            problem = _cannot_start(argv[0], exc)
            return HookResult(argv, False, None, problem, time.monotonic() - begun)
        timed_out = await _finish(proc, payload, timeout)
        output = _tail(out)
    status = proc.returncode
    took = time.monotonic() - begun
    if timed_out:
        problem = f"killed after {timeout:g} s: it did not finish in time"
        return HookResult(argv, False, status, _with(problem, output), took, output)
    if status != 0:
        return HookResult(argv, False, status, _with(_status(status), output), took, output)
    return HookResult(argv, True, status, None, took, output)


async def _finish(proc: asyncio.subprocess.Process, payload: bytes, timeout: float) -> bool:
    """Feed PROC and wait for it; at TIMEOUT, or if cancelled, kill its group. True: timed out."""
    try:
        await asyncio.wait_for(_feed_and_wait(proc, payload), timeout)
        return False
    except TimeoutError:
        _kill_group(proc)
        if proc.stdin is not None:
            proc.stdin.close()
        # A process that escaped the group may still hold a pipe: bounded, then let go.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_WAIT)
        return True
    finally:
        if proc.returncode is None:  # cancelled (the monitor stops): the hook goes too
            _kill_group(proc)


def _tail(out: IO[bytes]) -> str:
    """The last OUTPUT_KEPT characters the hook wrote, cleaned, one line per line."""
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - OUTPUT_KEPT * 4))
    decoded = out.read().decode("utf-8", errors="replace")[-OUTPUT_KEPT:]
    return "\n".join(one_line(line, OUTPUT_KEPT) for line in decoded.splitlines() if line.strip())


async def _feed_and_wait(proc: asyncio.subprocess.Process, payload: bytes) -> None:
    """Write PAYLOAD and close stdin (a hook that reads none of it is fine), then wait."""
    assert proc.stdin is not None
    # A hook that exits without reading its stdin closes the pipe under us.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(payload)
        await proc.stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.close()
    await proc.wait()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the hook's process group (its own session: nothing else is in it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _status(status: int | None) -> str:
    if status is not None and status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"ended by {name}"
    return f"exited with status {status}"


def _with(problem: str, output: str) -> str:
    """PROBLEM, and the last line the hook wrote (most often its reason)."""
    lines = output.splitlines()
    return f"{problem}: {one_line(lines[-1], 200)}" if lines else problem


def _cannot_start(program: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        where = "" if "/" in program else " in PATH"
        return f"not found{where}: {program}"
    if isinstance(exc, PermissionError):
        return f"cannot be run (permission denied, or not executable): {program}"
    return f"cannot be run: {program}: {exc.strerror or exc}"
