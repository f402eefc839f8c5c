"""The `a` screen: every current alarm, whole, where the banner has room for only the worst."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.state.model import Alarm
from console.text import clean

_SEVERITY = {"critical": ("CRITICAL", "bold reverse red"), "warning": ("warning", "bold yellow")}


def alarms_text(alarms: Sequence[Alarm], planned: Sequence[str] = ()) -> Text:
    """Each alarm as severity, code, subject and its whole message (wrapped by the screen)."""
    text = Text(f"Alarms now: {len(alarms)}\n\n", "bold")
    if not alarms:
        text.append("✓ no alarms\n", "green")
    for alarm in alarms:
        label, style = _SEVERITY.get(alarm.severity, (alarm.severity, "bold"))
        text.append(f" {label} ", style)
        text.append(f" {clean(alarm.code)}", "bold")
        text.append(f"  {clean(', '.join(alarm.subject)) or 'site'}\n", "dim")
        text.append(f"  {clean(alarm.message)}\n\n")
    if planned:
        text.append("Planned (set on purpose, no alarm while the plan holds)\n", "bold cyan")
        for said in planned:
            text.append(f"  {clean(said)}\n", "cyan")
    text.append("\narrows and pgup/pgdn scroll; escape or a closes this screen\n", "dim")
    return text


class AlarmsScreen(ModalScreen[None]):
    """Every alarm of the snapshot it was opened on; the list has the focus, so it scrolls."""

    AUTO_FOCUS = "#alarms"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("a", "app.pop_screen", "Close", show=False),
    ]

    def __init__(self, alarms: Sequence[Alarm], planned: Sequence[str] = ()) -> None:
        super().__init__()
        self.alarms = tuple(alarms)
        self.planned = tuple(planned)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="alarms"):
            yield Static(alarms_text(self.alarms, self.planned), id="alarms-text")
