"""Copy every web node's logs into one archive, DEST/DAY/NODE/FILE, over SFTP.

Each file is copied up to the size it had when listed (a live log keeps
growing; the rest is for the next run). Bytes are appended in order, so an
interrupted run leaves a prefix of the box's file: the next run checks that
prefix against the box's `head -c N | sha256sum` and fetches only the rest.
A local copy that is no longer a prefix (the file was rotated or replaced)
is moved aside, never deleted. Every copy is checked against the box's
checksum; SHA256SUMS in each node directory lists the verified copies only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import shlex
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Literal, TypeVar, cast

import asyncssh

from console.inventory import Inventory, WebNode
from console.ssh import BoxError, BoxLink, RemoteFailed, RemoteTimeout, Unreachable

CHUNK = 4 * 1024 * 1024
# The slowest a box's sha256sum is assumed to hash: a checksum command gets
# the plain timeout plus one second per HASH_RATE bytes it reads.
HASH_RATE = 25_000_000
SUMS = "SHA256SUMS"
_ROTATED = re.compile(r"(?:\.\d{1,4}|-\d{8,14})(?:\.(?:gz|bz2|xz|zst))?")
_DAYS_AGO = re.compile(r"(\d{1,4})d")
_SUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")

Outcome = Literal["copied", "resumed", "unchanged", "replaced", "failed"]
T = TypeVar("T")


class CollectError(Exception):
    """DEST cannot be used: not creatable, not writable, or in use by another run."""


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


def is_log_file(name: str, base: str) -> bool:
    """Whether NAME is BASE or one of its rotations (.1, .2.gz, -20261125, ...)."""
    if name == base:
        return True
    return name.startswith(base) and _ROTATED.fullmatch(name[len(base) :]) is not None


def parse_since(text: str, today: date) -> date:
    """The day TEXT means: YYYY-MM-DD, today, yesterday, or Nd (N days ago).

    Raises:
        ValueError: TEXT is none of these.
    """
    if text in ("today", "yesterday"):
        return today - timedelta(days=0 if text == "today" else 1)
    if match := _DAYS_AGO.fullmatch(text):
        return today - timedelta(days=int(match[1]))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text)
    raise ValueError(f"{text!r} is not a day: use YYYY-MM-DD, today, yesterday or Nd (N days ago)")


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
    with _locked(where, [node.name for node in inv.web_nodes]):
        jobs = [
            _collect_box(inv, box, nodes, where, cutoff, timeout) for box, nodes in by_box.items()
        ]
        done = {r.node: r for reports in await asyncio.gather(*jobs) for r in reports}
    nodes = tuple(done[node.name] for node in inv.web_nodes)
    return CollectReport(str(dest), day.isoformat(), since.isoformat() if since else None, nodes)


@contextlib.contextmanager
def _locked(where: Path, nodes: list[str]) -> Iterator[None]:
    """Create WHERE/NODE for each node, and hold WHERE against a second run."""
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
        async with contextlib.AsyncExitStack() as stack:
            await link.connection()  # bounded by the box's connect_timeout, precise errors
            try:
                async with asyncio.timeout(timeout):
                    sftp = await stack.enter_async_context(link.sftp())
            except TimeoutError as exc:
                why = f"no SFTP session within {timeout:g} s: the box or its sshd is hung"
                raise RemoteTimeout(box, why) from exc
            # Closing an SFTP session waits for the box: if it hangs, or the run is
            # interrupted, drop the connection first so that nothing waits on it.
            stack.push(lambda kind, *_: link.fail("stopped") if kind else None)
            for node in nodes:
                job = _NodeJob(node, link, sftp, where / node.name, timeout)
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _aside(path: Path, tag: str) -> Path:
    """Move PATH to PATH.TAG-N, the first N that names nothing yet."""
    n = 1
    while (target := path.with_name(f"{path.name}.{tag}-{n}")).exists():
        n += 1
    path.rename(target)  # no other run can race: the day's directory is locked
    return target


class _Sums:
    """A node directory's SHA256SUMS, rewritten whole (tmp, then rename) on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(errors="replace").splitlines():
                if match := _SUM_LINE.fullmatch(line):
                    self.entries[match[2]] = match[1]

    def record(self, name: str, digest: str) -> None:
        if self.entries.get(name) != digest:
            self.entries[name] = digest
            self._save()

    def forget(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w") as file:
            file.writelines(f"{self.entries[n]}  {n}\n" for n in sorted(self.entries))
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(self.path)


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
        self, node: WebNode, link: BoxLink, sftp: asyncssh.SFTPClient, local: Path, timeout: float
    ) -> None:
        self.node, self.box, self.link, self.sftp = node, node.box, link, sftp
        self.dir, self.timeout = local, timeout
        self.sums = _Sums(local / SUMS)

    async def _remote(self, what: str, call: Awaitable[T], timeout: float | None = None) -> T:
        """CALL within the timeout; a hung or lost connection is dropped, as a BoxError.

        An SFTP error about the file itself (no such file, permission) is left
        to the caller, which reports that one file.
        """
        limit = timeout or self.timeout
        try:
            async with asyncio.timeout(limit):
                return await call
        except asyncssh.SFTPError as exc:
            if not isinstance(exc, asyncssh.SFTPConnectionLost):
                raise
            error: BoxError = Unreachable(self.box, f"{what}: the connection was lost")
        except TimeoutError:
            error = RemoteTimeout(self.box, f"{what}: no answer within {limit:.3g} s")
        except (OSError, asyncssh.Error) as exc:
            error = Unreachable(self.box, f"{what}: {exc}")
        self.link.fail(error.reason)  # so that closing never waits on a hung box
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
        return NodeReport(self.node.name, self.box, str(self.dir), tuple(files), error)

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
        plans = [replace(f, have=self._local_size(f.name)) for f in files]
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
        limit = self.timeout + hashed / HASH_RATE
        # The outer bound also covers a session that never opens on a hung box.
        call = self.link.run("\n".join(lines), limit)
        result = await self._remote("checksum the logs", call, limit + self.timeout)
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

    def _local_size(self, name: str) -> int:
        try:
            return (self.dir / name).stat().st_size
        except FileNotFoundError:
            return -1

    async def _collect(self, plan: _Plan) -> FileReport:
        """Bring one file's local copy up to the listed size, and verify it."""
        local = self.dir / plan.name

        def report(copied: int, start: int, outcome: Outcome, *why: str | None) -> FileReport:
            return FileReport(
                self.node.name, plan.path, str(local), plan.size, copied, start, outcome, *why
            )

        if plan.full is None:
            return report(0, 0, "failed", "gone from the box since it was listed (rotated?)")
        start = 0
        try:
            start, moved = await self._resume_point(plan, local)
            if start == plan.have == plan.size:
                self.sums.record(plan.name, plan.full)
                return report(0, start, "unchanged")
            self.sums.forget(plan.name)
            copied = await self._fetch(plan, local, start)
            if await asyncio.to_thread(_sha256, local) != plan.full:
                bad = _aside(local, "bad")
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
        self.sums.record(plan.name, plan.full)
        if moved is not None:
            why = f"the box's file is not the one copied before; that copy is now {moved.name}"
            return report(copied, start, "replaced", why, str(moved))
        return report(copied, start, "resumed" if start else "copied")

    async def _resume_point(self, plan: _Plan, local: Path) -> tuple[int, Path | None]:
        """Where copying starts: the local length if it is a prefix, else 0 (copy moved)."""
        if plan.have <= 0:
            return 0, None
        if plan.have <= plan.size:
            expected = plan.full if plan.have == plan.size else plan.prefix
            if await asyncio.to_thread(_sha256, local) == expected:
                return plan.have, None
        self.sums.forget(local.name)
        return 0, _aside(local, "replaced")

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
            await self._close(handle)  # not after a BoxError or ^C: the link is dropped then
            raise
        await self._close(handle)
        return at - start

    async def _close(self, handle: asyncssh.SFTPClientFile) -> None:
        with contextlib.suppress(BoxError, asyncssh.Error):
            await self._remote("close a file", handle.close())
