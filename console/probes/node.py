"""The web node probe: one short shell script over the box's probe shell.

It reads load, memory and disk, whether the site process lives, the health
URL's status and latency as measured from the box, the node's role file and
its log files, and, when cluster.yaml names them, the release the site runs
(its version_url), the one its releases/current link selects, and what its
supervisor says of it (`sv status`, console/state/supervisor.py). Everything
the box prints is untrusted: it is parsed strictly and a line that does not
parse is ignored, never raised.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
from pathlib import PurePosixPath

from console import node_role
from console.inventory import WebNode
from console.probes import http
from console.ssh.remote import ProbeShell
from console.state.model import LogFile, NodeState
from console.state.supervisor import SupervisorState, parse_sv_status

HEALTH_TIMEOUT = 2.0
VERSION_TIMEOUT = 1.0
SV_TIMEOUT = 2  # whole seconds, for timeout(1)
MAX_VERSION_BYTES = 4096
MAX_RELEASE_CHARS = 40


def script(node: WebNode) -> str:
    """The shell script that probes NODE on its box (POSIX sh, coreutils, curl)."""
    q = shlex.quote
    logs = " ".join(
        q(path)
        for path in (node.access_log_for("hot"), node.access_log_for("warm"), node.error_log)
    )
    log_dir = q(str(PurePosixPath(node.error_log).parent))
    pid = q(node.pid_file) if node.pid_file else "''"
    written = "-o /dev/null -w 'health %{http_code} %{time_total}\\n'"
    health = http.Request("GET", node.health_url, HEALTH_TIMEOUT).curl(written)
    return f"""\
echo "now $(date +%s)"
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
awk '/^(MemTotal|MemAvailable):/ {{print "mem", $1, $2}}' /proc/meminfo
df -P {log_dir} | awk 'NR==2 {{print "disk", $5}}'
p={pid}; if [ -z "$p" ]; then echo "site unknown"; elif [ ! -r "$p" ]; then echo "site nopid"; \
elif [ -d "/proc/$(cat "$p")" ]; then echo "site alive"; else echo "site dead"; fi
{health} || echo "health failed $?"
if [ -r {q(node.role_file)} ]; then echo "role $(base64 < {q(node.role_file)} | tr -d '\\n')"; \
else echo "role missing"; fi
for f in {logs}; do [ -f "$f" ] && echo "log $(stat -c '%Y %s' "$f") $f"; done
{release_lines(node)}{supervisor_lines(node)}true"""


def supervisor_lines(node: WebNode) -> str:
    """The script's lines that ask the supervisor (base64'd) and read the run script's count."""
    if node.supervisor is None:
        return ""
    service = shlex.quote(node.supervisor.service)
    restarts = shlex.quote(str(PurePosixPath(node.supervisor.service) / "restarts"))
    return (
        f'if command -v sv >/dev/null; then echo "sv $(timeout {SV_TIMEOUT} sv status {service} '
        "2>&1 | head -c 400 | base64 | tr -d '\\n')\"; else echo 'sv missing'; fi\n"
        f'echo "svrestarts $(head -c 20 {restarts} 2>/dev/null | tr -dc 0-9)"\n'
    )


def release_lines(node: WebNode) -> str:
    """The script's lines that read the running and the selected release (each base64'd).

    Empty when cluster.yaml declares neither version_url nor releases.
    """
    encoded = "base64 | tr -d '\\n'"
    lines = ""
    if node.version_url:
        fetch = http.Request("GET", node.version_url, VERSION_TIMEOUT).curl("-f")
        lines += f'echo "version $({fetch} | head -c {MAX_VERSION_BYTES} | {encoded})"\n'
    if node.releases:
        current = shlex.quote(str(PurePosixPath(node.releases) / "current"))
        lines += f'l=$(readlink {current}) && echo "selected $(printf %s "$l" | {encoded})"\n'
    return lines


