"""The balancer through HAProxy's runtime API (HAProxy 2.6): parsers and one probe.

Nothing here knows about SSH: the caller passes ``ask``, a coroutine that
sends one runtime API command and returns HAProxy's whole answer (the SSH
layer opens one direct-streamlocal channel per command, because the socket
answers one command per connection outside interactive mode).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable, Mapping
from typing import cast, get_args

from console.errors import Exit, HotspareError
from console.inventory import Balancer
from console.state.balancer import AdminState, BalancerState, Server, SiteFlags, SiteMode

Ask = Callable[[str], Awaitable[str]]

# srv_admin_state bits (HAProxy include/haproxy/server-t.h, enum srv_admin).
FMAINT, IMAINT, CMAINT, FDRAIN, IDRAIN, RMAINT, HMAINT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
# HAProxy's own mask (include/haproxy/server-t.h, SRV_ADMF_MAINT = 0x23): CMAINT only
# records that haproxy.cfg said `disabled` (a server made ready at run time keeps it and
# serves), HMAINT that its hostname was changed; neither puts it in maintenance.
_MAINT_BITS = FMAINT | IMAINT | RMAINT
_DRAIN_BITS = FDRAIN | IDRAIN

_SITE_MODES: tuple[str, ...] = get_args(SiteMode)
# Answers the runtime API gives instead of data; matched at the start of the text.
_REFUSALS = ("Unknown command", "Permission denied", "Can't find", "Unknown map", "No such")


class BalancerProbeError(HotspareError, RuntimeError):
    """HAProxy answered, but not what the probe expected; the message says what to check."""

    exit = Exit.FAILED


def parse_stat(text: str) -> list[dict[str, str]]:
    """Parse ``show stat`` CSV into one dict per row, keyed by the header's names.

    Args:
        text: the whole answer; its first line is the header, starting with "# ".

    Returns:
        The rows in HAProxy's order; empty fields are "".

    Raises:
        BalancerProbeError: the answer has no CSV header.
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise BalancerProbeError(f"`show stat` did not return CSV: {_first_line(text)}")
    header = lines[0][2:].split(",")
    rows = []
    # csv, not split(","): HAProxy quotes fields such as check_desc that may hold commas.
    for values in csv.reader(line for line in lines[1:] if line.strip()):
        rows.append(dict(zip(header, values, strict=False)))
    return rows


def parse_backend_states(text: str) -> dict[tuple[str, str], int]:
    """Parse ``show servers state`` into (backend, server) -> srv_admin_state bits.

    Raises:
        BalancerProbeError: the answer is not format version 1 with its header.
    """
    lines = text.splitlines()
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# be_id"):
        raise BalancerProbeError(
            f"`show servers state` did not return the version 1 format: {_first_line(text)}"
        )
    columns = lines[1][2:].split()
    at = [columns.index(c) for c in ("be_name", "srv_name", "srv_admin_state")]
    states = {}
    for line in lines[2:]:
        fields = line.split()
        if len(fields) > max(at):
            states[(fields[at[0]], fields[at[1]])] = int(fields[at[2]])
    return states


def parse_servers_state(text: str) -> dict[str, int]:
    """Parse ``show servers state BACKEND`` (one backend) into server name -> admin bits.

    Raises:
        BalancerProbeError: the answer is not format version 1 with its header.
    """
    return {name: bits for (_be, name), bits in parse_backend_states(text).items()}


def admin_state(bits: int) -> AdminState:
    """Read srv_admin_state bits as the operator's ready, drain or maint (maint wins)."""
    if bits & _MAINT_BITS:
        return "maint"
    if bits & _DRAIN_BITS:
        return "drain"
    return "ready"


def parse_map(text: str) -> dict[str, str]:
    """Parse ``show map FILE`` lines ("0x55f3... key value with spaces") into key -> value.

    Raises:
        BalancerProbeError: a line is not an entry (HAProxy refused the command).
    """
    entries = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("0x"):
            raise BalancerProbeError(f"`show map` did not return map entries: {line.strip()}")
        entries[parts[1]] = parts[2] if len(parts) == 3 else ""
    return entries


def site_flags(mapping: Mapping[str, str]) -> SiteFlags:
    """Read the flags map as the site's mode, message and until.

    A missing ``mode`` is "normal": that is the default the map() lookup in
    haproxy.cfg falls back to. An unknown mode (a typo such as "readonly") is
    also read as "normal", with a ``problem``: HAProxy only acts on the exact
    words, so the site really does take writes, and the console must never
    claim a protection the site does not have. "-" or a missing message or
    until is None.
    """
    raw = mapping.get("mode", "normal")
    problem = None
    if raw not in _SITE_MODES:
        problem = (
            f"the flags map has mode {raw!r}, which HAProxy does not act on: the site "
            f"serves normally; set mode to one of {', '.join(_SITE_MODES)}"
        )
        raw = "normal"
    return SiteFlags(
        mode=cast(SiteMode, raw),  # checked against the Literal's words above
        message=_unset_is_none(mapping.get("message")),
        until=_unset_is_none(mapping.get("until")),
        problem=problem,
    )


