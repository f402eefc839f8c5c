"""The inventory: cluster.yaml, checked and loaded into frozen objects.

Use ``load(path)`` to read a file; it raises ``InventoryError`` listing every
problem with its line and column. ``summary(inventory)`` renders one screen
of plain text. The file format is described in docs/inventory.md.
"""

from .errors import InventoryError, Problem
from .loader import load
from .model import (
    AlertHook,
    Alerts,
    Balancer,
    Box,
    Database,
    Environment,
    Hooks,
    Inventory,
    Keepalive,
    Upgrade,
    WebNode,
)
from .summary import summary

__all__ = [
    "AlertHook",
    "Alerts",
    "Balancer",
    "Box",
    "Database",
    "Environment",
    "Hooks",
    "Inventory",
    "InventoryError",
    "Keepalive",
    "Problem",
    "Upgrade",
    "WebNode",
    "load",
    "summary",
]
