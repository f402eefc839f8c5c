"""ClusterState as a compact plain-text table for `hotspare status` (80 columns)."""

from __future__ import annotations

import textwrap
import time

from console.probes.patroni import summary as patroni_summary
from console.state import model
from console.text import one_line
from console.units import age, size

NAME_MOST = 30
"""A name column is as wide as its longest name, up to this; longer names are cut with …."""


def _width(names: list[str], least: int) -> int:
    """The width of a column of NAMES: the longest one (cleaned), at least LEAST."""
    return max([least, *(len(one_line(n, NAME_MOST)) for n in names)])


def _fresh(state: model.ClusterState, box: str) -> str:
    fresh = state.freshness(box)
    if fresh is None:
        return ""
    if fresh.stale:
        return f"STALE {age(fresh.age)}"
    return age(fresh.age)


def _site_mode(state: model.ClusterState) -> str:
    v = state.verdicts
    if v.site_mode is None:
        return "SITE MODE UNKNOWN"
    mode = v.site_mode.upper()
    return f"{mode} until {one_line(v.site_until, 30)}" if v.site_until else mode


def header(state: model.ClusterState) -> list[str]:
    when = time.strftime("%H:%M:%S", time.localtime(state.taken_at))
    alarms = len(state.alarms)
    worst = "CRITICAL" if any(a.severity == "critical" for a in state.alarms) else "warning"
    alarm_text = f"{alarms} alarm{'s' if alarms != 1 else ''} ({worst})" if alarms else "no alarms"
    env = one_line(state.environment, 20).upper()
    paused = "  PATRONI PAUSED" if state.patroni is not None and state.patroni.paused else ""
    keepalive = "" if state.keepalive == "off" else f"  KEEPALIVE {state.keepalive.upper()}"
    return [
        f"{one_line(state.cluster, 24)} [{env}]  {_site_mode(state)}{paused}{keepalive}  "
        f"{alarm_text}  at {when}"
    ]


def balancer(state: model.ClusterState) -> list[str]:
    lb = state.balancer
    if lb is None:
        return ["BALANCER  no data"]
    v = state.verdicts
    w = _width([s.name for s in lb.servers], 10)
    # HAProxy silent on a box that answers: the picture is its last one.
    data = f"STALE {age(state.taken_at - lb.observed_at)}" if lb.problem else _fresh(state, lb.box)
    backends = {lb.in_backend(s) for s in lb.servers} | {lb.live_backend}
    # An A/B rollover's two backends: which one serves, and each server's.
    live = f"live {one_line(lb.live_backend, 20)}  " if len(backends) > 1 else ""
    lines = [
        f"BALANCER {lb.box}  {live}{v.backends_up}/{v.backends_total} up  "
        f"{lb.frontend_request_rate} req/s  {lb.frontend_sessions} sessions  "
        f"data {data}",
        f"  {'SERVER':{w}} {'ADMIN':6} {'OPER':8} {'CHECK':14} {'SESS':>5} {'MAX':>5} "
        f"{'QUEUE':>5} {'5XX':>5} {'WT':>4}",
    ]
    several = len(backends) > 1
    if several:
        lines[1] += " BACKEND"
    for s in lb.servers:
        check = f"{s.check_status} {s.check_code or ''}".strip()
        if s.last_change_s is not None:
            check += f" {age(float(s.last_change_s))}"
        lines.append(
            f"  {one_line(s.name, w):{w}} {s.admin:6} {one_line(s.operational, 8):8} "
            f"{one_line(check, 14):14} {s.sessions:>5} {s.max_sessions:>5} {s.queue:>5} "
            f"{s.http_5xx:>5} {s.weight:>4}"
            + (f" {one_line(lb.in_backend(s), 8)}" if several else "")
        )
    return lines


