"""Copy every web node's logs into one archive, DEST/DAY/NODE/FILE, over SFTP.

Each file is copied up to the size it had when listed (a live log keeps
growing; the rest is for the next run). Bytes are appended in order, so an
interrupted run leaves a prefix of the box's file: the next run checks that
prefix against the box's `head -c N | sha256sum` and fetches only the rest.
A local copy that is no longer a prefix (the file was rotated or replaced)
is moved aside, never deleted. Every copy is checked against the box's
checksum; SHA256SUMS in each node directory lists the verified copies only.
This module is the box's side; console.logs.archive keeps DEST.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar, cast

import asyncssh

from console.inventory import Inventory, WebNode
from console.logs.archive import (
    CollectReport,
    FileReport,
    NodeArchive,
    NodeReport,
    Outcome,
    hold_day,
)
from console.ssh import BoxError, BoxLink, RemoteFailed, RemoteTimeout, Unreachable

# Bytes fetched per round of parallel reads, and appended to the copy at once.
CHUNK = 4 * 1024 * 1024
# The slowest a box's sha256sum is assumed to hash: a checksum command gets
# the plain timeout plus one second per HASH_RATE bytes it reads.
HASH_RATE = 25_000_000
_ROTATED = re.compile(r"(?:\.\d{1,4}|-\d{8,14})(?:\.(?:gz|bz2|xz|zst))?")

T = TypeVar("T")


def is_log_file(name: str, base: str) -> bool:
    """Whether NAME is BASE or one of its rotations (.1, .2.gz, -20261125, ...)."""
    if name == base:
        return True
    return name.startswith(base) and _ROTATED.fullmatch(name[len(base) :]) is not None


def log_names(node: WebNode) -> dict[str, tuple[str, ...]]:
    """The node's log names (hot and warm access, error) by directory on its box."""
    found: dict[str, tuple[str, ...]] = {}
    for path in (node.access_log_for("hot"), node.access_log_for("warm"), node.error_log):
        directory, name = str(PurePosixPath(path).parent), PurePosixPath(path).name
        names = found.get(directory, ())
        found[directory] = names if name in names else (*names, name)
    return found


async def collect(
    inv: Inventory,
    dest: Path,
    since: date | None = None,
    timeout: float = 30.0,
    day: date | None = None,
) -> CollectReport:
    """Collect every web node's logs into DEST/DAY/NODE/; the boxes all at once.

    Raises:
        CollectError: DEST cannot be written, or another run is writing there.
    """
    day = day or date.today()
    where = dest / day.isoformat()
    cutoff = datetime.combine(since, datetime.min.time()).timestamp() if since else None
    by_box: dict[str, list[WebNode]] = {}
    for node in inv.web_nodes:
        by_box.setdefault(node.box, []).append(node)
    with hold_day(where, [node.name for node in inv.web_nodes]):
        jobs = [
            _collect_box(inv, box, nodes, where, cutoff, timeout) for box, nodes in by_box.items()
        ]
        done = {r.node: r for reports in await asyncio.gather(*jobs) for r in reports}
    nodes = tuple(done[node.name] for node in inv.web_nodes)
    return CollectReport(str(dest), day.isoformat(), since.isoformat() if since else None, nodes)


async def _collect_box(
    inv: Inventory,
    box: str,
    nodes: list[WebNode],
    where: Path,
    cutoff: float | None,
    timeout: float,
) -> list[NodeReport]:
    """Collect the nodes on BOX one after another, over one SFTP session."""
    link = BoxLink(inv, box)
    reports: list[NodeReport] = []
    try:
        async with link.sftp(timeout) as sftp:
            for node in nodes:
                job = _NodeJob(node, link, sftp, NodeArchive(where / node.name), timeout)
                reports.append(await job.run(cutoff))
    except BoxError as exc:
        done = {r.node for r in reports}
        reports += [
            NodeReport(n.name, box, str(where / n.name), (), exc.reason)
            for n in nodes
            if n.name not in done
        ]
    finally:
        await link.close()
    return reports


