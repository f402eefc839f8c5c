"""The questions asked before an action is planned (a page's message, the time it ends).

Every answer comes with its default already typed in: enter keeps them all,
and the plan screen that follows shows what they mean before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

HINT = "enter: go on to the plan · escape: cancel"
HINTS = "enter: go on to the plan · up/down: the other question · escape: cancel"


class PromptScreen(ModalScreen[tuple[str, ...] | None]):
    """Ask QUESTIONS, each (question, default); dismiss with the answers (None on escape).

    A single question may be given as its text alone, with no default.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("down", "app.focus_next", "next question", show=False),
        Binding("up", "app.focus_previous", "previous question", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
    ]

    def __init__(self, questions: str | Sequence[tuple[str, str]], placeholder: str = "") -> None:
        super().__init__()
        self.questions = [(questions, "")] if isinstance(questions, str) else list(questions)
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="prompt"):
            for n, (question, default) in enumerate(self.questions):
                yield Static(question)
                yield Input(default, placeholder=self.placeholder, id=f"prompt-answer-{n}")
            yield Static(HINTS if len(self.questions) > 1 else HINT, id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-answer-0", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(tuple(field.value.strip() for field in self.query(Input)))

    def action_page(self, pages: int) -> None:
        body = self.query_one("#prompt", VerticalScroll)
        if pages < 0:
            body.scroll_page_up()
        else:
            body.scroll_page_down()

    def action_cancel(self) -> None:
        self.dismiss(None)
