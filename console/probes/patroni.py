"""Patroni's view of the cluster through its REST API (``GET /cluster``, Patroni 3.x).

Nothing here knows about SSH: the caller passes ``run``, a coroutine that runs
one shell command on a database's box and returns what it printed (the
monitor's probe shell, or an action's ``ctx.run``). curl on that box asks
Patroni, so its REST API need not be reachable from the operator's machine.
Where Patroni wants TLS or a password, pass `patroni_api(db)`
(console/probes/patroni_api.py) rather than the bare patroni_url.

Patroni's answer is untrusted: every field is checked, and an answer out of
shape is a PatroniProbeError that says what is wrong and what to check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from console.errors import Exit, HotspareError
from console.probes import http
from console.probes.patroni_api import CHECK, PatroniApi, api_of
from console.state.patroni import DcsMember, PatroniMember, PatroniView, ScheduledSwitchover
from console.text import needs_escaping, one_line
from console.units import size

T = TypeVar("T")

Run = http.Run

CLUSTER_TIMEOUT = 3.0
"""curl's --max-time for ``GET /cluster``, in seconds."""
MAX_ANSWER = 1_000_000

_CHECK = CHECK


class PatroniProbeError(HotspareError, RuntimeError):
    """Patroni did not answer, or not what the probe expected; the message says what to check."""

    exit = Exit.FAILED


def unreachable(observed_at: float, problem: str) -> PatroniView:
    """The view when Patroni could not be read: no members, and why."""
    return PatroniView((), False, None, observed_at, problem)


def summary(view: PatroniView, width: int = 76) -> str:
    """One line for the console: "patroni: leader db1 · db2 streaming lag 0B · paused"."""
    if view.problem is not None:
        return one_line(f"patroni: ✗ {view.problem}", width)
    leaders = view.leaders
    parts = [_leaders(leaders) + _key(view)]
    for m in view.members:
        if m not in leaders:
            lag = size(m.lag) if m.lag is not None else "?"
            parts.append(f"{m.name} {m.state or '?'} lag {lag}")
    if view.pending_restart:
        parts.append("restart pending " + ", ".join(view.pending_restart))
    if view.paused:
        parts.append("paused")
    if view.scheduled_switchover is not None:
        parts.append(f"switchover {view.scheduled_switchover.at[:16].replace('T', ' ')}")
    if view.dcs:
        healthy = sum(1 for m in view.dcs if m.healthy)
        lost = "" if view.dcs_quorum else " NO QUORUM"
        parts.append(f"etcd {healthy}/{len(view.dcs)}{lost}")
    if view.effective_ttl is not None:
        asked = f" (asked {view.ttl})" if view.ttl != view.effective_ttl else ""
        parts.append(f"ttl {view.effective_ttl}{asked}")
    return one_line("patroni: " + " · ".join(parts), width)


def _key(view: PatroniView) -> str:
    """The leader key, only once its holder no longer renews it: " key expires 9s"."""
    key = view.leader_key
    late = key.unrenewed(view.loop_wait) if key is not None else None
    if key is None or late is None:
        return ""
    return f" NOT RENEWING its key ({late}s), expires in {key.expires_in}s"


def _leaders(leaders: tuple[PatroniMember, ...]) -> str:
    if not leaders:
        return "NO leader"
    if len(leaders) > 1:
        return f"{len(leaders)} LEADERS " + ", ".join(m.name for m in leaders)
    return f"{leaders[0].role.replace('_', ' ')} {leaders[0].name}"


# --- curl on a box ----------------------------------------------------------------------


def no_answer(answer: http.Answer, url: str) -> str | None:
    """Why Patroni gave no HTTP answer at URL, in an operator's words; None when it did.

    Without the files cluster.yaml names: `PatroniApi.problem` says more (TLS, 401, 403).
    """
    return answer.problem(url, "Patroni", _CHECK)


# --- GET /cluster -----------------------------------------------------------------------