def parse(text: str, node: WebNode, observed_at: float) -> NodeState:
    """The NodeState that a probe's output describes (missing parts stay None)."""
    fields: dict[str, list[str]] = {}
    logs: list[tuple[int, int, str]] = []
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "log":
            mtime, size, path = ([*rest.split(" ", 2), "", "", ""])[:3]
            if mtime.isdigit() and size.isdigit():
                logs.append((int(mtime), int(size), path))
        elif word == "mem":
            fields[rest.split(" ")[0]] = rest.split(" ")[1:]
        else:
            fields[word] = rest.split(" ")
    now = _int(fields.get("now"))
    role, role_problem = _role(fields.get("role"))
    status, latency, health_problem = _health(fields.get("health"), node.health_url)
    files = sorted(logs, reverse=True)
    age = now if now is not None else int(observed_at)
    return NodeState(
        name=node.name,
        box=node.box,
        observed_at=observed_at,
        expected_role=node.role,
        role=role.role if role else None,
        scheduler=role.scheduler if role else None,
        mail=role.mail if role else None,
        read_only=role.read_only if role else None,
        database=role.database if role else None,
        role_problem=role_problem,
        site_alive={"alive": True, "dead": False, "nopid": False}.get(_word(fields, "site") or ""),
        health_status=status,
        health_latency_ms=latency,
        health_problem=health_problem,
        load=_load(fields.get("load")),
        mem_total_kb=_int(fields.get("MemTotal:")),
        mem_available_kb=_int(fields.get("MemAvailable:")),
        disk_used_pct=_percent(fields.get("disk")),
        access_logs=tuple(
            LogFile(p, max(0, age - m), s) for m, s, p in files if p != node.error_log
        ),
        error_logs=tuple(
            LogFile(p, max(0, age - m), s) for m, s, p in files if p == node.error_log
        ),
        release=_running_release(_decoded(fields.get("version"))) if node.version_url else None,
        selected_release=_selected_release(_decoded(fields.get("selected")))
        if node.releases
        else None,
        supervisor=_supervisor(fields, node),
    )


async def probe_node(shell: ProbeShell, node: WebNode, now: float, timeout: float) -> NodeState:
    """Run the probe for NODE on its box's shell and parse the answer."""
    return parse(await shell.ask(script(node), timeout), node, now)


def _supervisor(fields: dict[str, list[str]], node: WebNode) -> SupervisorState | None:
    """The supervisor's view, when cluster.yaml names a supervisor for NODE."""
    if node.supervisor is None:
        return None
    service = node.supervisor.service
    restarts = _int(fields.get("svrestarts"))
    said = fields.get("sv")
    if said == ["missing"]:
        problem = "no `sv` program on the box (install runit)"
        return SupervisorState(node.supervisor.kind, service, None, problem=problem)
    text = _decoded(said)
    if text is None:
        return SupervisorState(node.supervisor.kind, service, None, problem="no answer from sv")
    return parse_sv_status(text, service, restarts)


def _word(fields: dict[str, list[str]], key: str) -> str | None:
    values = fields.get(key)
    return values[0] if values else None


def _int(values: list[str] | None) -> int | None:
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _load(values: list[str] | None) -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = (float(v) for v in (values or [])[:3])
    except ValueError:
        return None
    return (one, five, fifteen)


def _percent(values: list[str] | None) -> float | None:
    try:
        return float(values[0].rstrip("%")) if values else None
    except ValueError:
        return None


def _health(values: list[str] | None, url: str) -> tuple[int | None, float | None, str | None]:
    if not values:
        return None, None, "no answer from the health probe"
    if values[0] == "failed" and len(values) > 1 and values[1].isdigit():
        return None, None, http.no_answer(int(values[1]), url)
    if values[0] in ("failed", "000"):
        return None, None, "no HTTP answer from the health URL"
    try:
        return int(values[0]), round(float(values[1]) * 1000, 1), None
    except (ValueError, IndexError):
        return None, None, "unreadable health probe answer"


def _role(values: list[str] | None) -> tuple[node_role.NodeRole | None, str | None]:
    if not values or values[0] == "missing":
        return None, "role file missing or unreadable"
    try:
        text = base64.b64decode(values[0], validate=True).decode("utf-8", errors="replace")
        return node_role.parse(text), None
    except (binascii.Error, ValueError) as exc:
        return None, f"role file unreadable: {exc}"


def _decoded(values: list[str] | None) -> str | None:
    """The text a probe line carried base64'd; None when absent or not base64."""
    if not values or not values[0]:
        return None
    try:
        return base64.b64decode(values[0], validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def release_name(text: str) -> str | None:
    """TEXT if it can stand for a release name: 1 to 40 printable characters, else None."""
    name = text.strip()
    if not name or len(name) > MAX_RELEASE_CHARS or not name.isprintable():
        return None
    return name


def _running_release(answer: str | None) -> str | None:
    """The release of a version_url answer: JSON's "release", or a plain text's first word."""
    if answer is None:
        return None
    try:
        value = json.loads(answer)
    except ValueError:
        words = answer.split()
        return release_name(words[0]) if words else None
    if isinstance(value, dict) and isinstance(value.get("release"), str):
        return release_name(value["release"])
    return None


def started_of(body: str) -> float | None:
    """When a version_url's JSON answer says its process started (epoch seconds), if it does.

    A restart is proven by a process started after it was asked for: the
    rolling upgrade's and `hotspare restart`'s hook path both read this.
    """
    try:
        loaded = json.loads(body.strip())
    except ValueError:
        return None
    found = loaded.get("started") if isinstance(loaded, dict) else None
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    return float(found)


def _selected_release(target: str | None) -> str | None:
    """The release a releases/current link names: the last part of its target."""
    if target is None:
        return None
    return release_name(target.rstrip("/").rpartition("/")[2])
