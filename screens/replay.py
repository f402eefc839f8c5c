"""The replay console: the live console's panels over a recording, at a time cursor.

`ReplayApp` is the operator console fed from console/history/replay.py
instead of the monitor: every panel shows the snapshot in force at the
cursor, the timeline the events up to it, and a bar above the banner says
REPLAY, the cursor's time (UTC) and which moment of how many. It is an
observer and connects to nothing: it has no monitor, no links, and the
site's keys are inactive. docs/replay.md lists the keys.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from console.authority import Authority
from console.errors import HotspareError
from console.events import Event
from console.history.lines import AlarmKey
from console.history.reading import AlarmChange, clock
from console.history.replay import Replay, moment_of
from console.inventory import Inventory
from console.state.model import ClusterState
from console.units import age
from screens.app import HotspareApp
from screens.help import HelpScreen, help_text
from screens.keys import Key, shown
from screens.panels import Timeline
from screens.prompt import PromptScreen

AUTHORITY = Authority(True, "a replay of recorded history: nothing is live, nothing can change")
TICK = 0.25  # seconds between two pictures while playing
SPEEDS = (1, 10, 60, 600)  # recorded seconds played per second
READ_EVERY = 0.05  # seconds between two chunks of events read while idle
TIME_QUESTION = (
    "Go to a time: 14:30 (the last 14:30 recorded), 10m (before the recording ends), "
    "+5m / -5m (from the cursor), 2026-12-07T14:30 UTC"
)

KEYS: tuple[Key, ...] = (
    Key("left", "step(-1)", "moment", "One moment back"),
    Key("right", "step(1)", "moment", "One moment on"),
    Key("left_square_bracket", "shift(-60)", "minute", "A minute back"),
    Key("right_square_bracket", "shift(60)", "minute", "A minute on"),
    Key("N", "alarm(False)", "alarm", "Back to the last change of the alarm set"),
    Key("n", "alarm(True)", "alarm", "On to the next change of the alarm set"),
    Key("t", "ask_time", "time", "Go to a time (14:30, 10m, -5m, a date)"),
    Key("g", "end(False)", "first", "The first moment recorded"),
    Key("G", "end(True)", "last", "The last moment recorded"),
    Key("space", "play", "play", "Play from the cursor (real time), or pause"),
    Key("plus", "speed(1)", "faster", "Play faster: x1, x10, x60, x600"),
    Key("minus", "speed(-1)", "slower", "Play slower"),
)
MOVES = frozenset({"step", "shift", "alarm", "ask_time", "end", "play", "speed"})
HINTS = (
    ("?", "help"),
    ("q", "quit"),
    ("←/→", "moment"),
    ("[/]", "minute"),
    ("n/N", "alarm"),
    ("t", "time"),
    ("spc", "play"),
)


def replay_help() -> Text:
    """The replay's keys first, then the console's (its site actions struck out)."""
    text = Text("Replay: the site as it was recorded\n\n", style="bold")
    for key in KEYS:
        text.append(f"  {_shown(key.key):18} {key.description}\n")
    text.append(
        "  The bar says REPLAY, the cursor's time (UTC) and the moment\n"
        "  shown; the events are those up to the cursor, times in UTC.\n\n",
        "dim",
    )
    return text.append_text(help_text(observer=True))


def _shown(key: str) -> str:
    return {
        "left": "←",
        "right": "→",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "plus": "+",
        "minus": "-",
    }.get(key, shown(key))


def bar_text(replay: Replay, speed: int | None) -> Text:
    """REPLAY, the cursor's time in UTC, the moment of how many; playing, and the data's age."""
    text = Text(" REPLAY ", "bold reverse")
    text.append(f" {_utc(replay.time)} UTC", "bold")
    text.append(f" (moment {replay.position + 1} of {len(replay)})")
    if speed is not None:
        text.append(f"  ▶ x{speed}", "bold")
    if replay.age > 2 * replay.interval:
        text.append(f"  data {age(replay.age)} old (none recorded since)", "bold")
    return text


def _utc(at: float) -> str:
    return clock(at).removesuffix(" UTC")


class ReplayHelpScreen(HelpScreen):
    """The `?` screen of a replay: its keys, then the console's."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(replay_help())


class _Nothing:
    """The feed of a replay: no snapshot ever comes from outside (the cursor brings them)."""

    async def updates(self) -> AsyncGenerator[ClusterState, None]:
        return
        yield  # pragma: no cover