def parse_cluster(text: str, observed_at: float) -> PatroniView:
    """Read Patroni's ``GET /cluster`` JSON.

    Raises:
        PatroniProbeError: not JSON, or not the shape Patroni 3.x gives.
    """
    if len(text) > MAX_ANSWER:
        raise _shape(f"an answer of {len(text)} characters")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PatroniProbeError(
            f"Patroni's /cluster answer is not JSON ({one_line(str(exc), 80)}): {_CHECK}"
        ) from exc
    if not isinstance(data, dict):
        raise _shape(f"a JSON {_kind(data)} at the top, not an object")
    raw_members = data.get("members")
    if not isinstance(raw_members, list):
        raise _shape("no list of members")
    members = tuple(_member(raw, n) for n, raw in enumerate(raw_members))
    names = [m.name for m in members]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _shape(f"the member name {twice[0]!r} twice")
    paused = data.get("pause", False)
    if not isinstance(paused, bool):
        raise _shape(f"pause as a {_kind(paused)}, not true or false")
    return PatroniView(members, paused, _scheduled(data.get("scheduled_switchover")), observed_at)


async def get(run: Run, api: PatroniApi | str, path: str, timeout: float = CLUSTER_TIMEOUT) -> str:
    """GET PATH from the Patroni at API, with curl on the box: the body of a 200, else
    PatroniProbeError saying why (no answer, TLS, a refusal, or Patroni's status and words)."""
    api = api_of(api)
    url = api.at(path)
    answer = await http.fetch(run, api.request("GET", path, timeout))
    problem = api.problem(answer, url)
    if problem is not None:
        raise PatroniProbeError(problem)
    if answer.status != 200:
        said = one_line(answer.body, 120) or "no reason given"
        raise PatroniProbeError(
            f"Patroni answered {answer.status} at {url}: {said}; look at Patroni's log on that box"
        )
    return answer.body


async def probe_patroni(
    run: Run, url: PatroniApi | str, now: float, details: bool = False
) -> PatroniView:
    """Ask the Patroni at URL for its view of the cluster.

    Args:
        run: runs one shell command on the database's box; returns its stdout.
        url: Patroni's REST API as seen from that box: `patroni_api(db)`, or the bare
            patroni_url of a Patroni that wants no files (TLS, password).
        now: epoch seconds to stamp the view with.
        details: also read its own status (when it last reached the DCS) and the
            DCS settings (ttl, loop_wait): the monitor's view; a plan's checks
            need only the members.

    Raises:
        PatroniProbeError: no answer, an HTTP error, or an answer out of shape.
            Errors raised by ``run`` (the transport's) pass through unchanged.
    """
    api = api_of(url)
    view = parse_cluster(await get(run, api, "cluster"), now)
    if not details:
        return view
    # Its own status (when it last reached the DCS) and the DCS settings: the view
    # stands without them (older Patroni, a slow answer), they only add to it.
    status = await _extra(run, api, "patroni")
    config = await _extra(run, api, "config")
    patroni = status.get("patroni")
    return replace(
        view,
        reader=_optional_text(patroni.get("name") if isinstance(patroni, dict) else None),
        scope=_optional_text(patroni.get("scope") if isinstance(patroni, dict) else None),
        dcs_last_seen=_optional_number(status.get("dcs_last_seen")),
        ttl=_optional_count(config.get("ttl")),
        loop_wait=_optional_count(config.get("loop_wait")),
        failsafe=config.get("failsafe_mode") is True,
    )


DCS_TIMEOUT = 2.0
"""curl's --max-time for etcd's ``GET /health``, in seconds."""


async def probe_dcs(run: Run, name: str, url: str) -> DcsMember:
    """Ask the etcd member at URL (a database's dcs_url, from its box NAME) for its health.

    etcd 3.4 answers {"health": "true"}, or "false" when it has no leader (its
    cluster lost quorum); a stopped or cut-off member does not answer at all.
    Errors raised by ``run`` (the transport's) pass through unchanged.
    """
    health_url = url.rstrip("/") + "/health"
    answer = await http.fetch(run, http.Request("GET", health_url, DCS_TIMEOUT))
    problem = answer.problem(health_url, "etcd", "check dcs_url in cluster.yaml")
    if problem is not None:
        return DcsMember(name, url, None, problem)
    try:
        data = json.loads(answer.body) if len(answer.body) <= MAX_ANSWER else None
    except (ValueError, RecursionError):
        data = None
    said = data.get("health") if isinstance(data, dict) else None
    if said == "true":
        return DcsMember(name, url, True)
    reason = data.get("reason") if isinstance(data, dict) else None
    why = f" ({one_line(reason, 60)})" if isinstance(reason, str) and reason else ""
    if said == "false":
        return DcsMember(name, url, False, f"etcd at {url} says it is not healthy{why}")
    return DcsMember(
        name, url, None, f"etcd at {url} answered {answer.status} without its health word"
    )


