"""The leader key in etcd: who holds it, and how long its lease has left.

Patroni keeps the leader lock as a key in etcd (``<namespace><scope>/leader``,
its value the leader's name) bound to a lease of ``ttl`` seconds, which the
leader renews every HA loop. A leader whose Patroni died stops renewing: the
lease runs out, etcd drops the key, and the replicas elect. Reading the key
and its lease shows that story as it happens, before Patroni's own view
changes. Asked with curl on a database's box (its ``dcs_url``), through
etcd's v3 JSON gateway; etcd's answers are untrusted and checked.
"""

from __future__ import annotations

import base64
import binascii
import json

from console.probes import http
from console.state.patroni_leader import LeaderKey
from console.text import needs_escaping, one_line

Run = http.Run

ETCD_TIMEOUT = 2.0
"""curl's --max-time for each of etcd's two answers, in seconds."""
MAX_ANSWER = 100_000


def leader_key(namespace: str, scope: str) -> str:
    """The key Patroni keeps its leader lock under (Patroni's own layout)."""
    return f"/{namespace.strip('/')}/{scope}/leader".replace("//", "/")


async def probe_leader_key(run: Run, dcs_url: str, key: str, now: float) -> LeaderKey:
    """Ask the etcd member at DCS_URL who holds KEY and how long its lease has left.

    Never raises for etcd's part: what went wrong is the LeaderKey's ``problem``.
    Errors raised by ``run`` (the transport's) pass through unchanged.
    """
    base = dcs_url.rstrip("/")
    encoded = base64.b64encode(key.encode()).decode()
    ranged = await _post(run, f"{base}/v3/kv/range", {"key": encoded})
    if isinstance(ranged, str):
        return LeaderKey(None, None, None, now, ranged)
    found = ranged.get("kvs")
    if not found:
        return LeaderKey(None, None, None, now)
    first = found[0] if isinstance(found, list) else None
    if not isinstance(first, dict):
        return LeaderKey(None, None, None, now, f"etcd's answer for {key} is out of shape")
    holder = _holder(first.get("value"))
    lease = first.get("lease")
    if holder is None or not (isinstance(lease, str) and lease.isdigit()):
        return LeaderKey(None, None, None, now, f"etcd's answer for {key} is out of shape")
    alive = await _post(run, f"{base}/v3/lease/timetolive", {"ID": lease})
    if isinstance(alive, str):
        return LeaderKey(holder, None, None, now, alive)
    # etcd's gateway leaves out fields at zero: a lease with no time left has no TTL.
    left, granted = _seconds(alive.get("TTL", "0")), _seconds(alive.get("grantedTTL", "0"))
    if left is None:
        return LeaderKey(holder, None, None, now, f"etcd's lease for {key} is out of shape")
    if left <= 0:
        return LeaderKey(None, None, None, now)  # its lease ran out: etcd drops the key now
    return LeaderKey(holder, left, granted or None, now)


async def _post(run: Run, url: str, body: dict[str, str]) -> dict[str, object] | str:
    """etcd's JSON answer to BODY at URL, or why there is none, in words."""
    request = http.Request("POST", url, ETCD_TIMEOUT, json.dumps(body), http.JSON)
    answer = await http.fetch(run, request)
    problem = answer.problem(url, "etcd", "check dcs_url in cluster.yaml")
    if problem is not None:
        return problem
    if answer.status != 200 or len(answer.body) > MAX_ANSWER:
        return f"etcd answered {answer.status} at {url}: {one_line(answer.body, 80) or 'no text'}"
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):
        return f"etcd's answer at {url} is not JSON"
    return data if isinstance(data, dict) else f"etcd's answer at {url} is not a JSON object"


def _holder(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        name = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not name or len(name) > 255 or needs_escaping(name) or "\t" in name:
        return None
    return name


def _seconds(value: object) -> int | None:
    # int64 fields come as decimal text through etcd's JSON gateway.
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