def live_backend(mapping: Mapping[str, str], cfg: Balancer) -> tuple[str, str | None]:
    """The backend the flags map sends the site to, and a problem when cluster.yaml lacks it.

    No ``live`` entry is the balancer's backend: the default the map() lookup
    in haproxy.cfg falls back to.
    """
    live = mapping.get("live", "").strip() or cfg.backend
    if live in backends_of(cfg):
        return live, None
    return live, (
        f"the flags map sends the site to backend {live}, which cluster.yaml does not "
        f"declare: hotspare cannot tell whether it serves; declare it (a web node's backend) "
        f"or set live back to one of {', '.join(backends_of(cfg))}"
    )


def backends_of(cfg: Balancer) -> tuple[str, ...]:
    """Every backend of the balancer (a Balancer built by hand may list none: its own)."""
    return cfg.backends or (cfg.backend,)


async def probe_balancer(ask: Ask, cfg: Balancer, now: float) -> BalancerState:
    """Read every backend's servers, the frontend's traffic and the site flags at once.

    Args:
        ask: sends one runtime API command, returns the whole answer.
        cfg: the balancer section of cluster.yaml.
        now: epoch seconds to stamp the result with.

    Raises:
        BalancerProbeError: an answer was a refusal or malformed; the message
            names the cluster.yaml key to check. Errors raised by ``ask``
            (the transport's) pass through unchanged.
    """
    stat_text, state_text, map_text = await asyncio.gather(
        ask("show stat"),
        ask("show servers state"),
        ask(f"show map {cfg.flags_map}"),
    )
    _refuse(stat_text, "show stat", "balancer.socket (is it an admin-level stats socket?)")
    _refuse(state_text, "show servers state", "balancer.socket")
    _refuse(
        map_text,
        f"show map {cfg.flags_map}",
        "balancer.flags_map (the exact path haproxy.cfg loads with map())",
    )
    rows = parse_stat(stat_text)
    admin = parse_backend_states(state_text)
    frontend = _frontend_row(rows, cfg.frontend)
    _check_backends(rows, cfg)
    backends = backends_of(cfg)
    servers = tuple(
        _server(row, admin.get((row["pxname"], row["svname"])))
        for row in rows
        if row.get("pxname") in backends and row.get("svname") not in ("FRONTEND", "BACKEND")
    )
    mapping = parse_map(map_text)
    live, live_problem = live_backend(mapping, cfg)
    return BalancerState(
        box=cfg.box,
        observed_at=now,
        frontend=cfg.frontend,
        backend=cfg.backend,
        servers=servers,
        frontend_request_rate=_int(frontend.get("req_rate")),
        frontend_sessions=_int(frontend.get("scur")),
        flags=site_flags(mapping),
        live=live,
        live_problem=live_problem,
    )


def _server(row: Mapping[str, str], admin_bits: int | None) -> Server:
    operational = row.get("status", "")
    return Server(
        name=row["svname"],
        backend=row["pxname"],
        admin=_admin_from_status(operational) if admin_bits is None else admin_state(admin_bits),
        operational=operational,
        # "* " marks a check still in progress; the result shown is the previous one.
        check_status=row.get("check_status", "").removeprefix("* "),
        check_code=_int_or_none(row.get("check_code")),
        check_duration_ms=_int_or_none(row.get("check_duration")),
        last_change_s=_int_or_none(row.get("lastchg")),
        sessions=_int(row.get("scur")),
        max_sessions=_int(row.get("smax")),
        queue=_int(row.get("qcur")),
        session_rate=_int(row.get("rate")),
        http_5xx=_int(row.get("hrsp_5xx")),
        weight=_int(row.get("weight")),
    )


def _admin_from_status(operational: str) -> AdminState:
    # A server added between the two commands has no state line yet; its
    # status word still tells maint and drain apart from ready.
    if operational.startswith("MAINT"):
        return "maint"
    return "drain" if operational.startswith("DRAIN") else "ready"


def _frontend_row(rows: list[dict[str, str]], frontend: str) -> dict[str, str]:
    for row in rows:
        if row.get("pxname") == frontend and row.get("svname") == "FRONTEND":
            return row
    raise BalancerProbeError(
        f"HAProxy has no frontend named {frontend!r}: check balancer.frontend in cluster.yaml"
    )


def _check_backends(rows: list[dict[str, str]], cfg: Balancer) -> None:
    """Every backend cluster.yaml declares is one HAProxy has."""
    known = {row.get("pxname") for row in rows if row.get("svname") == "BACKEND"}
    for name in backends_of(cfg):
        if name not in known:
            key = "balancer.backend" if name == cfg.backend else "the web nodes' backend"
            raise BalancerProbeError(
                f"HAProxy has no backend named {name!r}: check {key} in cluster.yaml"
            )


def _refuse(answer: str, command: str, key: str) -> None:
    if answer.lstrip().startswith(_REFUSALS):
        raise BalancerProbeError(
            f"HAProxy refused `{command}`: {_first_line(answer)}; check {key} in cluster.yaml"
        )


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else "(empty answer)"


def _unset_is_none(value: str | None) -> str | None:
    return None if value is None or value.strip() in ("", "-") else value


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int:
    return _int_or_none(value) or 0
