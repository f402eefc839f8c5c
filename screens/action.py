"""The action screen: the plan, the confirmation, live progress, the outcome.

Nothing runs before the operator has read the plan and said yes (enter),
or typed the target's name where the plan asks for it. While the steps run
the screen shows each one as it goes; at the end, the outcome and the way
back. The run itself is the core's (console.actions.runner), audited there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Log, Static

from console.actions.plan import Plan
from console.actions.runner import Outcome
from console.text import one_line

Runner = Callable[[str | None, Callable[[str], None]], Awaitable[Outcome]]
Asker = Callable[[str], Awaitable[str]]  # leaves "pause" or "abort" for a running runbook


def plan_text(plan: Plan) -> Text:
    """The plan for the operator to read: steps, what each expects and proves, refusals."""
    text = Text()
    text.append(f"{plan.action} {plan.target}", style="bold")
    text.append(f": {plan.summary}\n\n")
    if plan.preconditions:
        text.append("Checked before anything is done:\n", style="bold")
    for cond in plan.preconditions:
        text.append(" ✓ " if cond.ok else " ✗ ", style="bold green" if cond.ok else "bold red")
        text.append(f"{cond.what}: {cond.detail}\n")
    if plan.preconditions:
        text.append("\n")
    for n, step in enumerate(plan.steps, 1):
        text.append(f"{n}. {step.title}", style="bold")
        if step.no_return:
            text.append("  (point of no return)", style="bold yellow")
        text.append("\n")
        text.append(f"   runs    {step.command}  ({step.where})\n")
        text.append(f"   proves  {step.proves}\n", style="dim")
        if step.undo is not None:
            text.append(f"   if a later step fails first: {step.undo.title}\n", style="dim")
    for step in plan.always:
        text.append(f"at the end, whatever happened: {step.title}\n", style="dim")
    if plan.way_back:
        text.append(f"\nway back: {plan.way_back}\n")
    for reason in plan.refusals:
        text.append(f"\nREFUSED: {reason}\n", style="bold red")
    return text


def outcome_lines(outcome: Outcome) -> list[str]:
    """The summary at the end: the outcome, what each step verified, what was put back."""
    lines = [f"{outcome.plan.action} {outcome.plan.target}: {outcome.status.upper()}"]
    if outcome.reason:
        lines.append(one_line(outcome.reason, 500))
    if outcome.audit_problem and outcome.audit_problem != outcome.reason:
        lines.append(one_line(outcome.audit_problem, 500))
    if outcome.results:
        lines.append("verified:")
    for result in outcome.results:
        mark = "✓" if result.ok else "✗"
        lines.append(one_line(f" {mark} {result.title}: {result.check}", 300))
    for result in outcome.undone:
        mark = "✓" if result.ok else "✗"
        lines.append(one_line(f" {mark} put back: {result.title}: {result.check}", 300))
    for result in outcome.cleanup:
        mark = "✓" if result.ok else "✗"
        lines.append(one_line(f" {mark} at the end: {result.title}: {result.check}", 300))
    return lines


class ActionScreen(ModalScreen[Outcome | None]):
    """One action, from its plan to its outcome."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "cancel / close"),
        Binding("enter", "go", "go ahead", show=False),
        # The plan scrolls while the name field has the focus (80x24 shows its start).
        Binding("pageup", "scroll_plan(-1)", "plan up", show=False),
        Binding("pagedown", "scroll_plan(1)", "plan down", show=False),
        Binding("up", "scroll_plan_line(-1)", "plan up", show=False),
        Binding("down", "scroll_plan_line(1)", "plan down", show=False),
        Binding("p", "ask('pause')", "pause", show=False),
        Binding("a", "ask('abort')", "abort", show=False),
    ]
    AUTO_FOCUS = "#action-plan"  # a plan with nothing to type scrolls without a tab first

    def __init__(
        self,
        plan: Plan,
        run: Runner,
        asker: Asker | None = None,
        later: Callable[[Outcome], None] | None = None,
    ) -> None:
        """ASKER: for a runbook, leaves a pause or abort request while it runs (p, a).

        A runbook runs on in the app when this screen is closed (its record on
        the upgrade screen shows where it is); LATER then gets its outcome.
        """
        super().__init__()
        self.plan = plan
        self.run = run
        self.asker = asker
        self.later = later
        self.outcome: Outcome | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="action"):
            with VerticalScroll(id="action-plan"):
                yield Static(plan_text(self.plan))
            if self.plan.confirm and not self.plan.refusals:
                yield Input(
                    placeholder=f"type {self.plan.confirm} to go ahead · pgup/pgdn: the plan",
                    id="action-name",
                )
            yield Log(id="action-progress", max_lines=200)
            yield Static(self._hint(), id="action-hint")

    def on_mount(self) -> None:
        self.query_one("#action-progress", Log).display = False
        if self.plan.confirm and not self.plan.refusals:
            self.query_one("#action-name", Input).focus()

    def _hint(self) -> str:
        if self.outcome is not None:
            return "escape closes"
        if self.running and self.asker is not None:
            return (
                "running: p pauses before the next step, a aborts (rolls back); "
                "escape leaves it running"
            )
        if self.running:
            return "running: each step is verified before the next"
        if self.plan.refusals:
            return "refused: nothing will change. escape closes"
        if self.plan.confirm:
            return f"type {self.plan.confirm} and press enter to go ahead · escape cancels"
        return "enter: go ahead · escape: cancel (nothing has changed yet)"

    def action_scroll_plan_line(self, lines: int) -> None:
        self.query_one("#action-plan", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_scroll_plan(self, pages: int) -> None:
        plan = self.query_one("#action-plan", VerticalScroll)
        if pages < 0:
            plan.scroll_page_up()
        else:
            plan.scroll_page_down()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_go()

    def action_go(self) -> None:
        if self.running or self.outcome is not None or self.plan.refusals:
            return
        typed = None
        if self.plan.confirm:
            typed = self.query_one("#action-name", Input).value.strip()
            if typed != self.plan.confirm:
                self.notify(f"Type {self.plan.confirm} exactly to go ahead.", severity="warning")
                return
        self.running = True
        progress = self.query_one("#action-progress", Log)
        progress.display = True
        self.query_one("#action-plan", VerticalScroll).focus()  # keys now reach the screen
        self.query_one("#action-hint", Static).update(self._hint())
        if self.asker is not None:  # the app's worker: it outlives this screen
            self.app.run_worker(self._execute(typed), group="runbook", exit_on_error=False)
        else:
            self.run_worker(self._execute(typed), group="action", exit_on_error=False)

    async def _execute(self, typed: str | None) -> None:
        def say(line: str) -> None:
            if self.is_attached:
                self.query_one("#action-progress", Log).write_line(one_line(line, 300))

        outcome = await self.run(typed, say)
        self.outcome, self.running = outcome, False
        if not self.is_attached:
            if self.later is not None:
                self.later(outcome)
            return
        progress = self.query_one("#action-progress", Log)
        progress.write_line("")
        for line in outcome_lines(outcome):
            progress.write_line(line)
        self.query_one("#action-hint", Static).update(self._hint())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """p and a only mean something while a runbook runs (a name may be typed otherwise)."""
        if action == "ask":
            return self.running and self.asker is not None
        return True

    def action_ask(self, what: str) -> None:
        self._leave(what)

    @work(exit_on_error=False, group="ask")
    async def _leave(self, what: str) -> None:
        assert self.asker is not None
        problem = await self.asker(what)
        if problem:
            self.notify(f"Could not ask to {what}: {problem}", severity="error")
        else:
            self.query_one("#action-progress", Log).write_line(
                f"{what} asked: taken up before the next step"
            )

    def action_close(self) -> None:
        if self.running and self.asker is not None:
            self.notify("The upgrade runs on: U shows where it is, and pauses or aborts it.")
            self.dismiss(None)
            return
        if self.running:
            self.notify("The action is running; it stops by itself at the first failed check.")
            return
        self.dismiss(self.outcome)
