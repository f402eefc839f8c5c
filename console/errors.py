"""What can go wrong, as the operator hears it: one root error and every exit code.

Every error hotspare raises for an operator derives from HotspareError: its
message says what is wrong and what to do, and it carries the exit code the
command line ends with. Anything else reaching the top is a bug.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Exit codes of every command but `status` (see StatusExit)."""

    OK = 0
    FAILED = 1  # an action's step failed, or a box could not be read
    USAGE = 2  # bad input: the command line, the inventory, a name or a time
    REFUSED = 3  # refused: observer mode, the plan's own refusal, not confirmed
    INTERNAL = 70  # a bug in hotspare (EX_SOFTWARE)
    INTERRUPTED = 130  # ^C


class StatusExit(IntEnum):
    """Exit codes of `status`: the monitoring-plugin convention (Nagios, Icinga)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3  # the inventory cannot be used


class HotspareError(Exception):
    """An error an operator can act on: the message says what and what to do.

    Attributes:
        exit: the code the command line ends with when this stops it.
    """

    exit: Exit = Exit.FAILED


class ActionError(HotspareError, RuntimeError):
    """An action could not be planned or a step carried out; the message says why."""

    exit = Exit.USAGE
