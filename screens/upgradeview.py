"""The upgrade screen's text: the runbook, an A/B rollover's two sides, each web node's release
and stage, the stages' steps.

Pure: drawn from a snapshot and the inventory, so tests build both directly.
Every text from the runbook's record or a box is cleaned and cut with "…"
(`hotspare upgrade status` prints every step whole).
"""

from __future__ import annotations

import time

from rich.text import Text

from console.inventory import Inventory
from console.state.balancer import Server
from console.state.model import ClusterState, NodeState
from console.state.runbook import Runbook, Stage
from console.text import one_line
from screens import rows
from screens.rows import BAD, GOOD, PLANNED, QUIET, WARN
from screens.sides import AB_KINDS, sides_text

COLUMNS = ("node", "release", "stage", "last step", "health", "sess", "5xx")
WIDTHS = (6, 13, 9, 23, 10, 5, 4)
"""Column widths: with a space between each, 76 columns, inside an 80-column screen."""
WIDTH = sum(WIDTHS) + len(WIDTHS) - 1
STATUS = {
    "done": ("done", GOOD),
    "running": ("running", f"bold {PLANNED}"),
    "failed": ("FAILED", BAD),
    "pending": ("pending", QUIET),
}
MARKS = {"done": "✓", "running": "▸", "failed": "✗", "pending": "•"}


def started(at: float, now: float) -> str:
    """AT as a clock time, with the date when it is not today; no ticking age."""
    moment = time.localtime(at)
    today = moment[:3] == time.localtime(now)[:3]
    return time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", moment)


def stage_of(runbook: Runbook | None, node: str) -> tuple[int, Stage] | None:
    """The stage concerning NODE and its number from 1: running or failed, else next, else last."""
    if runbook is None:
        return None
    mine = [(n, s) for n, s in enumerate(runbook.stages, 1) if s.node == node]
    for wanted in (("running", "failed"), ("pending",), ("done",)):
        found = [(n, s) for n, s in mine if s.status in wanted]
        if found:
            return found[-1] if wanted == ("done",) else found[0]
    return None


def _server(state: ClusterState, inv: Inventory, node: str) -> Server | None:
    wanted = next((n.server for n in inv.web_nodes if n.name == node), None)
    if state.balancer is None or wanted is None:
        return None
    return next((s for s in state.balancer.servers if s.name == wanted), None)


def node_row(state: ClusterState, inv: Inventory, name: str) -> rows.Cells:
    """NAME's row: release, its stage and that stage's last step, health, sessions, 5xx."""
    node: NodeState | None = next((n for n in state.nodes if n.name == name), None)
    box = next((n.box for n in inv.web_nodes if n.name == name), name)
    fresh = state.freshness(box)
    release, release_style = rows.release(node) if node else ("?", QUIET)
    health, health_style = rows.health(node, fresh) if node else ("?", QUIET)
    found = stage_of(state.runbook, name)
    stage, stage_style, step, step_style = "-", QUIET, "-", QUIET
    if found is not None:
        number, current = found
        word, stage_style = STATUS[current.status]
        stage = f"{number} {word}"
        if current.marks:
            last = current.marks[-1]
            step, step_style = f"{'✓' if last.ok else '✗'} {last.title}", ("" if last.ok else BAD)
    server = _server(state, inv, name)
    sessions = str(server.sessions) if server else "?"
    errors = server.http_5xx if server else None
    said = (
        (name, "bold"),
        (release, release_style),
        (stage, stage_style),
        (step, step_style),
        (health, health_style),
        (sessions, ""),
        ("?" if errors is None else str(errors), WARN if errors else ""),
    )
    fitted = zip(said, WIDTHS, strict=True)
    return tuple(rows.cell(text, style, width) for (text, style), width in fitted)


def node_rows(state: ClusterState, inv: Inventory) -> list[rows.Cells]:
    """One row per web node cluster.yaml names, in its order."""
    return [node_row(state, inv, n.name) for n in inv.web_nodes]


def _line(cells: rows.Cells) -> Text:
    line = Text()
    for n, (text, width) in enumerate(zip(cells, WIDTHS, strict=True)):
        line.append_text(text)
        if n < len(WIDTHS) - 1:
            line.append(" " * (width - text.cell_len + 1))
    return line.append("\n")


def head(runbook: Runbook | None, now: float, observer: bool) -> Text:
    """What the runbook is, how it stands, who started it and when, the ways on."""
    if runbook is None:
        text = Text("No upgrade has been run on this cluster.\n", "bold")
        return text.append("" if observer else "n starts a rolling upgrade.\n")
    text = Text().append_text(rows.upgrade_banner(runbook)).append("  ")
    text.append(one_line(runbook.describe(), 600)).append("\n")
    text.append(
        f"started {started(runbook.since, now)} by {one_line(runbook.who, 40)}: "
        f"{one_line(runbook.command, 200)}\n",
        QUIET,
    )
    if runbook.request:
        text.append(f"asked to {one_line(runbook.request, 20)}: taken up before its next step\n")
    if runbook.state in ("halted", "paused", "interrupted") and not observer:
        back = ", b rolls back" if runbook.kind != "rollback" else ""
        text.append(f"ways on: r resumes{back}", "bold")
        text.append(" (each shows its plan first)\n")
    elif runbook.state == "running" and not observer:
        text.append("p pauses before its next step, a aborts (then rolls back)\n")
    return text


def stage_lines(runbook: Runbook) -> Text:
    """Every stage with its status; the steps of the running or failed one (done ones counted)."""
    text = Text("stages\n", "bold underline")
    for n, stage in enumerate(runbook.stages, 1):
        word, style = STATUS[stage.status]
        text.append(f"{MARKS[stage.status]} {n}. ", style)
        text.append(one_line(stage.title, 50))
        said = word if stage.status != "done" else f"done, {len(stage.marks)} steps"
        if stage.status in ("running", "failed") and stage.steps:
            said += f" at step {min(stage.done_steps + 1, stage.steps)} of {stage.steps}"
        text.append(f"  {said}\n", style)
        if stage.status == "done":
            continue
        for mark in stage.marks:
            text.append("     ✓ " if mark.ok else "     ✗ ", GOOD if mark.ok else BAD)
            text.append(one_line(f"{mark.title}: {mark.check}", WIDTH - 7) + "\n")
    return text


def upgrade_text(state: ClusterState | None, inv: Inventory, now: float, observer: bool) -> Text:
    """The whole screen's text from STATE (None: no snapshot yet)."""
    if state is None:
        return Text("waiting for the first complete picture...\n", QUIET)
    text = head(state.runbook, now, observer).append("\n")
    if state.runbook is not None and state.runbook.kind in AB_KINDS:
        text.append_text(sides_text(inv, state, state.runbook, now)).append("\n")
    header = tuple(Text(c, "bold") for c in COLUMNS)
    text.append_text(_line(header))
    for cells in node_rows(state, inv):
        text.append_text(_line(cells))
    if state.runbook is not None and state.runbook.stages:
        text.append("\n").append_text(stage_lines(state.runbook))
    return text
