"""How alarms say things: one constructor, ages and lists of names in words."""

from __future__ import annotations

from collections.abc import Iterable

from console.state.model import Alarm, BoxFreshness, Severity


def alarm(code: str, severity: Severity, subject: Iterable[str], message: str) -> Alarm:
    return Alarm(code=code, severity=severity, subject=tuple(subject), message=message)


def ago(box: BoxFreshness) -> str:
    return "at an unknown time" if box.age is None else f"{box.age:.0f} s ago"


def joined(names: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(names)
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)
