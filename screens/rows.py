"""Table rows drawn from a snapshot: words first, colour only as a second cue.

Every cell is a rich Text built from cleaned strings, so a "[/]" or an escape
sequence in a box name, a reason or a database string is shown, not obeyed.
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text

from console.state import model
from console.state.balancer import Server
from console.state.runbook import Runbook
from console.text import one_line
from console.units import age, size

LIVE_AGE = 5.0
"""Data younger than this shows as "live": the table repaints only on change."""

Cells = tuple[Text, ...]

BAD = "bold red"
WARN = "yellow"
GOOD = "green"
QUIET = "dim"


PLANNED = "cyan"
"""What an operator set on purpose and still within its plan: said calmly, not alarmed."""

REASON_LIMIT = 16
"""The widest a reason cell grows; longer ones end in "…" and are whole in the box details."""


def cell(text: object, style: str = "", limit: int = 60) -> Text:
    """A table cell from untrusted TEXT: cleaned, one line, never markup, "…" past LIMIT."""
    return Text(one_line(str(text), limit), style=style)


def latency(ms: float | None) -> str:
    """Latency in 5 ms steps: jitter below that is noise and only costs repaints."""
    if ms is None:
        return "?"
    return f"{max(5, 5 * round(ms / 5)):.0f}ms"


def data_age(fresh: model.BoxFreshness | None) -> Text:
    """How current a row is: "live", an age, or STALE with the age."""
    if fresh is None:
        return cell("?", WARN)
    if fresh.stale:
        return cell(f"STALE {age(fresh.age)}", "bold reverse red")
    if fresh.age is not None and fresh.age <= LIVE_AGE:
        return cell("live", GOOD)
    return cell(age(fresh.age))


def balancer_freshness(state: model.ClusterState) -> model.BoxFreshness | None:
    """How current the balancer's rows are: its box's, or stale since HAProxy stopped answering."""
    lb = state.balancer
    fresh = state.freshness(lb.box) if lb is not None else None
    if lb is None or lb.problem is None or fresh is None:
        return fresh
    age = round(max(0.0, state.taken_at - lb.observed_at), 1)
    return replace(fresh, stale=True, age=age, reason=lb.problem)


def unknown_row(name: str, width: int, fresh: model.BoxFreshness | None) -> Cells:
    """A row for something cluster.yaml names but no probe has described yet."""
    return (cell(name, "bold"), *(cell("?", QUIET) for _ in range(width - 2)), data_age(fresh))


def _dim_if_stale(cells: list[Text], fresh: model.BoxFreshness | None) -> Cells:
    if fresh is not None and fresh.stale:
        for text in cells[:-1]:
            text.stylize(QUIET)
    return tuple(cells)


SERVER_COLUMNS = ("server", "admin", "state", "since", "check", "sess", "queue", "5xx", "data")


def since(seconds: int | None) -> str:
    """How long a server has been in its state, coarse so it rarely repaints."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return "<1m"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def server_row(server: Server, fresh: model.BoxFreshness | None, side: str = "") -> Cells:
    """SERVER's row; SIDE, when the balancer has several backends, names its backend's side.

    The side is a letter after the name ("web3 B"), bold for the live side.
    """
    up = server.operational.startswith("UP")
    down = server.operational.startswith("DOWN")
    mark = "✓" if up else ("✗" if down else "•")
    state_style = GOOD if up else (BAD if down else WARN)
    admin_style = "" if server.admin == "ready" else PLANNED  # set on purpose
    check = f"{server.check_status} {server.check_code or ''}".strip() or "-"
    return _dim_if_stale(
        [
            _named(server.name, side),
            cell(server.admin.upper() if server.admin != "ready" else "ready", admin_style),
            cell(f"{mark} {server.operational}", state_style, REASON_LIMIT),
            cell(since(server.last_change_s)),
            cell(
                check,
                BAD if server.check_status.startswith(("L4", "L6", "L7STS")) else "",
                REASON_LIMIT,
            ),
            cell(f"{server.sessions}/{server.max_sessions}"),
            cell(server.queue, WARN if server.queue else ""),
            cell(server.http_5xx, WARN if server.http_5xx else ""),
            data_age(fresh),
        ],
        fresh,
    )


def _named(name: str, side: str) -> Text:
    named = cell(name, "bold")
    if side:  # "B*": side B, live
        named.append(f" {side.rstrip('*')}", "bold" if side.endswith("*") else QUIET)
    return named


def sides(backends: tuple[str, ...], live: str) -> dict[str, str]:
    """Each backend's side letter (A, B, ...), "*" after the live one's; {} for one backend."""
    if len(backends) < 2:
        return {}
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {b: letters[i % 26] + ("*" if b == live else "") for i, b in enumerate(backends)}


