"""A box's detail screen: everything the probes know of it, and its recent events."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from console.inventory import Inventory
from console.text import one_line
from screens.panels import KeyBar

if TYPE_CHECKING:
    from screens.app import HotspareApp


def box_of(inv: Inventory, panel: str, row: str) -> str | None:
    """The box behind ROW of PANEL (a server, a web node or a database name)."""
    if panel == "balancer":
        node = next((n for n in inv.web_nodes if n.server == row), None)
        return node.box if node else None
    if panel == "nodes":
        return inv.web_node(row).box
    if panel == "replicas":
        return inv.database(row).box
    return None


def _facts(title: str, part: object) -> Text:
    text = Text(f"{title}\n", style="bold underline")
    assert dataclasses.is_dataclass(part)
    for field in dataclasses.fields(part):
        value = getattr(part, field.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for item in value:
                text.append_text(_facts(f"  {field.name}: {type(item).__name__}", item))
            continue
        text.append(f"  {field.name:22} ", style="dim")
        text.append(one_line(repr(value) if isinstance(value, str) else str(value), 300) + "\n")
    return text


class BoxScreen(Screen[None]):
    """Everything known about one box, as of the last snapshot."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("l", "app.logs", "Logs"),
    ]

    def __init__(self, box: str, app: HotspareApp) -> None:
        super().__init__()
        self.box = box
        self._hotspare = app

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._describe(), id="facts")
        yield KeyBar([("esc", "back"), ("l", "logs")])

    def _describe(self) -> Text:
        app, box = self._hotspare, self.box
        text = Text(f"box {box}\n\n", style="bold")
        state = app.state
        if state is None:
            return text.append("no data yet\n")
        names = {box}
        fresh = state.freshness(box)
        if fresh is not None:
            text.append_text(_facts("freshness", fresh))
        if state.balancer is not None and state.balancer.box == box:
            text.append_text(_facts("balancer", state.balancer))
        for node in state.nodes:
            if node.box == box:
                names.add(node.name)
                text.append_text(_facts(f"web node {node.name}", node))
        for db in state.databases:
            if db.box == box:
                names.add(db.name)
                text.append_text(_facts(f"database {db.name}", db))
        text.append("\nrecent events\n", style="bold underline")
        mine = [e for e in app.events if any(n in e.subject for n in names)][-20:]
        for event in mine or []:
            text.append(f"  {one_line(event.text, 200)}\n")
        if not mine:
            text.append("  none seen yet\n", style="dim")
        text.append("\nlogs: press l for every node's logs, live\n", style="dim")
        return text