async def _extra(run: Run, api: PatroniApi, path: str) -> dict[str, object]:
    """GET PATH's JSON object; {} when it does not answer 200 with one."""
    answer = await http.fetch(run, api.request("GET", path, CLUSTER_TIMEOUT))
    if answer.exit != 0 or answer.status != 200 or len(answer.body) > MAX_ANSWER:
        return {}
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _optional_text(value: object) -> str | None:
    try:
        return _text(value, "a name")
    except PatroniProbeError:
        return None


def _optional_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


def _optional_count(value: object) -> int | None:
    try:
        return _count(value, "a count")
    except PatroniProbeError:
        return None


def _member(raw: object, n: int) -> PatroniMember:
    if not isinstance(raw, dict):
        raise _shape(f"member {n + 1} as a {_kind(raw)}, not an object")
    name = _text(raw.get("name"), f"member {n + 1}'s name")
    where = f"member {name}'s"
    tags = raw.get("tags", {})
    if not isinstance(tags, dict):
        raise _shape(f"{where} tags as a {_kind(tags)}")
    return PatroniMember(
        name=name,
        role=_text(raw.get("role"), f"{where} role"),
        state=_text(raw.get("state", ""), f"{where} state", empty=True),
        host=_optional(raw.get("host"), lambda v: _text(v, f"{where} host")),
        port=_optional(raw.get("port"), lambda v: _count(v, f"{where} port")),
        timeline=_optional(raw.get("timeline"), lambda v: _count(v, f"{where} timeline")),
        lag=_lag(raw.get("lag"), where),
        nofailover=_tag(tags.get("nofailover")),
        noloadbalance=_tag(tags.get("noloadbalance")),
        pending_restart=raw.get("pending_restart") is True,
    )


def _tag(value: object) -> bool:
    return value in (True, "true", "yes", "on")


def _scheduled(raw: object) -> ScheduledSwitchover | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _shape(f"scheduled_switchover as a {_kind(raw)}, not an object")
    return ScheduledSwitchover(
        at=_text(raw.get("at"), "scheduled_switchover's time"),
        leader=_optional(raw.get("from"), lambda v: _text(v, "scheduled_switchover's from")),
        candidate=_optional(raw.get("to"), lambda v: _text(v, "scheduled_switchover's to")),
    )


def _text(value: object, what: str, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _shape(f"{what} as {'nothing' if value is None else 'a ' + _kind(value)}")
    if (not value.strip() and not empty) or len(value) > 255:
        raise _shape(f"{what} {'empty' if not value.strip() else 'longer than 255 characters'}")
    # Controls (a tab too), line separators and bidi overrides: never in a name shown or sent.
    if needs_escaping(value) or "\t" in value:
        raise _shape(f"control characters in {what} ({one_line(value, 40)!r})")
    return value


def _count(value: object, what: str) -> int:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _shape(f"{what} as {value!r:.40}, not a whole number")
    return value


def _lag(value: object, where: str) -> int | None:
    if value is None or value == "unknown":
        return None
    return _count(value, f"{where} lag")


def _optional(value: object, check: Callable[[object], T]) -> T | None:
    return None if value is None else check(value)


def _kind(value: object) -> str:
    names = {dict: "object", list: "list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "number")


def _shape(found: str) -> PatroniProbeError:
    return PatroniProbeError(
        f"Patroni's /cluster answer has {found}: is patroni_url Patroni's REST API "
        "(Patroni 3 or later)? Check it in cluster.yaml"
    )