NODE_COLUMNS = ("node", "role", "release", "sched", "mail", "health", "load", "data")

RELEASE_LIMIT = 14
"""The widest a release cell grows ("v1→v3-broken" fits); the box details have it whole."""


def health(node: model.NodeState, fresh: model.BoxFreshness | None) -> tuple[str, str]:
    """The node's health in words, and its style: "✓ 5ms", "✗ HTTP 500", "?" (never told)."""
    if node.site_alive is False:
        return "✗ site down", BAD
    sv = node.supervisor
    if sv is not None and sv.state is not None and (sv.state != "run" or sv.paused):
        return ("✗ sv: paused" if sv.state == "run" else f"✗ sv: {sv.state}"), BAD
    if node.health_status == 200:
        return f"✓ {latency(node.health_latency_ms)}", GOOD
    if node.health_status is not None:
        return f"✗ HTTP {node.health_status}", BAD
    if fresh is not None and fresh.stale and node.health_problem is None:
        return "?", QUIET  # never told: its box has not answered
    if node.health_problem:
        return f"✗ {node.health_problem}", BAD  # whole in the box details
    return "✗ no answer", BAD


def release(node: model.NodeState) -> tuple[str, str]:
    """The release the node runs, "v1→v2" while its selected one differs, and its style.

    "-" when neither is known (cluster.yaml declares no version_url or releases,
    or the site does not answer), "?→v2" when only the selected one is.
    """
    running, selected = node.release, node.selected_release
    if selected is None or selected == running:
        return running or "-", ""
    return f"{running or '?'}→{selected}", WARN  # switched, not yet (or not) running it


def node_row(node: model.NodeState, fresh: model.BoxFreshness | None) -> Cells:
    role: str = node.role or "?"
    role_style = "" if node.role == node.expected_role else WARN
    if node.role and node.role != node.expected_role:
        role += f" (was {node.expected_role})"
    said, health_style = health(node, fresh)
    mail_style = BAD if node.mail == "real" and node.role == "warm" else ""
    running, release_style = release(node)
    return _dim_if_stale(
        [
            cell(node.name, "bold"),
            cell(role, role_style, REASON_LIMIT),
            cell(running, release_style, RELEASE_LIMIT),
            cell("★ yes" if node.scheduler else ("no" if node.scheduler is False else "?")),
            cell(node.mail or "?", mail_style),
            cell(said, health_style, REASON_LIMIT),
            cell(f"{node.load[0]:.2f}" if node.load else "?"),
            data_age(fresh),
        ],
        fresh,
    )


DB_COLUMNS = ("db", "role", "tl", "lsn", "lag", "link", "archiver", "data")


def _lag(link: model.StandbyLink | None) -> str:
    return f"{size(link.lag_bytes)} {age(link.replay_lag_s or 0.0)}" if link else "-"


def _archiver(db: model.DatabaseState) -> tuple[str, str]:
    arch = db.archiver
    if arch is None or db.role != "primary":
        return "-", ""
    failing = arch.last_failed_time is not None and (
        arch.last_archived_time is None or arch.last_failed_time > arch.last_archived_time
    )
    if failing:
        return f"✗ FAILING ({arch.failed_count})", BAD
    return f"✓ {arch.archived_count} sent", ""


def _dcs(state: model.ClusterState, name: str) -> str:
    """The etcd member NAME's box asks, unless seen healthy: "etcd ✗" ("" when it is)."""
    view = state.patroni
    member = next((m for m in view.dcs if m.name == name), None) if view else None
    return "" if member is None or member.healthy else "etcd ✗"


def db_row(db: model.DatabaseState, state: model.ClusterState) -> Cells:
    fresh = state.freshness(db.box)
    if db.role is None and fresh is not None and fresh.stale:
        role, style = "?", QUIET  # its box does not answer: PostgreSQL may well run
    elif db.role is None:
        role, style = "✗ DOWN", BAD
    elif db.role == "primary":
        role, style = ("primary" if db.writable else "primary (read-only)"), "bold"
    else:
        role, style = "standby", ""
    lsn = db.current_lsn if db.role == "primary" else db.replay_lsn
    upstream = state.standby_link(db.name)
    if db.role == "primary":
        link = f"{len(db.standbys)} standby" + ("s" if len(db.standbys) != 1 else "")
    elif db.replay_paused:
        link = "PAUSED"
    else:
        link = db.receiver_status or "-"
        if upstream is not None and link == "streaming":
            link = f"streaming {upstream.sync_state}"
    link_style = WARN if db.role == "standby" and not link.startswith("streaming") else ""
    dcs = _dcs(state, db.name)
    if dcs:
        link, link_style = f"{dcs} · {link}", WARN
    archiver, archiver_style = _archiver(db)
    return _dim_if_stale(
        [
            cell(db.name, "bold"),
            cell(role, style),
            cell(db.timeline or "-"),
            cell(lsn or "-"),
            cell(_lag(upstream)),
            cell(link, link_style, REASON_LIMIT),
            cell(archiver, archiver_style, REASON_LIMIT),
            data_age(fresh),
        ],
        fresh,
    )


