"""A plan: what an action will do, step by step, before it does any of it.

Each step says what must be true first, the exact command it runs (a
runtime API command, SQL, or a shell command on a box) and where, and the
check that proves it worked. A plan prints the same for `--dry-run`, in the
console's confirmation and in the audit log; running it is the runner's job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.actions.context import Context


@dataclass(frozen=True)
class Check:
    """The answer of a precondition or a verification."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Condition:
    """A precondition of the whole plan, as found while planning: ticked or failed."""

    what: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "ok": self.ok, "detail": self.detail}


Probe = Callable[["Context"], Awaitable[Check]]
Act = Callable[["Context"], Awaitable[str]]


@dataclass(frozen=True)
class Step:
    """One step of a plan.

    Attributes:
        title: what the step does, in an operator's words.
        where: what it talks to ("HAProxy runtime API on lb1", "SQL on db1", "ssh web2").
        command: the exact command, SQL or shell line.
        expects: the precondition, in words.
        proves: the verification, in words.
        pre: checks the precondition just before the step runs.
        act: runs the command; returns what the box answered, shortened.
        verify: checks the result (polling for a while where the effect takes time).
        undo: puts this step back if a later step fails, while that is still safe.
        no_return: once this step has begun, nothing is put back any more (a
            promotion cannot be undone by starting the old primary again).
    """

    title: str
    where: str
    command: str
    expects: str
    proves: str
    act: Act = field(repr=False, compare=False)
    verify: Probe = field(repr=False, compare=False)
    pre: Probe | None = field(default=None, repr=False, compare=False)
    undo: Step | None = field(default=None, repr=False, compare=False)
    no_return: bool = False

    def as_dict(self) -> dict[str, Any]:
        said: dict[str, Any] = {
            "title": self.title,
            "where": self.where,
            "command": self.command,
            "expects": self.expects,
            "proves": self.proves,
        }
        if self.undo is not None:
            said["undo"] = self.undo.as_dict()
        if self.no_return:
            said["no_return"] = True
        return said


@dataclass(frozen=True)
class Plan:
    """An action's plan, for one target.

    Attributes:
        action: the command's name ("drain", "read-only on").
        target: what it acts on ("web2", "the site").
        summary: one line for the operator.
        steps: in order.
        refusals: why it must not run now (empty: it may); found while planning.
        confirm: the word the operator must type to go ahead (a node's name), or None.
        way_back: how to undo it, as a command.
        preconditions: what was checked while planning, each ticked or failed
            (a failed one is also among the refusals).
        always: steps run at the end whatever happened.
        memo: what a run of this plan must remember if it is interrupted, so
            that running the same command again finishes it (the old primary,
            the mode it set); kept in the cluster's action lock.
    """

    action: str
    target: str
    summary: str
    steps: tuple[Step, ...]
    refusals: tuple[str, ...] = ()
    confirm: str | None = None
    way_back: str = ""
    preconditions: tuple[Condition, ...] = ()
    always: tuple[Step, ...] = ()
    memo: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        said: dict[str, Any] = {
            "action": self.action,
            "target": self.target,
            "summary": self.summary,
            "steps": [step.as_dict() for step in self.steps],
            "refusals": list(self.refusals),
            "confirm": self.confirm,
            "way_back": self.way_back,
        }
        if self.preconditions:
            said["preconditions"] = [c.as_dict() for c in self.preconditions]
        if self.always:
            said["always"] = [step.as_dict() for step in self.always]
        return said

    def describe(self) -> str:
        """The plan as text, for --dry-run and the console's confirmation."""
        lines = [f"{self.action} {self.target}: {self.summary}"]
        if self.preconditions:
            lines.append("  before anything is done:")
        for cond in self.preconditions:
            lines.append(f"    [{'ok' if cond.ok else 'NO'}] {cond.what}: {cond.detail}")
        for n, step in enumerate(self.steps, 1):
            lines += [
                f"  {n}. {step.title}" + ("   (point of no return)" if step.no_return else ""),
                f"     expects: {step.expects}",
                f"     runs:    {step.command}   ({step.where})",
                f"     proves:  {step.proves}",
            ]
            if step.undo is not None:
                lines.append(f"     if a later step fails first: {step.undo.title}")
        for step in self.always:
            lines.append(f"  at the end, whatever happened: {step.title} ({step.command})")
        if self.way_back:
            lines.append(f"  way back: {self.way_back}")
        for reason in self.refusals:
            lines.append(f"  REFUSED: {reason}")
        if self.confirm and not self.refusals:
            lines.append(f"  needs the name typed to go ahead: {self.confirm}")
        return "\n".join(lines)


def failed(conditions: Iterable[Condition]) -> tuple[str, ...]:
    """The failed CONDITIONS as refusals, each "what: what was seen"."""
    return tuple(f"{c.what}: {c.detail}" for c in conditions if not c.ok)


def refused(
    action: str, target: str, conditions: Iterable[Condition], refusals: tuple[str, ...]
) -> Plan:
    """A plan that does nothing: it shows its conditions and why it may not run."""
    return Plan(action, target, "nothing is done", (), refusals, None, "", tuple(conditions))


def answered(ask: Probe) -> tuple[Act, Probe]:
    """A step's act that ASKs once and says what came back, and its verify: that answer."""
    got: list[Check] = []

    async def act(ctx: Context) -> str:
        got[:] = [await ask(ctx)]
        return got[0].detail

    async def verify(ctx: Context) -> Check:
        return got[0]

    return act, verify


async def poll(ctx: Context, probe: Probe, timeout: float, every: float = 0.25) -> Check:
    """PROBE until it passes or TIMEOUT s have gone; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        check = await probe(ctx)
        if check.ok or time.monotonic() >= deadline:
            return check
        await asyncio.sleep(every)
