"""The `u` screen: who did what to this cluster, newest first, from its audit log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.actions.audit import AuditLog
from console.text import one_line

INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Run:
    """One action as the audit log tells it: its first record and how it ended."""

    time: str
    who: str
    what: str
    outcome: str
    reason: str = ""


def _who(operator: Any) -> str:
    if not isinstance(operator, Mapping):
        return "?"
    user = str(operator.get("user") or "?")
    client = operator.get("ssh_client")
    return f"{user}@{client}" if client else user


def runs(records: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Each run once, newest first; a run with an intent and no outcome was interrupted."""
    first: dict[str, Mapping[str, Any]] = {}
    ended: dict[str, Mapping[str, Any]] = {}
    for n, record in enumerate(records):
        run = str(record.get("run") or f"line {n}")
        first.setdefault(run, record)
        if record.get("event") == "outcome":
            ended[run] = record
    found = []
    for run, head in first.items():
        end = ended.get(run)
        found.append(
            Run(
                str(head.get("time", "?")).replace("T", " ")[:19],
                _who(head.get("operator")),
                f"{head.get('action', '?')} {head.get('target', '')}".strip(),
                str(end.get("outcome", "?")) if end else INTERRUPTED,
                str(end.get("reason") or "") if end else "",
            )
        )
    return found[::-1]  # the log is appended in time order


def audit_text(log: AuditLog) -> Text:
    """The runs of LOG as lines of time, who, what, outcome (and why, when it says)."""
    text = Text(f"Audit log of {one_line(log.cluster, 40)}, newest first\n", style="bold")
    text.append(f"{one_line(str(log.path), 200)}\n\n", style="dim")
    found = runs(log.records())
    if not found:
        text.append("No action has been taken on this cluster from this inventory yet.\n")
    for run in found:
        style = "bold" if run.outcome in ("failed", INTERRUPTED) else ""
        text.append(f"{run.time:19} {one_line(run.who, 16):16} {one_line(run.what, 24):24} ")
        text.append(run.outcome.upper() if style else run.outcome, style)
        if run.reason:
            text.append(f" ({one_line(run.reason, 80)})", "dim")
        text.append("\n")
    text.append("\nescape, q or u closes this screen\n", style="dim")
    return text


class AuditScreen(ModalScreen[None]):
    """Every action on this cluster, read from its audit log when opened."""

    AUTO_FOCUS = "#audit"  # the arrows and pgup/pgdn scroll it at once
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("u", "app.pop_screen", "Close", show=False),
    ]

    def __init__(self, log: AuditLog) -> None:
        super().__init__()
        self.audit = log

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="audit"):
            yield Static(audit_text(self.audit), id="audit-runs")