def primaries(state: model.ClusterState) -> str:
    """The databases panel's subtitle: every fresh primary, read-only ones said so.

    Verdicts.primaries counts only writable primaries (the split-brain
    verdict); in read-only mode the primary is read-only by design and is
    still the primary.
    """
    named = [
        d.name if d.writable else f"{d.name} (read-only)"
        for d in state.databases
        if d.role == "primary" and state.answers(d.box)
    ]
    return "primary: " + (", ".join(named) or "NONE")


ALARM_ROOM = 60
"""The widest the banner's worst alarm grows; `a` lists every alarm whole."""
ALARM_LEAST = 12
"""Below this room the worst alarm's message is left out, never cut to nonsense."""


def banner(state: model.ClusterState | None, observer: bool, width: int = 0) -> Text:
    """The site banner: cluster, environment, site mode, the worst alarm and +N more, OBSERVER.

    WIDTH: the columns it has (0: unknown); the worst alarm is shortened
    with "…" to fit. Planned states (a drain, the mode the operator set) are
    said in the calm PLANNED colour when no alarm is up.
    """
    text = Text()
    if observer:
        text.append(" OBSERVER ", "bold reverse")
        text.append(" ")
    if state is None:
        text.append("waiting for the first complete picture...", QUIET)
        return text
    text.append(one_line(state.cluster, 24), "bold")
    text.append("  ")
    text.append(f" {one_line(state.environment, 16).upper()} ", f"bold reverse {state.colour}")
    v = state.verdicts
    # Unknown while the balancer is stale: its last word may no longer hold.
    mode = (v.site_mode or "site mode unknown").upper()
    if v.site_until:
        mode += f" until {one_line(v.site_until, 24)}"
    text.append("  ")
    mode_style = "bold" if v.site_mode == "normal" else f"bold reverse {PLANNED}"
    if v.site_mode is None or any(a.code == "site-mode" for a in state.alarms):
        mode_style = "bold reverse yellow"
    text.append(mode, mode_style)
    text.append("  ")
    if state.patroni is not None and state.patroni.paused and state.patroni.problem is None:
        # Maintenance mode: Patroni will not fail over while it lasts.
        text.append("PATRONI PAUSED", f"bold reverse {PLANNED}").append("  ")
    if state.keepalive == "on":
        # The monitor may drain and restart a node by itself: everyone watching must know.
        text.append("KEEPALIVE ON", f"bold reverse {PLANNED}").append("  ")
    elif state.keepalive == "not running":
        text.append("KEEPALIVE NOT RUNNING", "bold reverse yellow").append("  ")
    if state.runbook is not None and state.runbook.open:
        text.append(upgrade_banner(state.runbook)).append("  ")
    room = width - text.cell_len if width > 0 else ALARM_ROOM + 30
    text.append_text(alarm_summary(state, room))
    return text


def alarm_summary(state: model.ClusterState, room: int) -> Text:
    """'✗ CRITICAL: <worst alarm> +N more', or '✓ no alarms' (and what is planned), in ROOM."""
    alarms = state.alarms
    if not alarms:
        text = Text("✓ no alarms", GOOD)
        if state.verdicts.planned and room - 22 >= 8:  # else the line is full already
            planned = one_line(", ".join(state.verdicts.planned), max(8, room - 22))
            text.append("  planned: " + planned, PLANNED)
        return text
    worst = next((a for a in alarms if a.severity == "critical"), alarms[0])
    critical = worst.severity == "critical"
    text = Text(f"✗ {'CRITICAL' if critical else 'warning'}: ", BAD if critical else WARN)
    more = Text(f" +{len(alarms) - 1} more", "bold") if len(alarms) > 1 else Text()
    fits = room - text.cell_len - more.cell_len
    if fits < ALARM_LEAST:  # a banner full of other news: the word alone, `a` lists them
        text = Text(text.plain.removesuffix(": "), text.style)
        more = Text(f" +{len(alarms) - 1}", "bold") if len(alarms) > 1 else Text()
        return text.append_text(more) if text.cell_len + more.cell_len <= room else text
    text.append(one_line(worst.message, min(ALARM_ROOM, fits)))
    return text.append_text(more)


def upgrade_banner(runbook: Runbook) -> Text:
    """'UPGRADE 2/3 on v2' (and HALTED, PAUSED...): calm while it runs, yellow when it stopped."""
    stopped = runbook.state in ("halted", "interrupted")
    return Text(f" {runbook.banner()} ", f"bold reverse {'yellow' if stopped else PLANNED}")