class ReplayApp(HotspareApp):
    """The console over a recording, at REPLAY's cursor; observer only, connected to nothing."""

    CSS = """
    #replay-bar { height: 1; padding: 0 1; background: ansi_magenta; color: ansi_bright_white; }
    Screen.-too-small #replay-bar { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(k.key, k.action, k.label, show=False, priority=k.key in ("left", "right"))
        for k in KEYS
    ]

    def __init__(self, inv: Inventory, replay: Replay, high_contrast: bool = False) -> None:
        super().__init__(
            inv, _Nothing(), AUTHORITY, high_contrast=high_contrast, clock=lambda: replay.time
        )
        self.replay = replay
        self.speed_at = 0  # index in SPEEDS
        self._player: Timer | None = None
        self._reader: Timer | None = None
        self._shown_events: tuple[Event, ...] | None = None  # None: the live app's lines
        self._complete = True
        self._fed = -(2**31)  # the moment the trends were fed up to

    def compose(self) -> ComposeResult:
        yield Static(id="replay-bar")
        yield from super().compose()

    def on_mount(self) -> None:
        # HotspareApp's on_mount runs after this one (Textual calls both): draw after it.
        self.install_screen(ReplayHelpScreen(observer=True), name="replay-help")
        self.call_later(self.moved)
        self._reader = self.set_interval(READ_EVERY, self._read_more)
        if self.replay.recording.notes:
            count = len(self.replay.recording.notes)
            self.notify(
                f"{count} damaged or torn lines were skipped: `hotspare history info` lists them",
                severity="warning",
            )

    def stamp(self, at: float) -> str:
        """The timeline's time of day in UTC, as the bar's."""
        return _utc(at)[-8:]

    def _hints(self) -> list[tuple[str, str]]:
        return list(HINTS)

    @property
    def playing(self) -> bool:
        """Whether the cursor moves on by itself."""
        return self._player is not None

    # Drawing -----------------------------------------------------------------

    def moved(self) -> None:
        """Show the site at the cursor: the bar, the banner, the panels and the timeline."""
        try:
            state = self.replay.state()
        except HotspareError as exc:
            self.notify(str(exc), severity="error")
            return
        self.state = state
        self._feed_trends()
        self._show(state)
        self._bar()
        self._timeline(budget=0)

    def _feed_trends(self) -> None:
        """The trends as a console watching then drew them: the moments up to the cursor.

        A few moments on (a step, playing) adds those; any other move starts them again.
        """
        on = self.replay.position - self._fed
        wanted = self.trends.points + 1  # rates need the moment before the first point
        if not 0 <= on <= wanted:
            self.trends.reset()
            on = wanted
        for state in self.replay.recent(on):
            self.trends.add(state)
        self._fed = self.replay.position

    def _bar(self) -> None:
        speed = SPEEDS[self.speed_at] if self.playing else None
        self.query_one("#replay-bar", Static).update(bar_text(self.replay, speed))

    def _timeline(self, budget: int | None) -> None:
        found = self.replay.timeline(budget=budget)
        events = found.events
        if not found.complete and found.read_from is not None:
            note = Event(found.read_from, "replay", "reading the events before this...")
            events = (note, *events)
        self._complete = found.complete
        self.events = deque(events, maxlen=1000)
        timeline = self.query_one(Timeline)
        old = self._shown_events
        if old is not None and events[: len(old)] == old:
            timeline.add(events[len(old) :])
        else:
            timeline.reset(events)
        self._shown_events = events

    def _read_more(self) -> None:
        """While idle, read the events of one more chunk of moments (nearest the cursor first)."""
        if not self.replay.read_ahead() and self._reader is not None:
            self._reader.stop()
            self._reader = None
        if not self._complete:
            self._timeline(budget=0)

    # Keys --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The cursor moves from the main screen only, and never while a field is typed in.
        if action in MOVES:
            return len(self.screen_stack) == 1 and not isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def action_step(self, moments: int) -> None:
        self.replay.step(moments)
        self.moved()

    def action_shift(self, seconds: float) -> None:
        self.replay.shift(seconds)
        self.moved()

    def action_end(self, last: bool) -> None:
        if last:
            self.replay.last()
        else:
            self.replay.first()
        self.moved()

    def action_alarm(self, forward: bool) -> None:
        change = self.replay.next_alarm() if forward else self.replay.previous_alarm()
        if change is None:
            where = "after" if forward else "before"
            self.notify(f"No change of the alarm set {where} this moment.")
            return
        self.moved()
        self.notify(alarm_said(change))

    def action_ask_time(self) -> None:
        def answered(answers: tuple[str, ...] | None) -> None:
            if answers and answers[0]:
                self.go(answers[0])

        self.push_screen(PromptScreen(TIME_QUESTION, placeholder="14:30"), answered)

    def go(self, text: str) -> None:
        """Move the cursor to the time TEXT names, or say why it cannot."""
        try:
            self.replay.go(moment_of(text, self.replay))
        except HotspareError as exc:
            self.notify(str(exc), severity="error")
            return
        self.moved()

    def action_play(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player = None
        else:
            if self.replay.position == len(self.replay) - 1:
                self.replay.first()  # at the end: play from the start
            self._player = self.set_interval(TICK, self._play)
        self.moved()

    def action_speed(self, change: int) -> None:
        self.speed_at = min(max(self.speed_at + change, 0), len(SPEEDS) - 1)
        self.notify(f"Playing at x{SPEEDS[self.speed_at]}", timeout=2)
        self._bar()

    def _play(self) -> None:
        more = self.replay.advance(TICK * SPEEDS[self.speed_at])
        if not more and self._player is not None:
            self._player.stop()
            self._player = None
            self.notify("The end of the recording.")
        self.moved()

    def action_help(self) -> None:
        self.push_screen("replay-help")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is self.screen_stack[0]:
            yield SystemCommand("Replay: go to a time", "key t", self.action_ask_time)
            yield SystemCommand(
                "Replay: next alarm change", "key n", lambda: self.action_alarm(True)
            )
            yield SystemCommand("Replay: play or pause", "key space", self.action_play)


def alarm_said(change: AlarmChange) -> str:
    """CHANGE as the operator reads it when the cursor lands on it."""
    parts = []
    if change.raised:
        parts.append("raised " + ", ".join(_alarm(a) for a in change.raised))
    if change.cleared:
        parts.append("cleared " + ", ".join(_alarm(a) for a in change.cleared))
    return f"{_utc(change.at)[-8:]} UTC: " + "; ".join(parts)


def _alarm(key: AlarmKey) -> str:
    code, severity, subject = key
    return f"{code} ({', '.join(subject) or 'site'}, {severity})"
