"""The hotspare console: live panels of the site, keys for the operator's actions.

The app does no I/O of its own: a worker follows the core's Feed and posts
each snapshot as a message; handlers own the widgets.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from console.actions import catalog
from console.actions.audit import AuditLog, default_path
from console.actions.context import Context
from console.actions.plan import Plan
from console.actions.request import Request
from console.actions.runner import Outcome, execute
from console.authority import Authority
from console.errors import ActionError
from console.events import Event, Level, changes
from console.feed import SnapshotSource
from console.inventory import Inventory
from console.monitor import Monitor
from console.ssh import BoxLink
from console.state.model import ClusterState
from console.trends import Trends
from screens import keys, palette, switch
from screens.action import ActionScreen, Runner
from screens.alarms import AlarmsScreen
from screens.audit import AuditScreen
from screens.detail import BoxScreen, box_of
from screens.help import HelpScreen
from screens.logs import LogsScreen
from screens.panels import (
    BalancerPanel,
    Banner,
    KeyBar,
    NodesPanel,
    Panel,
    ReplicasPanel,
    Timeline,
)
from screens.prompt import PromptScreen
from screens.selection import selected
from screens.theme import HIGH_CONTRAST
from screens.upgrade import UpgradeScreen

MIN_SIZE = (80, 24)
QUIT_AGAIN = 5.0  # seconds in which a second q quits while this console runs an upgrade
WIDE = 140
MAIN_SCREEN_ONLY = frozenset({"filter", "close_filter", "details"})


def _stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _bindings() -> list[BindingType]:
    found: list[BindingType] = [
        Binding(k.key, k.action, k.label, show=False, tooltip=k.description)
        for k in keys.ACTIONS + keys.VIEWS
        if k.key != "enter"
    ]
    found.append(Binding("escape", "close_filter", "Close filter", show=False))
    return found


class HotspareApp(App[int]):
    """The operator console."""

    CSS_PATH = Path(__file__).with_name("hotspare.tcss")
    TITLE = "hotspare"
    AUTO_FOCUS = "#balancer"
    BINDINGS: ClassVar[list[BindingType]] = _bindings()

    class StateUpdated(Message):
        """A new snapshot of the site arrived from the feed."""

        def __init__(self, state: ClusterState) -> None:
            super().__init__()
            self.state = state

    def __init__(
        self,
        inv: Inventory,
        feed: SnapshotSource,
        authority: Authority,
        high_contrast: bool = False,
        screenshot_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        links: Mapping[str, BoxLink] | None = None,
        monitor: Monitor | None = None,
        others: Sequence[Inventory] = (),
    ) -> None:
        super().__init__()
        self.others = tuple(others)  # inventories the palette can switch to
        self.switch_to: Inventory | None = None  # set when the operator switches
        self.clock = clock
        self.inv = inv
        self.feed = feed
        self.links = links
        self.monitor = monitor
        self.authority = authority
        self.state: ClusterState | None = None
        self.trends = Trends()  # fed every snapshot in order; a replay resets and refeeds it
        self.events: deque[Event] = deque(maxlen=1000)
        self.screenshot_dir = screenshot_dir or Path.cwd()
        self._quit_asked = -QUIT_AGAIN  # when q was last pressed while an upgrade ran here
        self.register_theme(HIGH_CONTRAST)
        if high_contrast:
            self.theme = HIGH_CONTRAST.name

    # Layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        with Container(id="panels"):
            with Container(id="tables"):
                yield BalancerPanel()
                yield NodesPanel()
                yield ReplicasPanel()
            yield Timeline(self.stamp)
        yield Input(placeholder="filter by name (escape closes)", id="filter", disabled=True)
        yield Static(id="too-small")
        yield KeyBar(self._hints(), id="keybar")

    def stamp(self, at: float) -> str:
        """An event's time as the timeline writes it (local; a replay writes UTC)."""
        return _stamp(at)

    def _hints(self) -> list[tuple[str, str]]:
        """The main key bar: help, quit, logs, palette, then the focused panel's keys."""
        focused = self.screen_stack[0].focused if self.screen_stack else None
        panel = focused.id if isinstance(focused, Panel) else None
        return keys.bar(panel or "balancer", self.authority.observer)

    def on_descendant_focus(self) -> None:
        if self.screen_stack and self.screen is self.screen_stack[0]:
            self.query_one("#keybar", KeyBar).show(self._hints())

    def on_mount(self) -> None:
        # One help screen for the app's life: a new one per `?` kept memory growing.
        self.install_screen(HelpScreen(self.authority.observer), name="help")
        self.query_one(Banner).show(None, self.authority.observer)
        boxes = ", ".join(box.name for box in self.inv.boxes)
        self.record([Event(self.clock(), "console", f"watching {boxes}")])
        self._fit(self.size.width, self.size.height)
        self.follow()

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.screen.set_class(small, "-too-small")
        self.screen.set_class(width >= WIDE, "-wide")
        if small:
            self.query_one("#too-small", Static).update(
                f"hotspare needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]}; "
                f"this terminal is {width}x{height}."
            )

    # State ------------------------------------------------------------------

    @work(exit_on_error=False, group="feed")
    async def follow(self) -> None:
        """Post every snapshot the core's feed produces."""
        async for state in self.feed.updates():
            self.post_message(self.StateUpdated(state))

    def on_hotspare_app_state_updated(self, message: StateUpdated) -> None:
        if not self.query(Banner):
            return  # a snapshot still queued as the console closes: its panels are gone
        if self.state is None:
            # Everything made to start the console lives as long as it: out of
            # the collector's reach, its full collections stay short (measured
            # ~100 ms each under a busy logs screen without this).
            gc.freeze()
        events = changes(self.state, message.state)
        self.state = message.state
        self.trends.add(self.state)
        self._show(self.state)
        self.record(events)

    def _show(self, state: ClusterState) -> None:
        self.query_one(Banner).show(state, self.authority.observer)
        self.query_one(BalancerPanel).update_from(state, self.inv, self.trends)
        self.query_one(NodesPanel).update_from(state, self.inv, self.trends)
        self.query_one(ReplicasPanel).update_from(state, self.inv, self.trends)
        for screen in self.screen_stack:
            if isinstance(screen, UpgradeScreen):
                screen.show(state)

    def record(self, events: Iterable[Event]) -> None:
        """Add EVENTS to the timeline and the history detail screens show."""
        batch = list(events)
        self.events.extend(batch)
        self.query_one(Timeline).add(batch)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The one place worker errors land: say so, keep the app running.
        if event.state == WorkerState.ERROR:
            reason = f"{type(event.worker.error).__name__}: {event.worker.error}"
            self.notify(f"monitoring stopped: {reason}", severity="error", timeout=30)
            self.record(
                [Event(self.clock(), "console", f"monitoring stopped: {reason}", "critical")]
            )

    # Keys -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Observers get no mutation at all: the binding is inactive and hidden.
        # Site actions act on the main screen's selection: only from there.
        if action in keys.MUTATIONS:
            return not self.authority.observer and len(self.screen_stack) == 1
        # The main screen's own keys: typed ahead of a prompt (before its field has the
        # focus) they must not open the filter or a box's details behind it.
        if action in MAIN_SCREEN_ONLY:
            return len(self.screen_stack) == 1
        return True

    def action_act(self, key: str) -> None:
        """The site action KEY means now, for the selection: its plan, after any question."""
        self.act_on(catalog.keyed()[key])

    def act_on(self, actions: tuple[catalog.Action, ...]) -> None:
        """The one of ACTIONS that fits now, for the selection: its plan, after any question."""
        if self.monitor is None or self.state is None:
            self.notify("Actions need the live site: no connection yet.", severity="warning")
            return
        kind = actions[0].target.kind
        target = selected(self.focused, self.inv, kind)
        if kind != "site" and target is None:
            what = "node" if kind == "node" else "database (tab to the databases panel)"
            self.notify(f"Select a {what} first (tab to a panel, then up/down).")
            return
        action = catalog.pick(actions, self.inv, self.state, target)
        assert action.key is not None
        given = dict(action.key.preset)
        ask = action.key.ask
        if not ask:
            self._plan(catalog.request(action, self.inv, target, given))
            return

        def answered(answers: tuple[str, ...] | None) -> None:
            if answers is not None:
                given.update((q.option, a or None) for q, a in zip(ask, answers, strict=True))
                self._plan(catalog.request(action, self.inv, target, given))

        self.push_screen(PromptScreen([(q.question, q.default) for q in ask]), answered)

    def _plan(self, request: Request) -> None:
        """Build the plan from the latest snapshot and show it (or refuse an observer's)."""
        assert self.state is not None
        try:
            plan = request.plan(self.state)
        except ActionError as exc:
            self.notify(str(exc), severity="error")
            return
        if self.authority.observer:  # no key reaches here for an observer; the core refuses anyway
            self._run_refused(request, plan)
            return
        self.push_screen(ActionScreen(plan, self._plan_runner(request, plan)), self.acted)

    def _plan_runner(self, request: Request, plan: Plan) -> Runner:
        async def run(typed: str | None, say: Callable[[str], None]) -> Outcome:
            assert self.monitor is not None
            ctx = Context(self.monitor, say=say, clock=self.clock)
            audit = AuditLog(default_path(self.inv), self.inv.name)
            try:
                return await execute(request, plan, ctx, self.authority, audit, typed)
            finally:
                await ctx.close()

        return run

    @work(exit_on_error=False, group="action")
    async def _run_refused(self, request: Request, plan: Plan) -> None:
        outcome = await self._plan_runner(request, plan)(None, lambda line: None)
        self.acted(outcome)

    def acted(self, outcome: Outcome | None) -> None:
        """Record OUTCOME of an action in the events and say it (None: cancelled)."""
        if outcome is None:
            return
        level: Level = "info" if outcome.ok else "warning"
        if outcome.status == "failed":
            level = "critical"
        text = f"{outcome.plan.action}: {outcome.status.upper()}"
        if outcome.reason:
            text += f" ({outcome.reason})"
        self.record([Event(self.clock(), outcome.plan.target, text, level)])
        self.notify(text, severity="information" if outcome.ok else "error")

    async def action_quit(self) -> None:
        """Quit; while this console runs an upgrade, only when asked twice.

        Quitting then leaves the upgrade interrupted at its step (`hotspare
        upgrade resume` finishes it): say so, and let the operator pause it first.
        """
        running = [w for w in self.workers if w.group == "runbook" and w.is_running]
        if running and time.monotonic() - self._quit_asked > QUIT_AGAIN:
            self._quit_asked = time.monotonic()
            self.notify(
                "This console runs an upgrade: quitting leaves it interrupted at its step. "
                "Pause it first (U, then p), or press q again to quit anyway.",
                severity="warning",
            )
            return
        self.exit()

    def action_logs(self) -> None:
        if self.links is None or not self.inv.web_nodes:
            self.notify("No logs to show: no web nodes, or no live connection.", severity="warning")
            return
        self.push_screen(LogsScreen(self.links, self.inv.web_nodes, self.clock))

    def action_details(self) -> None:
        panel = self.focused if isinstance(self.focused, Panel) else None
        if panel is None or panel.selected is None:
            self.notify("Select a row in a panel first (tab, then up/down).")
            return
        box = box_of(self.inv, panel.id or "", panel.selected)
        if box is not None:
            self.push_screen(BoxScreen(box, self))

    def on_data_table_row_selected(self, event: Panel.RowSelected) -> None:
        self.action_details()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.disabled = False
        field.add_class("-shown")
        field.focus()

    def action_close_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_class("-shown"):
            field.value = ""
            field.remove_class("-shown")
            field.disabled = True
            self.query_one(BalancerPanel).focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        """Only the main screen's own filter field filters the tables: text typed in any
        other screen's field (a search, a typed name, a time) never reaches them."""
        event.stop()
        for panel in self.query(Panel):
            panel.set_filter(event.value)
        if self.state is not None:
            self._show(self.state)

    def action_save_svg(self) -> None:
        path = self.save_screenshot(path=str(self.screenshot_dir))
        self.notify(f"Screen saved as {path}")

    def action_alarms(self) -> None:
        """List every current alarm whole (the banner names only the worst)."""
        state = self.state
        self.push_screen(
            AlarmsScreen(state.alarms, state.verdicts.planned) if state else AlarmsScreen(())
        )

    def action_help(self) -> None:
        self.push_screen("help")

    def action_audit(self) -> None:
        self.push_screen(AuditScreen(AuditLog(default_path(self.inv), self.inv.name)))

    def action_upgrade(self) -> None:
        if not isinstance(self.screen, UpgradeScreen):
            self.push_screen(UpgradeScreen(self))

    def action_high_contrast(self) -> None:
        dark = "textual-dark"
        self.theme = dark if self.theme == HIGH_CONTRAST.name else HIGH_CONTRAST.name

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from palette.commands(self, screen)

    async def switch_cluster(self, inv: Inventory) -> None:
        """Stop watching this cluster, then exit for screens/main.py to open INV."""
        self.switch_to = inv
        await switch.stop_feed(self, self.monitor)
        self.exit(0)
