"""Each demo site under runit: a service directory per web node and its own `runsv`.

The lab runs no system-wide runsvdir and writes nothing under /etc/service:
`runsv DIR` is started per node like every other lab process (recorded and
stopped by pid), and runs DIR/run, which counts its start in DIR/restarts
and execs the site as the lab always started it. The lab's SSH user (the
box's user) must drive it with `sv status|restart DIR`, as hotspare does
over SSH, so DIR/supervise and its two pipes (control, ok) are made that
user's before runsv starts: runsv keeps what it finds, and makes only the
status files (world-readable) itself. DIR and its run script stay the
invoking user's, who runs runsv.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
from pathlib import Path

import console
from console.lab import procs
from console.lab.layout import LabLayout

RUNSV = "/usr/bin/runsv"
STOP_TIMEOUT = 15.0

RUN = """\
#!/bin/sh
# The demo site on {node}, run by runsv (console/lab/supervise.py): count this start
# in ./restarts (0 the first time under this runsv), then exec the site.
# Written by `hotspare lab up`.
if [ -s restarts ]; then n=$(( $(cat restarts) + 1 )); else n=0; fi
echo "$n" > restarts.new && mv -f restarts.new restarts
cd {project}
exec {argv}
"""


def service_dir(lab: LabLayout, node: str) -> Path:
    """The runit service directory of NODE's site."""
    return lab.box_dir(node) / "service" / "site"


def _runsv_name(node: str) -> str:
    return f"runsv-{node}"


def install(lab: LabLayout, node: str, argv: list[str]) -> Path:
    """Write NODE's service directory: its run script and a supervise/ the lab user may drive."""
    service = service_dir(lab, node)
    supervise = service / "supervise"
    supervise.mkdir(parents=True, exist_ok=True)
    project = Path(console.__file__).resolve().parent.parent
    run = service / "run"
    run.write_text(RUN.format(node=node, project=shlex.quote(str(project)), argv=shlex.join(argv)))
    run.chmod(0o755)
    for pipe in ("control", "ok"):
        with contextlib.suppress(FileExistsError):
            os.mkfifo(supervise / pipe, 0o600)
    # Only supervise/ and its pipes are the lab user's: the run script (and the directory
    # holding it) stay the invoking user's, who runs runsv and so the script.
    procs.give(lab, supervise, supervise / "control", supervise / "ok")
    if lab.as_root:  # `lab up` gives the lab's whole tree to the lab user before this
        for path in (service, run):
            os.chown(path, os.getuid(), os.getgid())
    return service


def start(lab: LabLayout, node: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
    """Start runsv for NODE's site unless it runs; if it does, ask it to keep the site up."""
    service = install(lab, node, argv)
    runsv = procs.recorded(lab.pid_dir).get(_runsv_name(node))
    if runsv is not None and procs.is_alive(runsv):
        _control(service, "u")  # a site left down with `sv down` is started again
        return
    (service / "restarts").unlink(missing_ok=True)  # a new runsv counts from 0
    # runsv runs as the invoking user, as the sites always did (the project's Python
    # may be readable by that user only); the lab user drives it through supervise/.
    procs.start_once(lab, _runsv_name(node), [RUNSV, str(service)], log, env, drop=False)


def _control(service: Path, command: str) -> None:
    """Write COMMAND to runsv's control pipe, if a runsv reads it (never blocks)."""
    try:
        fd = os.open(service / "supervise" / "control", os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            return  # no runsv reads it
        raise
    try:
        os.write(fd, command.encode())
    finally:
        os.close(fd)


def site_proc(lab: LabLayout, node: str) -> procs.Proc | None:
    """NODE's live site process as runsv last started it (supervise/pid), or None."""
    try:
        pid = int((service_dir(lab, node) / "supervise" / "pid").read_text().strip())
    except (OSError, ValueError):
        return None
    started = procs.start_time(pid)
    return procs.Proc(f"site-{node}", pid, started) if started is not None else None


def runsv_proc(lab: LabLayout, node: str) -> procs.Proc | None:
    """NODE's live runsv, by the lab's record, or None."""
    proc = procs.recorded(lab.pid_dir).get(_runsv_name(node))
    return proc if proc is not None and procs.is_alive(proc) else None


def stop(lab: LabLayout, node: str) -> list[str]:
    """Stop NODE's runsv and its site, by pid; what was stopped, for the operator.

    runsv told TERM starts the site no more and exits once it is down; the
    site gets TERM then CONT (a SIGSTOPped site must still take the TERM),
    and is killed if it does not exit in time.
    """
    said = []
    runsv = runsv_proc(lab, node)
    if runsv is not None:
        os.kill(runsv.pid, signal.SIGTERM)
    site = site_proc(lab, node)
    if site is not None and (runsv is None or _parent(site.pid) == runsv.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(site.pid, signal.SIGTERM)
            os.kill(site.pid, signal.SIGCONT)
        procs.stop(site, signal.SIGTERM, timeout=STOP_TIMEOUT)  # may be gone already
        said.append(f"stopped site-{node} (pid {site.pid})")
    if runsv is not None:  # told TERM above: it may have exited with the site already
        procs.stop(runsv, signal.SIGTERM, timeout=STOP_TIMEOUT)
        said.append(f"stopped {runsv.name} (pid {runsv.pid})")
    procs.forget(lab.pid_dir, _runsv_name(node))
    return said


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])
