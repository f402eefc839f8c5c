"""The `?` screen: every key, and which ones an observer does not have."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.actions import catalog
from screens import keys


def help_text(observer: bool) -> Text:
    """The keys, grouped; an observer's site-changing keys are marked unavailable."""
    text = Text("Keys\n\n", style="bold")
    for label, description in keys.MOVES:
        text.append(f"  {label:18} {description}\n")
    text.append("\nViews\n", style="bold")
    for key in keys.VIEWS:
        text.append(f"  {keys.shown(key.key):18} {key.description}\n")
    text.append("\nActions on the site\n", style="bold")
    if observer:
        text.append("  OBSERVER: none of these is available on this console.\n", "bold")
    style = "dim strike" if observer else ""
    for action in catalog.ACTIONS:
        if action.key is not None:
            shown = action.key.key or "^p"
            text.append(f"  {shown:3}{action.name:15} {action.help}\n", style)
    text.append(
        "  (one key, several actions: the one that fits the selection and the site;\n"
        "   ^p: from the command palette only)\n",
        "dim",
    )
    text.append("\nUpgrade screen (U)\n", style="bold")
    for key in keys.UPGRADE:
        dim = style if key.changes_site else ""
        text.append(f"  {keys.shown(key.key):18} {key.description}\n", dim)
    text.append("\nLogs screen (l)\n", style="bold")
    for label, description in keys.LOG_MOVES:
        text.append(f"  {label:18} {description}\n")
    for key in keys.LOGS:
        text.append(f"  {keys.shown(key.key):18} {key.description}\n")
    text.append("\nescape or ? closes this screen\n", style="dim")
    return text


class HelpScreen(ModalScreen[None]):
    """A list of every key; the arrows and pgup/pgdn scroll it at once (it has the focus)."""

    AUTO_FOCUS = "#help"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
    ]

    def __init__(self, observer: bool) -> None:
        super().__init__()
        self.observer = observer

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(self.observer))
