"""The web node probe: one short shell script over the box's probe shell.

It reads load, memory and disk, whether the site process lives, the health
URL's status and latency as measured from the box, the node's role file and
its log files. Everything the box prints is untrusted: it is parsed strictly
and a line that does not parse is ignored, never raised.
"""

from __future__ import annotations

import base64
import binascii
import shlex
from pathlib import PurePosixPath

from console import node_role
from console.inventory import WebNode
from console.probes import http
from console.ssh.remote import ProbeShell
from console.state.model import LogFile, NodeState

HEALTH_TIMEOUT = 2.0


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
true"""


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
    )


async def probe_node(shell: ProbeShell, node: WebNode, now: float, timeout: float) -> NodeState:
    """Run the probe for NODE on its box's shell and parse the answer."""
    return parse(await shell.ask(script(node), timeout), node, now)


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
