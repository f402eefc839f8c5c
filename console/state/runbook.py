"""A runbook as the snapshot holds it: a whole procedure, where it stands, and each step's
result. Pure, no I/O.

A runbook (console/runbook/) is a sequence of stages, each a plan of the
actions' own kind (console/actions/plan.py), run one after another under the
cluster's action lock. Its record is a JSON file beside the lock; the runbook
probe reads it, and `from_record` reads it back strictly: the file is on a
box, so nothing in it is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from console.state.lock import ActionLock
from console.text import printable

MAGIC = "hotspare-runbook/1"

RunState = Literal["running", "paused", "halted", "done", "interrupted"]
StageStatus = Literal["pending", "running", "done", "failed"]
_RUN_STATES = ("running", "paused", "halted", "done")
_STAGE_STATUSES = ("pending", "running", "done", "failed")


@dataclass(frozen=True)
class Mark:
    """The result of one step of a stage, as the runbook recorded it when the step ended."""

    title: str
    ok: bool
    check: str
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "ok": self.ok, "check": self.check, "at": self.at}


@dataclass(frozen=True)
class Stage:
    """One stage: a plan built when it is reached, from what the site is then.

    Attributes:
        kind: what builds its plan ("migrate", "node", "out").
        title: in an operator's words ("web1 to v2").
        args: what the builder needs (the node, the release, the way it ends).
        status: pending, running (begun, not ended), done or failed.
        marks: each step's result so far, in order; the first step without an
            ok mark is where a resumed run carries on.
        steps: how many steps its plan had when it was last built (0: not yet).
        way_back: what undoes it, in words ("" when nothing does).
    """

    kind: str
    title: str
    args: Mapping[str, Any]
    status: StageStatus = "pending"
    marks: tuple[Mark, ...] = ()
    steps: int = 0
    way_back: str = ""

    @property
    def node(self) -> str | None:
        value = self.args.get("node")
        return value if isinstance(value, str) else None

    @property
    def done_steps(self) -> int:
        """How many steps from the first are proven done (an ok mark each)."""
        count = 0
        for mark in self.marks:
            if not mark.ok:
                break
            count += 1
        return count

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "args": dict(self.args),
            "status": self.status,
            "marks": [m.as_dict() for m in self.marks],
            "steps": self.steps,
            "way_back": self.way_back,
        }


@dataclass(frozen=True)
class Runbook:
    """A procedure, persisted so that a second console or a restarted one finds it.

    Attributes:
        id: this runbook's id (its audit records and the lock carry it).
        kind: "rolling" or "rollback".
        release: the release it moves the nodes to.
        title: one line ("rolling upgrade to v2").
        command: the command that started it.
        who: user@host of the operator who started it.
        since: epoch seconds it began; updated: when its record was last written.
        state: running, paused, halted or done, as its runner last wrote it;
            `judged` turns a running one whose runner is gone into interrupted.
        stages: in order.
        before: each node's release and whether it took traffic when the
            runbook was made: what a rollback returns to.
        problem: why it halted (or paused), in words.
        request: "pause" or "abort", asked by an operator and not yet taken up.
        undoes: for a rollback, the title of the runbook it undoes.
        notes: what a step found for a later stage to use (an A/B switch
            remembers B's write counters; its rollback counts from them).
    """

    id: str
    kind: str
    release: str
    title: str
    command: str
    who: str
    since: float
    updated: float
    state: RunState
    stages: tuple[Stage, ...]
    before: Mapping[str, Mapping[str, Any]]
    problem: str = ""
    request: str = ""
    undoes: str = ""
    notes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def position(self) -> int:
        """The index of the first stage not done (len(stages) when all are)."""
        for n, stage in enumerate(self.stages):
            if stage.status != "done":
                return n
        return len(self.stages)

    @property
    def current(self) -> Stage | None:
        n = self.position
        return self.stages[n] if n < len(self.stages) else None

    @property
    def finished(self) -> bool:
        return self.state == "done"

    @property
    def open(self) -> bool:
        """Begun and not finished: resume, abort or rollback is what goes on from here."""
        return self.state != "done"

    def progress(self) -> tuple[int, int]:
        """(the node being worked on, counting from 1; how many nodes), over its node stages."""
        nodes = [s for s in self.stages if s.kind == "node"]
        done = sum(1 for s in nodes if s.status == "done")
        working = 1 if any(s.status in ("running", "failed") for s in nodes) else 0
        return (min(len(nodes), done + working) or (1 if nodes else 0)), len(nodes)

    def banner(self) -> str:
        """'UPGRADE 2/4 on v2', with how it stands when it is not simply running.

        An A/B rollover counts its stages, and says where the site is once B is live.
        """
        gated = self.current is not None and self.current.kind == "gate"
        if self.kind == "ab" and gated:
            return "A/B: B live, rollback open"
        if self.kind == "ab-rollback" and gated:
            return "A/B ROLLBACK: B read-only, its writes counted"
        if self.kind in ("ab", "ab-rollback"):
            word = "A/B" if self.kind == "ab" else "A/B ROLLBACK"
            at = min(len(self.stages), self.position + 1)
            text = f"{word} {at}/{len(self.stages)} to {self.release}"
            return text + (f" {self.state.upper()}" if self.state != "running" else "")
        at, total = self.progress()
        word, prep = ("ROLLBACK", "to") if self.kind == "rollback" else ("UPGRADE", "on")
        text = f"{word} {at}/{total} {prep} {self.release}"
        if self.state != "running":
            text += f" {self.state.upper()}"
        return text

    def releases(self) -> dict[str, str]:
        """The release each node was on when the runbook was made."""
        return {node: str(seen.get("release") or "?") for node, seen in self.before.items()}

    def judged(self, lock: ActionLock | None) -> Runbook:
        """This runbook with its state judged against the cluster's action lock.

        A running runbook is interrupted when the lock that ran it is gone (its
        process ended or fell silent) or no longer names it.
        """
        if self.state != "running":
            return self
        if lock is None or lock.id != self.id or lock.gone is not None:
            return replace(self, state="interrupted")
        return self

    def describe(self) -> str:
        """One line: what, how far, how it stands."""
        stage = self.current
        at = f"; at {stage.title}" if stage is not None and self.state != "done" else ""
        said = f"{self.title}: {self.state}{at}"
        if self.problem and self.state in ("halted", "paused", "interrupted"):
            said += f" ({self.problem})"
        return said

    def as_dict(self) -> dict[str, Any]:
        at, total = self.progress()
        return {
            "id": self.id,
            "kind": self.kind,
            "release": self.release,
            "title": self.title,
            "command": self.command,
            "who": self.who,
            "since": self.since,
            "updated": self.updated,
            "state": self.state,
            "stages": [s.as_dict() for s in self.stages],
            "before": {k: dict(v) for k, v in self.before.items()},
            "problem": self.problem,
            "request": self.request,
            "undoes": self.undoes,
            "notes": dict(self.notes),
            "position": self.position,
            "progress": [at, total],
        }


def from_record(record: Mapping[str, Any]) -> Runbook | None:
    """A runbook from its JSON record; None when it is not one. Every text is made printable."""
    if record.get("magic") != MAGIC:
        return None
    stages = tuple(stage for stage in map(_stage, _list(record.get("stages"))) if stage is not None)
    state = str(record.get("state"))
    before = record.get("before")
    return Runbook(
        id=_text(record.get("id")),
        kind=_text(record.get("kind")),
        release=_text(record.get("release")),
        title=_text(record.get("title")),
        command=_text(record.get("command")),
        who=_text(record.get("who")),
        since=_number(record.get("since")),
        updated=_number(record.get("updated")),
        state=state if state in _RUN_STATES else "halted",  # type: ignore[arg-type]
        stages=stages,
        before={
            printable(str(k)): _plain(v)
            for k, v in (before.items() if isinstance(before, dict) else ())
            if isinstance(v, dict)
        },
        problem=_text(record.get("problem")),
        request=_text(record.get("request")),
        undoes=_text(record.get("undoes")),
        notes=_plain(notes) if isinstance(notes := record.get("notes"), dict) else {},
    )


def to_record(runbook: Runbook) -> dict[str, Any]:
    """The JSON record of RUNBOOK (what from_record reads)."""
    said = runbook.as_dict()
    for derived in ("position", "progress"):
        said.pop(derived)
    if said["state"] == "interrupted":
        said["state"] = "running"  # a judgement of the reader, never written
    return {"magic": MAGIC, **said}


def _stage(item: object) -> Stage | None:
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
        return None
    status = str(item.get("status"))
    marks = tuple(
        Mark(
            _text(m.get("title")), m.get("ok") is True, _text(m.get("check")), _number(m.get("at"))
        )
        for m in _list(item.get("marks"))
        if isinstance(m, dict)
    )
    args = item.get("args")
    return Stage(
        kind=_text(item.get("kind")),
        title=_text(item.get("title")),
        args=_plain(args) if isinstance(args, dict) else {},
        status=status if status in _STAGE_STATUSES else "pending",  # type: ignore[arg-type]
        marks=marks,
        steps=int(_number(item.get("steps"))),
        way_back=_text(item.get("way_back")),
    )


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Scalars and lists of scalars only, texts made printable."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, bool | int | float) or value is None:
            out[printable(str(key))] = value
        elif isinstance(value, str):
            out[printable(str(key))] = printable(value)
        elif isinstance(value, list):
            out[printable(str(key))] = [printable(str(v)) for v in value]
    return out


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return printable(str(value)) if value is not None else ""


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 0.0
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
