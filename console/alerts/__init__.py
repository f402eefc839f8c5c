"""Alarm transitions told to the operator's own commands (paging, chat, mail), rate-limited.

The monitor hands each new snapshot to an ``Alerter``; it finds the alarms
raised, cleared or changed in severity (console.events.alarm_changes), lets
``Throttle`` decide what is told now, and runs each hook of cluster.yaml's
``alerts`` section with the alarm as JSON on its standard input. docs/monitoring.md
describes the document, the rate limits and the hooks.
"""

from .alerter import Alerter
from .document import SCHEMA, document, summary
from .hooks import HookResult, run_hook
from .throttle import Call, Throttle

__all__ = [
    "SCHEMA",
    "Alerter",
    "Call",
    "HookResult",
    "Throttle",
    "document",
    "run_hook",
    "summary",
]
