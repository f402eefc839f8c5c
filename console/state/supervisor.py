"""What a web node's process supervisor (runit) says of its site: up or down, pid, uptime.

`sv status DIR` prints one line per service (its log service after a ";"):
``run: /srv/site: (pid 123) 45s``, ``down: /srv/site: 3s, normally up, want up``,
``fail: /srv/site: runsv not running``. `parse_sv_status` reads that line
strictly: anything it does not know becomes the state's ``problem``, never
an exception. Pure, no I/O.

runit keeps no restart count. The lab's run script counts its own starts
under the supervisor in the file ``restarts`` of the service directory (0 on
the first start), and the probe reads it; where no run script keeps one,
``restarts`` is None and is shown as not counted, never as 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SvState = Literal["run", "down", "finish"]

_LINE = re.compile(
    r"(?P<state>run|down|finish): (?P<service>.+?): "
    r"(?:\(pid (?P<pid>\d+)\) )?(?P<seconds>\d+)s(?P<flags>(?:, [A-Za-z ]+)*)"
)
_FLAGS = ("normally up", "normally down", "want up", "want down", "want exit", "paused", "got TERM")
MAX_LINE = 400


@dataclass(frozen=True)
class SupervisorState:
    """The supervisor's view of a node's site, as `sv status` gave it.

    Attributes:
        kind: the supervisor ("runit").
        service: its service directory on the box.
        state: run (the site runs), down, or finish (its finish script runs);
            None when the supervisor could not be asked (see ``problem``).
        pid: the site's pid while it runs.
        state_s: how long it has been in that state (its uptime when it runs).
        want_up: whether the supervisor keeps it up (None: not told).
        paused: stopped with `sv pause` (SIGSTOP): it runs but answers nothing.
        restarts: the run script's own count of starts after the first, or
            None when the service keeps no count (runit counts none itself).
        problem: why the supervisor could not tell, in its own words.
    """

    kind: str
    service: str
    state: SvState | None
    pid: int | None = None
    state_s: int | None = None
    want_up: bool | None = None
    paused: bool = False
    restarts: int | None = None
    problem: str | None = None

    @property
    def up(self) -> bool | None:
        """Whether the site runs under the supervisor (None: could not tell)."""
        return None if self.state is None else self.state == "run"

    def short(self) -> str:
        """A few characters for a table cell: "up 5m", "DOWN", "PAUSED", "sv?"."""
        if self.state is None:
            return "sv?"
        if self.paused:
            return "PAUSED"
        if self.state != "run":
            return "DOWN"
        return f"up {duration(self.state_s)}"

    def said(self) -> str:
        """The whole view in words, for the node's detail."""
        if self.state is None:
            return f"{self.kind} cannot tell: {self.problem or 'no answer'}"
        words: list[str] = ["up" if self.state == "run" else self.state]
        if self.pid is not None:
            words.append(f"pid {self.pid}")
        if self.state_s is not None:
            words.append(f"for {duration(self.state_s)}")
        if self.want_up is not None and (self.want_up != (self.state == "run")):
            words.append("wants it up" if self.want_up else "wants it down")
        if self.paused:
            words.append("PAUSED")
        words.append(
            "restarts not counted" if self.restarts is None else f"{self.restarts} restarts"
        )
        return f"{self.kind}: " + ", ".join(words)


def duration(seconds: int | None) -> str:
    """SECONDS as 45s, 12m, 5h, 3d."""
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_sv_status(text: str, service: str, restarts: int | None = None) -> SupervisorState:
    """The SupervisorState of SERVICE that one `sv status` answer TEXT describes.

    Only the service's own part is read (before "; ", its log service's). A line
    that is not a status (runsv not running, no access, no such directory) is
    the problem, cleaned to printable text.
    """
    line = (text.strip().splitlines() or [""])[0][:MAX_LINE]
    own = line.split("; ", 1)[0]
    found = _LINE.fullmatch(own)
    if found is None:
        return SupervisorState("runit", service, None, restarts=restarts, problem=_problem(line))
    flags = [f.strip() for f in found["flags"].split(",") if f.strip()]
    if any(f not in _FLAGS for f in flags):
        return SupervisorState("runit", service, None, restarts=restarts, problem=_problem(line))
    state: SvState = found["state"]  # type: ignore[assignment]  # the regex allows only these
    running = state != "down"
    want_up = running
    if "want up" in flags:
        want_up = True
    elif "want down" in flags or "want exit" in flags:
        want_up = False
    return SupervisorState(
        kind="runit",
        service=service,
        state=state,
        pid=int(found["pid"]) if found["pid"] else None,
        state_s=int(found["seconds"]),
        want_up=want_up,
        paused="paused" in flags,
        restarts=restarts,
    )


def _problem(line: str) -> str:
    """sv's complaint, printable; without the "fail: DIR: " it starts with."""
    cleaned = "".join(c if c.isprintable() else "?" for c in line).strip()
    parts = cleaned.split(": ", 2)
    if len(parts) == 3 and parts[0] in ("fail", "warning"):
        cleaned = parts[2]
    return cleaned or "no answer from sv status"
