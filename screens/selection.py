"""What the operator has selected: the node or database an action key acts on.

A node is selected on the nodes panel, or through its server on the
balancer panel; a database on the databases (replicas) panel. Anything else
focused selects nothing, and the key says what to select first.
"""

from __future__ import annotations

from textual.widget import Widget

from console.inventory import Inventory
from screens.panels import Panel


def selected(focused: Widget | None, inv: Inventory, kind: str) -> str | None:
    """The name of the KIND ("node", "database") selected in FOCUSED; None for the site."""
    panel = focused if isinstance(focused, Panel) else None
    row = panel.selected if panel is not None else None
    if row is None or panel is None:
        return None
    if kind == "node" and panel.id == "nodes":
        return row
    if kind == "node" and panel.id == "balancer":
        return next((n.name for n in inv.web_nodes if n.server == row), None)
    if kind == "database" and panel.id == "replicas":
        return row
    return None
