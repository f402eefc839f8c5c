"""`logs collect` against the real lab: every node's logs copied, resumed, verified."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import fcntl
import gzip
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.cli import collect as cli_collect
from console.inventory import Inventory, load
from console.lab.layout import LabLayout
from console.logs import archive
from console.logs import collect as collect_module
from console.logs.archive import CollectError, CollectReport, FileReport, NodeReport
from console.logs.collect import collect
from console.ssh import link
from tests.support.labclient import ssh
from tests.test_ssh import hung_sshd

TODAY = date(2026, 11, 26)
# Quiet files on web1, beside its live logs: nothing writes to them but the tests.
ROTATED = ("access.hot.web1.log.1", "access.hot.web1.log.2.gz", "error.web1.log-20261125")
NOT_LOGS = ("access.hot.web1.log.bak", "access.hot.web1.log.3")  # a stray name, a symlink


# Against the lab --------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotspare logs collect")
    cli_collect.add_arguments(parser)
    return parser


def _run(inv: Inventory, dest: Path, since: date | None = None) -> CollectReport:
    return asyncio.run(collect(inv, dest, since=since, timeout=10, day=TODAY))


def _files(report: CollectReport) -> dict[tuple[str, str], FileReport]:
    return {(f.node, Path(f.local).name): f for n in report.nodes for f in n.files}


def _on_box(lab: LabLayout, node: str, name: str) -> Path:
    """The box's file; the lab's boxes share this machine's filesystem."""
    return lab.box_dir(node) / "log" / name


def _sh(lab: LabLayout, box: str, script: str) -> None:
    async def go() -> None:
        async with await ssh(lab, box) as conn:
            await conn.run(script, check=True, timeout=10)

    asyncio.run(go())


def _verified(directory: Path) -> str:
    done = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def quiet(lab: LabLayout) -> Iterator[Path]:
    """Rotated siblings of web1's logs (and two things that are not), removed after."""
    logs = lab.box_dir("web1") / "log"
    _sh(
        lab,
        "web1",
        f"cd {logs} && seq 1 3000 > {ROTATED[0]} && seq 1 20000 | gzip -n > {ROTATED[1]} "
        f"&& echo 'old error' > {ROTATED[2]} && echo stray > {NOT_LOGS[0]} "
        f"&& ln -s {ROTATED[0]} {NOT_LOGS[1]}",
    )
    yield logs
    _sh(lab, "web1", f"cd {logs} && rm -f {' '.join(ROTATED + NOT_LOGS)}")


@pytest.mark.lab
def test_every_nodes_logs_are_copied_verified_and_a_second_run_fetches_only_new_bytes(
    lab: LabLayout, quiet: Path, tmp_path: Path
) -> None:
    inv = load(lab.cluster_file)
    first = _run(inv, tmp_path)
    assert first.ok, first
    names = {n.node: {Path(f.local).name for f in n.files} for n in first.nodes}
    # At least these (a node that changed role in another test also has its other log).
    assert names["web1"] >= {"access.hot.web1.log", "error.web1.log", *ROTATED}
    assert names["web2"] >= {"access.hot.web2.log", "error.web2.log"}
    assert names["web3"] >= {"access.warm.web3.log", "error.web3.log"}
    assert not names["web1"] & set(NOT_LOGS)
    for f in _files(first).values():
        local = Path(f.local)
        assert local.parent == tmp_path / TODAY.isoformat() / f.node
        assert (f.outcome, f.copied, f.resumed_from) == ("copied", f.size, 0)
        assert local.read_bytes() == _on_box(lab, f.node, local.name).read_bytes()[: f.size]
    packed = tmp_path / TODAY.isoformat() / "web1" / ROTATED[1]
    assert gzip.decompress(packed.read_bytes()).startswith(b"1\n2\n")
    for node in ("web1", "web2", "web3"):
        _verified(tmp_path / TODAY.isoformat() / node)

    second = _files(_run(inv, tmp_path))
    for name in ROTATED:
        assert (second["web1", name].outcome, second["web1", name].copied) == ("unchanged", 0)
    for key, f in second.items():
        assert f.outcome in ("unchanged", "resumed"), f
        assert f.resumed_from == _files(first)[key].size
        assert f.copied == f.size - f.resumed_from
        assert Path(f.local).read_bytes() == _on_box(lab, *key).read_bytes()[: f.size]
    assert _verified(tmp_path / TODAY.isoformat() / "web1").count(": OK") == len(names["web1"])


