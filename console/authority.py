"""Who may change the site: an operator, or an observer who may only look.

Observer mode is enforced here, in the core, not only by hiding keys: every
action asks `require_operator` before it builds its plan.
"""

from __future__ import annotations

from dataclasses import dataclass


class ObserverRefused(PermissionError):
    """A change was asked for by a console in observer mode."""


@dataclass(frozen=True)
class Authority:
    """What this console may do, and why.

    Attributes:
        observer: True when nothing may be changed.
        why: where observer mode came from (flag or cluster.yaml).
    """

    observer: bool
    why: str = ""

    @classmethod
    def decide(cls, observe_flag: bool, observer_only_env: bool, env_label: str) -> Authority:
        """Observer if the command line asks for it or the environment demands it."""
        if observer_only_env:
            return cls(True, f"cluster.yaml makes environment {env_label!r} observer-only")
        if observe_flag:
            return cls(True, "started with --observe")
        return cls(False)

    def require_operator(self, action: str) -> None:
        """Raise ObserverRefused unless this console may perform ACTION."""
        if self.observer:
            raise ObserverRefused(f"{action} refused: observer mode ({self.why}); nothing changed")
