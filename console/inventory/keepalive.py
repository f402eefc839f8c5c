"""The ``keepalive`` section: the monitor restarts a site that stopped answering.

Off unless cluster.yaml turns it on.
"""

from __future__ import annotations

from collections.abc import Mapping

from .fields import flag, whole_number
from .model import Keepalive
from .sections import Key, merge, read_keys, section
from .upgrade import seconds
from .yamltree import Node, Reporter

PROBE_LIMIT = 2.0  # the node probe gives up on a health check after this (console/probes/node.py)


def read_keepalive(rep: Reporter, top: Mapping[str, tuple[Node, Node]]) -> Keepalive | None:
    """Read the optional keepalive section (off when it is absent); None if reported."""
    keys = {
        "enabled": Key(flag, default=Keepalive.enabled),
        "limit": Key(seconds(0.1, PROBE_LIMIT), default=Keepalive.limit),
        "probes": Key(whole_number(2, 100), default=Keepalive.probes),
        "min_interval": Key(seconds(60, 86400), default=Keepalive.min_interval),
    }
    node = section(rep, top, "keepalive", "a mapping of keepalive settings (enabled, probes)")
    if node is None:
        return None if "keepalive" in top else Keepalive()
    merged = merge(rep, read_keys(rep, node, "keepalive", keys), None, keys, "", ())
    return None if merged is None else Keepalive(**merged[0])