async def _read_span(handle: asyncssh.SFTPClientFile, offset: int, size: int) -> bytes:
    """SIZE bytes at OFFSET (fewer only at the end of the file); a short answer is continued."""
    data = b""
    while len(data) < size:
        more = cast(bytes, await handle.read(size - len(data), offset + len(data)))
        if not more:
            break
        data += more
    return data


@dataclass(frozen=True)
class _Plan:
    """A file as the box listed it, its local copy's length, and the box's checksums."""

    path: str
    size: int
    mtime: float | None
    have: int = -1  # no local copy
    full: str | None = None  # of [0, size); None if the file went away
    prefix: str | None = None  # of [0, have), when 0 < have < size

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


class _NodeJob:
    """One node's collection: list, checksum on the box, copy, verify."""

    def __init__(
        self,
        node: WebNode,
        link: BoxLink,
        sftp: asyncssh.SFTPClient,
        archive: NodeArchive,
        timeout: float,
    ) -> None:
        self.node, self.box, self.link, self.sftp = node, node.box, link, sftp
        self.archive, self.timeout = archive, timeout

    async def _remote(self, what: str, call: Awaitable[T]) -> T:
        """CALL within the timeout; a hung or lost connection is dropped, as a BoxError.

        An SFTP error about the file itself (no such file, permission) is left
        to the caller, which reports that one file.
        """
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except asyncssh.SFTPError as exc:
            if not isinstance(exc, asyncssh.SFTPConnectionLost):
                raise
            error: BoxError = Unreachable(self.box, f"{what}: the connection was lost")
        except TimeoutError:
            error = RemoteTimeout(self.box, f"{what}: no answer within {self.timeout:.3g} s")
        except (OSError, asyncssh.Error) as exc:
            error = Unreachable(self.box, f"{what}: {exc}")
        # The requests still in flight go with the connection, and the next node
        # on this box fails at once instead of waiting on it again.
        self.link.fail(error.reason)
        raise error

    async def run(self, cutoff: float | None) -> NodeReport:
        """Collect every listed file; a BoxError stops the node and is reported."""
        files: list[FileReport] = []
        error = None
        try:
            listed = [f for f in await self._list() if f.mtime is None or f.mtime >= (cutoff or 0)]
            for plan in await self._checksums(listed):
                files.append(await self._collect(plan))
        except BoxError as exc:
            error = exc.reason
        return NodeReport(
            self.node.name, self.box, str(self.archive.directory), tuple(files), error
        )

    async def _list(self) -> list[_Plan]:
        """The node's regular log files, as the box lists them now."""
        found: list[_Plan] = []
        for directory, bases in log_names(self.node).items():
            try:
                call = self.sftp.readdir(directory)
                entries = await self._remote(f"list {directory}", call)
            except asyncssh.SFTPError as exc:
                raise RemoteFailed(self.box, f"cannot list {directory}: {exc.reason}") from exc
            for entry in sorted(entries, key=lambda e: str(e.filename)):
                name, attrs = str(entry.filename), entry.attrs
                regular = attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
                if regular and any(is_log_file(name, base) for base in bases):
                    found.append(_Plan(f"{directory}/{name}", attrs.size or 0, attrs.mtime))
        return found

    async def _checksums(self, files: list[_Plan]) -> list[_Plan]:
        """Each file with the box's sha256 of its listed size and of the local length."""
        plans = [replace(f, have=self.archive.length(f.name)) for f in files]
        lines, hashed = [], 0
        for i, plan in enumerate(plans):
            size, have, path = plan.size, plan.have, shlex.quote(plan.path)
            for key, count in ((f"{i}.full", size), (f"{i}.prefix", have)):
                if key.endswith(".full") or 0 < count < size:
                    lines.append(
                        f"if [ -f {path} ]; then printf '%s ' {key}; "
                        f"head -c {count} -- {path} | sha256sum; else echo {key} missing; fi"
                    )
                    hashed += count
        if not lines:
            return []
        result = await self.link.run("\n".join(lines), self.timeout + hashed / HASH_RATE)
        answers = {w[0]: w[1] for w in map(str.split, result.stdout.splitlines()) if len(w) > 1}
        if any(f"{i}.full" not in answers for i in range(len(plans))):
            raise RemoteFailed(
                self.box,
                "cannot checksum the logs there (head and sha256sum are needed): "
                + (result.stderr.strip() or f"exit status {result.exit_status}"),
            )
        known = {k: (None if v == "missing" else v) for k, v in answers.items()}
        return [
            replace(plan, full=known[f"{i}.full"], prefix=known.get(f"{i}.prefix"))
            for i, plan in enumerate(plans)
        ]

    async def _collect(self, plan: _Plan) -> FileReport:
        """Bring one file's local copy up to the listed size, and verify it."""
        local = self.archive.path(plan.name)

        def report(copied: int, start: int, outcome: Outcome, *why: str | None) -> FileReport:
            return FileReport(
                self.node.name, plan.path, str(local), plan.size, copied, start, outcome, *why
            )

        if plan.full is None:
            return report(0, 0, "failed", "gone from the box since it was listed (rotated?)")
        start = 0
        try:
            start, moved = await self._resume_point(plan)
            if start == plan.have == plan.size:
                self.archive.record(plan.name, plan.full)
                return report(0, start, "unchanged")
            self.archive.forget(plan.name)
            copied = await self._fetch(plan, local, start)
            if not await self.archive.holds(plan.name, plan.full):
                bad = self.archive.set_aside(plan.name, "bad")
                why = f"checksum differs from the box's; the copy is kept as {bad.name}"
                return report(copied, start, "failed", why, str(bad))
        except asyncssh.SFTPError as exc:
            return report(0, start, "failed", f"cannot read it: {exc.reason}")
        except EOFError as exc:
            return report(0, start, "failed", str(exc))
        except OSError as exc:
            return report(
                0, start, "failed", f"cannot write {exc.filename or local}: {exc.strerror}"
            )
        self.archive.record(plan.name, plan.full)
        if moved is not None:
            why = f"the box's file is not the one copied before; that copy is now {moved.name}"
            return report(copied, start, "replaced", why, str(moved))
        return report(copied, start, "resumed" if start else "copied")

    async def _resume_point(self, plan: _Plan) -> tuple[int, Path | None]:
        """Where copying starts: the local length if it is a prefix, else 0 (copy moved)."""
        if plan.have <= 0:
            return 0, None
        if plan.have <= plan.size:
            expected = plan.full if plan.have == plan.size else plan.prefix
            if await self.archive.holds(plan.name, expected):
                return plan.have, None
        return 0, self.archive.set_aside(plan.name, "replaced")

    async def _fetch(self, remote: _Plan, local: Path, start: int) -> int:
        """Append bytes [START, size) of REMOTE to LOCAL, in order; return the count."""
        what, block = f"read {remote.path}", self.sftp.limits.max_read_len or 16384
        # block_size=0: plain requests, which (unlike asyncssh's parallel reader)
        # leave nothing behind when a timeout cancels them.
        handle = await self._remote(what, self.sftp.open(remote.path, "rb", block_size=0))
        try:
            with local.open("ab") as out:
                at = start
                while at < remote.size:
                    end = min(at + CHUNK, remote.size)
                    spans = [
                        _read_span(handle, o, min(block, end - o)) for o in range(at, end, block)
                    ]
                    data = b"".join(await self._remote(what, asyncio.gather(*spans)))
                    out.write(data)
                    at += len(data)
                    if at < end:
                        raise EOFError(f"the box's file ended at {at} of {remote.size} bytes")
                out.flush()
                os.fsync(out.fileno())
        except (OSError, EOFError, asyncssh.SFTPError):
            await self._close(handle)  # not after a BoxError or ^C: it goes with the session
            raise
        await self._close(handle)
        return at - start

    async def _close(self, handle: asyncssh.SFTPClientFile) -> None:
        with contextlib.suppress(BoxError, asyncssh.Error):
            await self._remote("close a file", handle.close())
