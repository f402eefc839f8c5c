"""The archive `logs collect` writes: DEST/DAY/NODE/FILE, SHA256SUMS, and the reports.

One run at a time writes into a DEST/DAY (it holds a lock on it). A node's
SHA256SUMS lists its verified copies only, and is rewritten whole whenever
an entry changes. A copy that is not kept is moved aside (.replaced-N,
.bad-N), never deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from console.errors import Exit, HotspareError

SUMS = "SHA256SUMS"
HASH_BLOCK = 4 * 1024 * 1024
_SUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")

Outcome = Literal["copied", "resumed", "unchanged", "replaced", "failed"]


class CollectError(HotspareError):
    """DEST cannot be used: not creatable, not writable, or in use by another run."""

    exit = Exit.FAILED


@dataclass(frozen=True)
class FileReport:
    """What happened to one log file; ``moved_to`` holds an old or a bad local copy."""

    node: str
    remote: str
    local: str
    size: int
    copied: int
    resumed_from: int
    outcome: Outcome
    reason: str | None = None
    moved_to: str | None = None


@dataclass(frozen=True)
class NodeReport:
    """One node's files; ``error`` says why the node could not be collected (fully)."""

    node: str
    box: str
    directory: str
    files: tuple[FileReport, ...]
    error: str | None = None


@dataclass(frozen=True)
class CollectReport:
    """The whole run: where it wrote, since when, and what each node gave."""

    dest: str
    day: str
    since: str | None
    nodes: tuple[NodeReport, ...]

    @property
    def ok(self) -> bool:
        """True when every node answered and no file failed."""
        return all(
            n.error is None and all(f.outcome != "failed" for f in n.files) for n in self.nodes
        )


@contextlib.contextmanager
def hold_day(where: Path, nodes: Iterable[str]) -> Iterator[None]:
    """Create WHERE/NODE for each node, and hold WHERE (DEST/DAY) against a second run.

    Raises:
        CollectError: WHERE cannot be created, or another run holds it.
    """
    try:
        for node in nodes:
            (where / node).mkdir(parents=True, exist_ok=True)
        fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise CollectError(
            f"cannot create {exc.filename or where}: {exc.strerror}; "
            "give a DEST directory this user can write to"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise CollectError(
            f"another `logs collect` is writing into {where}; let it finish"
        ) from exc
    try:
        yield
    finally:
        os.close(fd)  # and with it the lock


def file_sha256(path: Path) -> str:
    """The sha256 of the local file PATH, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def move_aside(path: Path, tag: str) -> Path:
    """Move PATH to PATH.TAG-N, the first N that names nothing yet."""
    n = 1
    while (target := path.with_name(f"{path.name}.{tag}-{n}")).exists():
        n += 1
    path.rename(target)  # no other run can race: the day's directory is held
    return target


class Sha256Sums:
    """A node directory's SHA256SUMS, rewritten whole (tmp, then rename) on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(errors="replace").splitlines():
                if match := _SUM_LINE.fullmatch(line):
                    self.entries[match[2]] = match[1]

    def record(self, name: str, digest: str) -> None:
        """List NAME as verified with DIGEST."""
        if self.entries.get(name) != digest:
            self.entries[name] = digest
            self._save()

    def forget(self, name: str) -> None:
        """Take NAME out of the list (before its copy changes)."""
        if self.entries.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w") as file:
            file.writelines(f"{self.entries[n]}  {n}\n" for n in sorted(self.entries))
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(self.path)


class NodeArchive:
    """One node's directory, DEST/DAY/NODE: its copies and their SHA256SUMS."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sums = Sha256Sums(directory / SUMS)

    def path(self, name: str) -> Path:
        """Where the copy of the box's file NAME is."""
        return self.directory / name

    def length(self, name: str) -> int:
        """The length of the copy of NAME; -1 when there is none."""
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            return -1

    async def holds(self, name: str, digest: str | None) -> bool:
        """Whether the copy of NAME has the sha256 DIGEST (hashed off the event loop)."""
        return await asyncio.to_thread(file_sha256, self.path(name)) == digest

    def set_aside(self, name: str, tag: str) -> Path:
        """Unlist the copy of NAME and move it to NAME.TAG-N; return where it went."""
        self.sums.forget(name)
        return move_aside(self.path(name), tag)

    def record(self, name: str, digest: str) -> None:
        """List the copy of NAME in SHA256SUMS as verified with DIGEST."""
        self.sums.record(name, digest)

    def forget(self, name: str) -> None:
        """Unlist the copy of NAME (it is about to change)."""
        self.sums.forget(name)