@pytest.mark.lab
def test_a_partial_local_copy_is_resumed_from_where_it_stopped(
    lab: LabLayout, quiet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = load(lab.cluster_file)
    _run(inv, tmp_path)
    web1 = tmp_path / TODAY.isoformat() / "web1"
    os.truncate(web1 / ROTATED[0], 100)  # as a run stopped by ^C or a lost link leaves it
    os.truncate(web1 / ROTATED[1], 7)
    monkeypatch.setattr(collect_module, "CHUNK", 999)  # many reads, each at its offset
    again = _files(_run(inv, tmp_path))
    plain, packed = again["web1", ROTATED[0]], again["web1", ROTATED[1]]
    assert (plain.outcome, plain.resumed_from, plain.copied) == ("resumed", 100, plain.size - 100)
    assert (packed.outcome, packed.resumed_from, packed.copied) == ("resumed", 7, packed.size - 7)
    for name in ROTATED[:2]:
        assert (web1 / name).read_bytes() == (quiet / name).read_bytes()
    _verified(web1)


@pytest.mark.lab
def test_an_interrupted_run_leaves_a_verified_prefix_that_the_next_run_resumes(
    lab: LabLayout, quiet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = load(lab.cluster_file)
    in_plain = contextvars.ContextVar("in_plain", default=False)
    fetch, read_span = collect_module._NodeJob._fetch, collect_module._read_span
    reads: list[int] = []
    main: asyncio.Task[None] | None = None

    async def marked_fetch(job: Any, remote: Any, local: Path, start: int) -> int:
        in_plain.set(remote.name == ROTATED[0])  # seen by the reads it starts
        return await fetch(job, remote, local, start)

    async def interrupting_read(handle: Any, offset: int, size: int) -> bytes:
        if in_plain.get():
            reads.append(offset)
            if len(reads) == 3 and main is not None:
                main.cancel()  # what asyncio.run does on ^C
        return await read_span(handle, offset, size)

    async def interrupted() -> None:
        nonlocal main
        main = asyncio.current_task()
        await collect(inv, tmp_path, timeout=10, day=TODAY)

    monkeypatch.setattr(collect_module, "CHUNK", 4096)
    monkeypatch.setattr(collect_module._NodeJob, "_fetch", marked_fetch)
    monkeypatch.setattr(collect_module, "_read_span", interrupting_read)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(interrupted())
    web1 = tmp_path / TODAY.isoformat() / "web1"
    assert (web1 / ROTATED[0]).stat().st_size == 2 * 4096  # two whole chunks, in order
    assert ROTATED[0] not in _verified(web1)  # what is listed still verifies
    monkeypatch.undo()
    again = _files(_run(inv, tmp_path))["web1", ROTATED[0]]
    assert (again.outcome, again.resumed_from) == ("resumed", 8192)
    assert (web1 / ROTATED[0]).read_bytes() == (quiet / ROTATED[0]).read_bytes()
    assert ROTATED[0] in _verified(web1)


@pytest.mark.lab
def test_a_replaced_file_on_the_box_moves_the_old_copy_aside(
    lab: LabLayout, quiet: Path, tmp_path: Path
) -> None:
    inv = load(lab.cluster_file)
    _run(inv, tmp_path)
    web1 = tmp_path / TODAY.isoformat() / "web1"
    old_plain, old_error = (web1 / ROTATED[0]).read_bytes(), (web1 / ROTATED[2]).read_bytes()
    # Longer with other bytes, and shorter: neither is the file copied before.
    _sh(lab, "web1", f"cd {quiet} && seq 5 9000 > {ROTATED[0]} && echo new > {ROTATED[2]}")
    again = _files(_run(inv, tmp_path))
    for name, old in ((ROTATED[0], old_plain), (ROTATED[2], old_error)):
        f = again["web1", name]
        assert (f.outcome, f.resumed_from, f.copied) == ("replaced", 0, f.size)
        assert f.moved_to == str(web1 / f"{name}.replaced-1")
        assert (web1 / f"{name}.replaced-1").read_bytes() == old
        assert (web1 / name).read_bytes() == (quiet / name).read_bytes()
    assert "replaced-1" not in _verified(web1)
    assert _files(_run(inv, tmp_path))["web1", ROTATED[0]].outcome == "unchanged"


@pytest.mark.lab
def test_a_copy_that_fails_its_checksum_is_kept_aside_and_copied_again(
    lab: LabLayout, quiet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = archive.file_sha256

    def corrupt(path: Path) -> str:  # as if bytes were damaged on the way
        return "0" * 64 if path.name == ROTATED[0] else real(path)

    inv = load(lab.cluster_file)
    monkeypatch.setattr(archive, "file_sha256", corrupt)
    report = _run(inv, tmp_path)
    f = _files(report)["web1", ROTATED[0]]
    assert not report.ok and f.outcome == "failed" and "checksum" in (f.reason or "")
    assert f.moved_to is not None and f.moved_to.endswith(f"{ROTATED[0]}.bad-1")
    assert Path(f.moved_to).exists() and not Path(f.local).exists()
    assert ROTATED[0] not in _verified(Path(f.local).parent)
    monkeypatch.setattr(archive, "file_sha256", real)
    assert _files(_run(inv, tmp_path))["web1", ROTATED[0]].outcome == "copied"


@pytest.mark.lab
def test_since_keeps_only_files_changed_on_or_after_that_day(
    lab: LabLayout, quiet: Path, tmp_path: Path
) -> None:
    _sh(lab, "web1", f"cd {quiet} && touch -d '3 days ago' {ROTATED[1]} {ROTATED[2]}")
    inv = load(lab.cluster_file)
    recent = _files(_run(inv, tmp_path / "recent", since=date.today() - timedelta(days=1)))
    assert ("web1", ROTATED[0]) in recent and ("web1", "access.hot.web1.log") in recent
    assert ("web1", ROTATED[1]) not in recent and ("web1", ROTATED[2]) not in recent
    older = _files(_run(inv, tmp_path / "older", since=date.today() - timedelta(days=4)))
    assert {("web1", name) for name in ROTATED} <= older.keys()


@pytest.mark.lab
def test_an_unreachable_node_is_reported_and_the_others_are_collected(
    lab: LabLayout,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = lab.cluster_file.read_text()
    dead = f"{lab.block}.250"  # nothing listens there
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(text.replace(f"address: {lab.address('web2')}}}", f"address: {dead}}}"))
    inv = load(cluster)
    monkeypatch.chdir(tmp_path)  # a short DEST, as an operator's would be
    args = _parser().parse_args(["archive", "--timeout", "5"])
    assert cli_collect.run(args, inv) == 1
    out = capsys.readouterr().out
    assert "web2: connection refused" in out and "FAILED" in out
    assert max(map(len, out.splitlines())) <= 80
    for node in ("web1", "web3"):
        assert any((tmp_path / "archive").glob(f"*/{node}/error.{node}.log"))


@pytest.mark.lab
@pytest.mark.parametrize("when", ["listing", "closing"])
def test_a_box_that_hangs_is_given_up_on_and_the_others_are_collected(
    lab: LabLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    monkeypatch.setattr(link, "CLOSE_TIMEOUT", 1.0)
    run = collect_module._NodeJob.run
    with contextlib.ExitStack() as hung:

        async def hanging_run(job: Any, cutoff: float | None) -> NodeReport:
            # Connected, its SFTP session open: web2 freezes before its node's files
            # are listed, or after they are all copied, as the session is closed.
            if job.box == "web2" and when == "listing":
                hung.enter_context(hung_sshd(lab, "web2"))
            report = await run(job, cutoff)
            if job.box == "web2" and when == "closing":
                hung.enter_context(hung_sshd(lab, "web2"))
            return report

        monkeypatch.setattr(collect_module._NodeJob, "run", hanging_run)
        started = time.monotonic()
        report = asyncio.run(collect(load(lab.cluster_file), tmp_path, timeout=2, day=TODAY))
        took = time.monotonic() - started
    nodes = {n.node: n for n in report.nodes}
    if when == "listing":
        assert "no answer within 2 s" in (nodes["web2"].error or ""), nodes["web2"]
    else:
        assert nodes["web2"].error is None and nodes["web2"].files
    assert nodes["web1"].error is None and nodes["web3"].error is None
    assert nodes["web1"].files and nodes["web3"].files
    assert took < 5, f"took {took:.1f} s"


@pytest.mark.lab
def test_json_report_is_the_versioned_schema(
    lab: LabLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _parser().parse_args([str(tmp_path), "--json", "--since", "today"])
    assert cli_collect.run(args, load(lab.cluster_file)) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "hotspare.logs-collect/1" and document["ok"] is True
    assert document["since"] == date.today().isoformat()
    assert [n["node"] for n in document["nodes"]] == ["web1", "web2", "web3"]
    assert {f["outcome"] for n in document["nodes"] for f in n["files"]} == {"copied"}


@pytest.mark.lab
def test_an_unusable_dest_is_one_clear_message_and_no_traceback(
    lab: LabLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "a-file"
    dest.write_text("not a directory")
    assert cli_collect.run(_parser().parse_args([str(dest)]), load(lab.cluster_file)) == 1
    err = capsys.readouterr().err
    assert "Not a directory" in err and "DEST" in err and "Traceback" not in err


@pytest.mark.lab
def test_a_second_run_into_the_same_day_is_refused_while_one_runs(
    lab: LabLayout, tmp_path: Path
) -> None:
    day = tmp_path / TODAY.isoformat()
    day.mkdir()
    fd = os.open(day, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(CollectError, match="another `logs collect`"):
            _run(load(lab.cluster_file), tmp_path)
    finally:
        os.close(fd)
