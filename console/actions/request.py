"""What the operator asked for, kept so that it can be planned again under the lock.

A Request names the action, its target and the command line that asks for
it again; the runner plans it anew on a fresh read once it holds the
cluster's action lock, and the lock records the commands that would finish
or undo a run interrupted at each step (`ways_out`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from console.actions.plan import Plan
from console.state.lock import ActionLock, Next
from console.state.model import ClusterState


@dataclass(frozen=True)
class Request:
    """What the operator asked for, so that it can be planned again under the lock.

    Attributes:
        action: the action's name ("promote", "drain").
        target: what it acts on ("db2", "the site").
        command: the command line that asks for it again, options included.
        key: the command without its options: what matches a way out of an
            interrupted run.
        build: plans it from a snapshot; the second argument is the memo of
            the interrupted run of the same command this run finishes, or None.
        locked: takes the cluster's action lock (all but `unlock`).
    """

    action: str
    target: str
    command: str
    key: str
    build: Callable[[ClusterState, Mapping[str, Any] | None], Plan]
    locked: bool = True

    def finishes(self, held: ActionLock | None) -> bool:
        """Whether this is the same command as the interrupted run HELD, and so finishes it."""
        return (
            held is not None
            and held.gone is not None
            and held.action == self.action
            and held.target == self.target
        )

    def plan(self, state: ClusterState) -> Plan:
        """The plan to show, from STATE: resuming the interrupted run there if this finishes it.

        While STATE shows another action holding the lock, the plan says it is refused
        (the runner is the judge; this tells the operator before they type a name).
        """
        held = state.action
        plan = self.build(state, held.memo if held is not None and self.finishes(held) else None)
        if held is None or not self.locked or held.mine():
            return plan  # this console's own run, finished since the snapshot: the runner judges
        if held.gone is None:
            why = f"another action is running: {held.describe()}"
        elif not any(n.key == self.key for n in held.next):
            why = f"an interrupted action holds the lock: {held.describe()}. {held.advice()}"
        else:
            return plan
        return replace(plan, refusals=(*plan.refusals, why))


def ways_out(request: Request, plan: Plan, past_return: bool) -> list[Next]:
    """What finishes or undoes a run of PLAN interrupted now, best first.

    Running the same command again always finishes it. Its way back undoes
    it only for a plan with no point of no return: a promotion half done is
    finished, never undone by another promotion.
    """
    finish = Next(
        request.command, "finishes it: each step notices what is already done", request.key
    )
    back = plan.way_back
    clean = back.startswith("hotspare ") and not set(back) & set("(`;")
    if past_return or not clean or any(step.no_return for step in plan.steps):
        return [finish]
    return [finish, Next(back, "undoes it", _key(back))]


def _key(command: str) -> str:
    """A command without its options: what names the action and its target."""
    return " ".join(word for word in command.split() if not word.startswith("-"))