def nodes(state: model.ClusterState) -> list[str]:
    w = _width([n.name for n in state.nodes], 5)
    # A supervisor's column ("up 12m", "DOWN") takes its room from HEALTH and the log name.
    supervised = any(n.supervisor is not None for n in state.nodes)
    hw, lw = (10, 20) if supervised else (13, 24)
    sv_head = f"{'SV':6} " if supervised else ""
    lines = [
        f"NODES{' ' * (w - 2)}{'ROLE':5} {'SCHED':5} {'MAIL':4} {'HEALTH':{hw}} {sv_head}"
        f"{'LOAD':>5} LOG / DATA AGE"
    ]
    for n in state.nodes:
        role: str = n.role or "?"
        if n.role and n.role != n.expected_role:
            role += "!"
        sched = "yes" if n.scheduler else ("no" if n.scheduler is not None else "?")
        if n.health_status is not None:
            health = f"{n.health_status} {n.health_latency_ms or 0:.0f}ms"
        else:  # no problem said either: never probed
            health = "FAIL" if n.health_problem else "?"
        if n.site_alive is False:
            health = "SITE DOWN"
        load = f"{n.load[0]:.2f}" if n.load else "?"
        log = n.access_logs[0].path.rsplit("/", 1)[-1] if n.access_logs else "-"
        sv = (n.supervisor.short() if n.supervisor else "-") if supervised else ""
        sv_cell = f"{sv:6} " if supervised else ""
        lines.append(
            f"  {one_line(n.name, w):{w}} {role:5} {sched:5} {n.mail or '?':4} {health:{hw}} "
            f"{sv_cell}{load:>5} {one_line(log, lw)} {_fresh(state, n.box)}"
        )
    return lines


def databases(state: model.ClusterState) -> list[str]:
    w = _width([d.name for d in state.databases], 7)
    lines = [
        f"DATABASES{' ' * (w - 7)} {'ROLE':8} {'TL':>3} {'LSN':12} {'LAG':14} {'STATE':10} DATA AGE"
    ]
    for db in state.databases:
        role: str = db.role or ("DOWN" if state.answers(db.box) else "?")
        if db.role == "primary" and db.writable is False:
            role = "prim-ro"
        lsn = db.current_lsn if db.role == "primary" else db.replay_lsn
        lag, link = "-", db.receiver_status or "-"
        if db.role == "primary":
            link = f"{len(db.standbys)} standby" + ("s" if len(db.standbys) != 1 else "")
        upstream = state.standby_link(db.name)
        if upstream is not None:
            lag = f"{size(upstream.lag_bytes)} {age(upstream.replay_lag_s or 0.0)}"
        if db.replay_paused:
            link = "PAUSED"
        lines.append(
            f"  {one_line(db.name, w):{w}} {role:8} {db.timeline or '-':>3} {lsn or '-':12} "
            f"{lag:14} {link:10} {_fresh(state, db.box)}"
        )
        if db.problem:
            indent = " " * 10
            lines += textwrap.wrap(
                one_line(db.problem, 400), 80, initial_indent=indent, subsequent_indent=indent
            )
    if state.patroni is not None:  # wrapped at the dots, never cut: every part counts
        said = patroni_summary(state.patroni, 1000)
        lines += textwrap.wrap(said, 78, initial_indent="  ", subsequent_indent="    ")
    return lines


def upgrade(state: model.ClusterState) -> list[str]:
    """The open upgrade, on its own line (none once it is done)."""
    book = state.runbook
    if book is None or book.finished:
        return []
    return _wrapped(f"{book.banner()}: {one_line(book.describe(), 400)}")


def alarms(state: model.ClusterState) -> list[str]:
    if not state.alarms:
        return []
    lines = ["ALARMS"]
    for a in state.alarms:
        mark = "!!" if a.severity == "critical" else " !"
        lines += _wrapped(f"{mark} {a.code}: {one_line(a.message, 400)}")
    return lines


def _wrapped(text: str) -> list[str]:
    """TEXT folded to 80 columns, continuation lines indented."""
    return textwrap.wrap(text, width=80, subsequent_indent="      ") or [""]


def boxes(state: model.ClusterState) -> list[str]:
    lines = ["BOXES"]
    w = _width([b.box for b in state.boxes], 8)
    for b in state.boxes:
        rtt = f"rtt {b.rtt_ms:.1f}ms" if b.rtt_ms is not None else ""
        if b.stale:
            reason = one_line(b.reason or "", 400)
            lines += _wrapped(f"  {one_line(b.box, w):{w}} STALE {age(b.age)}: {reason}")
        else:
            lines.append(f"  {one_line(b.box, w):{w}} fresh {age(b.age)} {rtt}")
    return lines


def render(state: model.ClusterState) -> str:
    """The whole table; every untrusted string is cleaned and shortened."""
    sections = [header(state), upgrade(state), balancer(state), nodes(state), databases(state)]
    sections += [alarms(state), boxes(state)]
    return "\n".join("\n".join(s) for s in sections if s)
