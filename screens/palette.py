"""The command palette (^p): every action by its name and synonyms, the views, the theme,
and the other clusters.

Actions are offered only to an operator, and only from the main screen (they
act on its selection); a key is shown as the operator presses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, Protocol

from textual.app import SystemCommand
from textual.screen import Screen

from console.actions import catalog
from console.authority import Authority
from console.inventory import Inventory
from screens import keys, switch


class Console(Protocol):
    """What the palette reads of the app (not the app itself: no screens.app <-> palette cycle)."""

    @property
    def authority(self) -> Authority: ...

    @property
    def others(self) -> Sequence[Inventory]: ...

    @property
    def screen_stack(self) -> list[Screen[Any]]: ...

    def act_on(self, actions: tuple[catalog.Action, ...]) -> None: ...

    def action_high_contrast(self) -> None: ...

    async def switch_cluster(self, inv: Inventory) -> None: ...

    async def run_action(self, action: str) -> bool: ...


def palette_names(action: catalog.Action) -> tuple[str, ...]:
    """The names the palette finds ACTION by: its own, its aliases, the operator's synonyms."""
    return (action.name, *action.aliases, *keys.SYNONYMS.get(action.name, ()))


def commands(app: Console, screen: Screen[object]) -> Iterable[SystemCommand]:
    """The palette's entries of hotspare's own, for SCREEN."""
    main = screen is app.screen_stack[0]
    if not app.authority.observer and main:
        for action in catalog.ACTIONS:
            if action.key is not None:
                yield SystemCommand(
                    " / ".join(palette_names(action)),
                    action.help
                    + (f" (key {keys.shown(action.key.key)})" if action.key.key else ""),
                    partial(app.act_on, (action,)),
                )
    for key in keys.VIEWS:
        yield SystemCommand(key.description, f"key {keys.shown(key.key)}", _run(app, key.action))
    yield SystemCommand("High contrast theme", "for projectors", app.action_high_contrast)
    if main:  # never from under a running action
        yield from switch.commands(app.others, app.switch_cluster)


def _run(app: Console, action: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await app.run_action(action)

    return run
