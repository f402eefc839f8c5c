"""The `U` screen: the rolling upgrade, node by node, and its keys (pause, resume, abort,
rollback, a new one), each through the same plan and confirmation as every action.

The screen draws each new snapshot (the app hands it over). A key asks the
core for a proposal in a worker (it reads the runbook's record over SSH),
then the action screen shows its plan and runs it with `carry_out`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from console.actions.audit import AuditLog, default_path
from console.actions.context import Context
from console.actions.runner import Outcome
from console.authority import Authority
from console.errors import ActionError
from console.inventory import Inventory
from console.monitor import Monitor
from console.runbook import store
from console.runbook.commands import carry_out, propose
from console.runbook.proposals import Proposal
from console.ssh import BoxError
from console.state.model import ClusterState
from screens import keys
from screens.action import ActionScreen, Asker, Runner
from screens.panels import KeyBar
from screens.prompt import PromptScreen
from screens.upgradeview import upgrade_text

QUESTIONS = (
    ("Release to move the web nodes to (v2...)", ""),
    ("Only these nodes, comma-separated (empty: every web node)", ""),
    ("Seconds to watch each node back in (empty: cluster.yaml's soak)", ""),
)


class UpgradeSource(Protocol):
    """What the screen reads of the app: the site, who is at the keys, where outcomes go."""

    @property
    def inv(self) -> Inventory: ...

    @property
    def state(self) -> ClusterState | None: ...

    @property
    def monitor(self) -> Monitor | None: ...

    @property
    def authority(self) -> Authority: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    def acted(self, outcome: Outcome | None) -> None: ...


def hints(observer: bool) -> list[tuple[str, str]]:
    """The screen's key bar: back, then (for an operator) the upgrade's keys."""
    found = [("esc", "back")]
    if not observer:
        found += [(keys.shown(k.key), k.label) for k in keys.UPGRADE if k.changes_site]
    return found


class UpgradeScreen(Screen[None]):
    """The last upgrade as it stands, redrawn from every snapshot."""

    AUTO_FOCUS = "#upgrade"  # the arrows and pgup/pgdn scroll it at once
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q" if k.key == "escape" else k.key, k.action, k.label, show=False)
        for k in keys.UPGRADE
    ]

    class Proposed(Message):
        """The core's proposal for a key, ready to be shown as a plan."""

        def __init__(self, proposal: Proposal) -> None:
            super().__init__()
            self.proposal = proposal

    def __init__(self, source: UpgradeSource) -> None:
        super().__init__()
        self.source = source
        self._shown: Text | None = None
        self.asking = False  # a proposal is being built: one at a time

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="upgrade"):
            yield Static(self._text(), id="upgrade-text")
        yield KeyBar(hints(self.source.authority.observer))

    def _text(self) -> Text:
        text = upgrade_text(
            self.source.state,
            self.source.inv,
            self.source.clock(),
            self.source.authority.observer,
        )
        self._shown = text
        return text

    def show(self, state: ClusterState) -> None:
        """Draw STATE (the app calls it with each snapshot); nothing is redrawn unchanged."""
        shown = self._shown
        text = upgrade_text(state, self.source.inv, self.source.clock(), self.observer)
        if shown is None or text != shown:
            self._shown = text
            self.query_one("#upgrade-text", Static).update(text)

    @property
    def observer(self) -> bool:
        return self.source.authority.observer

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # An observer has no key that changes the site: inactive, as on the main screen.
        if action in keys.UPGRADE_ACTIONS:
            return not self.observer
        return True

    def action_back(self) -> None:
        self.dismiss(None)

    def action_runbook(self, verb: str) -> None:
        """Plan VERB (pause, resume, abort, rollback, finish) as things stand; show the plan."""
        self._propose(verb)

    def action_new_upgrade(self) -> None:
        """Ask the release (and, if wanted, the nodes and the soak), then plan the upgrade."""

        def answered(answers: tuple[str, ...] | None) -> None:
            if answers is None:
                return
            release, nodes, soak = answers
            try:
                seconds = float(soak) if soak else None
            except ValueError:
                self.notify(f"The soak {soak!r} is not a number of seconds.", severity="error")
                return
            names = [n.strip() for n in nodes.split(",") if n.strip()] or None
            self._propose("rolling", release, names, seconds)

        self.app.push_screen(PromptScreen(list(QUESTIONS)), answered)

    def _propose(
        self,
        verb: str,
        release: str | None = None,
        nodes: list[str] | None = None,
        soak: float | None = None,
    ) -> None:
        if self.source.monitor is None or self.source.state is None:
            self.notify("Actions need the live site: no connection yet.", severity="warning")
            return
        if self.asking:
            self.notify("Still reading the upgrade's record for the last key.")
            return
        self.asking = True
        self._ask(verb, release, nodes, soak)

    @work(exit_on_error=False, group="upgrade-plan")
    async def _ask(
        self, verb: str, release: str | None, nodes: list[str] | None, soak: float | None
    ) -> None:
        """The core's proposal for VERB, read from the site (SSH): posted, or said why not."""
        monitor, state = self.source.monitor, self.source.state
        assert monitor is not None and state is not None
        ctx = Context(monitor, clock=self.source.clock)
        try:
            proposal = await propose(ctx, state, verb, release, nodes, soak)
        except ActionError as exc:
            self.notify(f"upgrade {verb}: {exc}", severity="error")
            return
        except BoxError as exc:
            self.notify(f"upgrade {verb}: {exc.reason}", severity="error")
            return
        finally:
            self.asking = False
            await ctx.close()
        self.post_message(self.Proposed(proposal))

    def on_upgrade_screen_proposed(self, message: Proposed) -> None:
        plan = message.proposal.plan
        runner = self._runner(message.proposal)
        asker = self._asker() if message.proposal.runbook is not None else None
        screen = ActionScreen(plan, runner, asker, later=self.source.acted)
        self.app.push_screen(screen, self.source.acted)

    def _asker(self) -> Asker:
        """Leaves a pause or abort request for the runbook this console runs."""
        source = self.source

        async def ask(what: str) -> str:
            assert source.monitor is not None
            return await store.ask(Context(source.monitor, clock=source.clock), what)

        return ask

    def _runner(self, proposal: Proposal) -> Runner:
        source = self.source

        async def run(typed: str | None, say: Callable[[str], None]) -> Outcome:
            assert source.monitor is not None
            ctx = Context(source.monitor, say=say, clock=source.clock)
            audit = AuditLog(default_path(source.inv), source.inv.name)
            try:
                return await carry_out(proposal, ctx, source.authority, audit, typed)
            finally:
                await ctx.close()

        return run
