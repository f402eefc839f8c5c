"""The log engine's pure parts: timestamps, line splitting, rings, merging, the tail command."""

from __future__ import annotations

import asyncio
import calendar
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from console.logs.lines import Chunk, Decoder, LineSplitter, LogLine, Ring, Source
from console.logs.marks import brief, severity
from console.logs.runs import Run, RunCutter, RunMerger
from console.logs.since import SinceError, parse_since
from console.logs.stamps import StampReader, parse_offset
from console.logs.tail import Position, command, notice
from console.text import inert

ACCESS = Source("web1", "web1", "access", "hot", "/l/access.hot.web1.log")
ERROR = Source("web1", "web1", "error", None, "/l/error.web1.log")
T0 = calendar.timegm((2026, 11, 25, 23, 59, 1, 0, 0, 0))


@pytest.mark.parametrize(
    ("line", "offset", "expected"),
    [
        ('1.2.3.4 - - [25/Nov/2026:23:59:01 +0000] "GET / HTTP/1.1" 200 5', 0, T0),
        ('1.2.3.4 - - [26/Nov/2026:00:59:01 +0100] "GET / HTTP/1.1" 200 5', 0, T0),
        ("[25/Nov/2026:23:59:01][12.7f3a][-conn:1-] Notice: naviserver", 0, T0),
        ("[25/Nov/2026:20:59:01.250][1.2] Error: box in -0300", -3 * 3600, T0 + 0.25),
        ("[2026-11-25 23:59:01.500 +0000] [error] the site's own", 3600, T0 + 0.5),
        ("2026-11-25T23:59:01Z json logger", 0, T0),
        ("2026-11-26T01:59:01.1+02:00 iso with zone", 0, T0 + 0.1),
        ("2026-11-25 23:59:01,123 ERROR python logging", 0, T0 + 0.123),
        ("2026-11-25 23:59:01.000 UTC [123] LOG:  postgres", 7200, T0),
        ("[Wed Nov 25 23:59:01.000200 2026] [core:error] [pid 1] apache", 0, T0 + 0.0002),
        ("2026/11/26 00:59:01 [error] 12#0: nginx, box in +0100", 3600, T0),
    ],
)
def test_timestamps_of_the_common_formats(line: str, offset: int, expected: float) -> None:
    assert StampReader(offset).read(line) == pytest.approx(expected)


@pytest.mark.parametrize(
    "line",
    [
        "no stamp at all",
        "[31/Feb/2026:10:00:00 +0000] a date that does not exist",
        "[25/Foo/2026:10:00:00 +0000] no such month",
        "",
        "\ufffd\ufffd binary noise [",
    ],
)
def test_lines_without_a_readable_stamp_have_none(line: str) -> None:
    assert StampReader().read(line) is None


def test_the_box_zone_is_read_from_date_output() -> None:
    assert parse_offset("+0100\n") == 3600
    assert parse_offset("-0530") == -(5 * 3600 + 30 * 60)
    assert parse_offset("garbage") is None


def test_the_splitter_keeps_partial_lines_until_they_end() -> None:
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"abc", 1.0) is None
    assert splitter.feed(b"def\nxy", 2.0) == Chunk([b"abcdef"], {}, 2.0)
    assert splitter.feed(b"\n\n", 3.0) == Chunk([b"xy", b""], {}, 3.0)
    assert splitter.flush(4.0) is None


def test_a_splitter_started_inside_a_line_drops_the_part_before_the_first_newline() -> None:
    # --since starts at a block boundary, one byte early: the rest of that line is dropped.
    inside = LineSplitter()
    inside.skip_to_line_start()
    assert inside.feed(b'00 +0000] "GET /x', 1.0) is None
    assert inside.feed(b' HTTP/1.1" 200\nwhole\nnext', 2.0) == Chunk([b"whole"], {}, 2.0)
    # Started one byte before a line's start, that byte is its newline: the line is kept.
    at_start = LineSplitter()
    at_start.skip_to_line_start()
    assert at_start.feed(b"\nwhole\n", 3.0) == Chunk([b"whole"], {}, 3.0)


def test_a_line_past_the_limit_is_cut_and_says_by_how_much() -> None:
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"0123456789ABCDEF", 1.0) is None  # held, already cut
    assert splitter.feed(b"GHIJ", 1.0) is None
    assert splitter.feed(b"K\nshort\n" + b"x" * 25 + b"\n", 2.0) == Chunk(
        [b"0123456789", b"short", b"x" * 10], {0: 11, 2: 15}, 2.0
    )
    assert splitter.feed(b"tail without newline", 3.0) is None
    assert splitter.flush(4.0) == Chunk([b"tail witho"], {0: 10}, 4.0)


def _chunk(*lines: bytes, arrived: float = 0.0) -> Chunk:
    return Chunk(list(lines), {}, arrived)


def test_a_full_ring_drops_its_oldest_lines_and_counts_them() -> None:
    ring = Ring(3)
    ring.push(_chunk(b"A", b"B"))
    ring.push(Chunk([b"C", b"D", b"E"], {2: 7}, 0.0))
    chunks, dropped = ring.take()
    assert chunks == [Chunk([b"C", b"D", b"E"], {2: 7}, 0.0)] and dropped == 2
    ring.push(Chunk([b"F", b"G", b"H", b"I"], {3: 5}, 0.0))
    assert ring.take() == ([Chunk([b"G", b"H", b"I"], {2: 5}, 0.0)], 1)
    assert ring.take() == ([], 0)


def test_a_lossless_ring_makes_its_reader_wait_instead() -> None:
    async def go() -> tuple[bool, bool]:
        ring = Ring(2, lossless=True)
        ring.push(_chunk(b"a", b"b", b"c"))
        waiter = asyncio.ensure_future(ring.room())
        await asyncio.sleep(0.01)
        blocked = not waiter.done()
        chunks, dropped = ring.take()
        await asyncio.sleep(0.01)
        return blocked and len(chunks[0].lines) == 3 and dropped == 0, waiter.done()

    assert asyncio.run(go()) == (True, True)


def test_the_decoder_makes_text_inert_and_places_unstamped_lines_after_their_message() -> None:
    decoder = Decoder(ERROR)
    chunks = [
        Chunk(
            [b"[2026-11-25 23:59:01 +0000] [error] boom\r", b"  at frame \x1b[31mone\xff"],
            {1: 3},
            100.0,
        ),
        _chunk(b"before any stamp", arrived=50.0),
    ]
    first, second, third = decoder.decode(chunks, 7)
    assert first.at == T0 and first.text.endswith("boom") and first.seq == 7
    assert second.at is None and second.when == T0 and second.cut == 3
    assert second.text == "  at frame \\x1b[31mone\ufffd"
    assert third.when == T0 and third.seq == 9  # still under the last stamped line of its file


def test_inert_shows_every_control_character_and_keeps_the_rest() -> None:
    assert inert("plain [b]markup[/b] ünïcode\ttab") == "plain [b]markup[/b] ünïcode\ttab"
    assert inert("\x1b]52;c;eA==\x07") == "\\x1b]52;c;eA==\\x07"
    assert inert("a\x00b\rc\x85d\u2028e\u202ef") == "a\\x00b\\x0dc\\x85d\\u2028e\\u202ef"


def _access(second: int, path: str) -> bytes:
    return (
        f'1.2.3.4 - - [25/Nov/2026:23:59:{second:02d} +0000] "GET {path} HTTP/1.1" 200 5'.encode()
    )


def test_runs_cut_a_chunk_where_its_time_changes_reading_few_stamps() -> None:
    cutter = RunCutter(ACCESS)
    lines = [_access(1, f"/{i}") for i in range(500)]
    lines += [_access(2, f"/{i}") for i in range(500, 1200)]
    lines += [b"  a continuation line without a stamp", _access(4, "/last")]
    read = cutter.stamps.read
    calls: list[str] = []

    def counted(line: str) -> float | None:
        calls.append(line)
        return read(line)

    cutter.stamps.read = counted  # type: ignore[method-assign]
    runs, next_seq = cutter.cut([Chunk(lines, {1199: 9}, 100.0)], 10)
    assert [(r.when - T0, r.seq, len(r.texts)) for r in runs] == [
        (0, 10, 500),
        (1, 510, 701),
        (3, 1211, 1),
    ]
    assert runs[1].texts[-1] == "  a continuation line without a stamp"  # stays under its line
    assert runs[1].cuts == {699: 9} and next_seq == 1212
    assert len(calls) < 40  # bisected, not read line by line


def test_runs_of_a_file_out_of_order_are_read_line_by_line() -> None:
    cutter = RunCutter(ACCESS)
    lines = [_access(5, "/a"), _access(3, "/b"), *(_access(6, f"/{i}") for i in range(20))]
    runs, _ = cutter.cut([_chunk(*lines)], 0)
    assert [(r.when - T0, len(r.texts)) for r in runs] == [(4, 1), (2, 1), (5, 20)]
    # Placed by its first and last stamps, a chunk that starts and ends in the
    # same second is taken as one run: a line out of order inside it goes with it.
    runs, _ = cutter.cut([_chunk(_access(5, "/a"), _access(3, "/b"), _access(5, "/c"))], 0)
    assert [(r.when - T0, len(r.texts)) for r in runs] == [(4, 3)]


def _run(source: Source, seq: int, when: float) -> Run:
    return Run(when, seq, source, [f"line {seq}"], {})


def test_the_run_merger_releases_what_no_busy_file_can_still_precede() -> None:
    other = Source("web2", "web2", "access", "hot", "/l/access.hot.web2.log")
    merger = RunMerger(hold=0.5)
    merger.push([_run(ACCESS, 1, 10.0), _run(ACCESS, 2, 12.0)], now=100.0)
    merger.push([_run(other, 3, 11.0)], now=100.0)
    # web2 has sent up to 11: web1's 10 and web2's 11 cannot be preceded any more.
    assert [r.seq for r in merger.release(100.1)] == [1, 3]
    # web1's 12 waits for web2, until web2 has been quiet for the hold.
    assert merger.release(100.4) == []
    assert [r.seq for r in merger.release(100.6)] == [2]
    merger.push([_run(other, 4, 9.0)], now=101.0)
    assert [r.seq for r in merger.release(None)] == [4]


def test_brief_lines_keep_what_matters_in_a_narrow_column() -> None:
    combined = '1.2.3.4 - - [25/Nov/2026:23:59:01 +0000] "POST /notes HTTP/1.1" 503 512 "-" "ua"'
    assert brief(_text(ACCESS, combined)) == "23:59:01 503 POST /notes 512"
    assert brief(_text(ERROR, "[2026-11-25 23:59:01.5 +0000] [error] x")) == "23:59:01 [error] x"
    assert brief(_text(ERROR, "free text")) == "free text"
    assert severity(_text(ACCESS, combined)) == "5xx"
    assert severity(_text(ACCESS, combined.replace("503", "404"))) is None
    assert severity(_text(ERROR, "[x] [error] boom")) == "error"
    assert severity(_text(ERROR, "[x] [warn] hmm")) == "warn"


def _text(source: Source, text: str) -> LogLine:
    return LogLine(source, 0, None, 0.0, text, 0, 0.0)


def test_since_understands_durations_clock_times_and_dates() -> None:
    now = 1_800_000_000.0
    assert parse_since("10m", now) == now - 600
    assert parse_since("1.5h", now) == now - 5400
    assert parse_since("2d", now) == now - 172800
    assert parse_since("2026-11-25 23:59:01+00:00", now) == T0
    with pytest.raises(SinceError, match="expected a duration"):
        parse_since("last tuesday", now)


def test_tail_notices_are_worded_for_the_operator() -> None:
    assert notice("tail: 'x' has been replaced;  following new file")[0] == (
        "the file was rotated or replaced; following the new one"
    )
    assert notice("tail: cannot open 'x' for reading: No such file or directory") == (None, False)
    assert notice("tail: 'x' has appeared;  following new file") == (None, True)
    assert notice("tail: x: file truncated")[1] is True


def _run_once(path: Path, backlog: int | None, resume: Position | None = None) -> list[str]:
    """The tail command run here with sh (not following): its header and the bytes it reads."""
    done = subprocess.run(
        ["sh", "-c", command(str(path), False, backlog, resume or Position())],
        capture_output=True,
        check=True,
        timeout=10,
    )
    return done.stdout.decode().splitlines()


def test_the_tail_command_starts_at_the_last_lines_even_behind_a_huge_one(tmp_path: Path) -> None:
    log = tmp_path / "access.hot.web1.log"
    log.write_bytes(b"one\ntwo\n" + b"H" * (3 * 1024 * 1024) + b"\nthree\n")
    out = _run_once(log, 2)
    assert out[0].startswith("tz ") and out[1].startswith("start fresh ")
    start = int(out[1].split()[3])
    assert start == len(b"one\ntwo\n") and out[2].startswith("HHH") and out[3] == "three"


def test_the_tail_command_resumes_only_in_the_same_file(tmp_path: Path) -> None:
    log = tmp_path / "error.web1.log"
    log.write_bytes(b"a\nb\nc\n")
    inode = str(log.stat().st_ino)
    assert _run_once(log, 1, Position(inode, 2))[1:] == [f"start resume {inode} 2", "b", "c"]
    assert _run_once(log, 1, Position("999999999", 2))[1:] == [f"start fresh {inode} 4", "c"]
    assert _run_once(tmp_path / "missing.log", 5) == []  # nothing to read, and no error
    assert _run_once(log, None)[2:] == ["a", "b", "c"]


def test_reading_once_stops_where_the_file_ended_when_asked(tmp_path: Path) -> None:
    # The file grows between the stat and the read: a stat that answers the
    # size before "late" was written stands in for that moment.
    log = tmp_path / "access.hot.web1.log"
    log.write_bytes(b"a\nb\nc\nlate\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "stat").write_text(
        f"#!/bin/sh\n{shutil.which('stat')} \"$@\" | awk '{{print $1, $2 - 5}}'\n"
    )
    (fake / "stat").chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", command(str(log), False, 2, Position())],
        capture_output=True,
        check=True,
        timeout=10,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
    )
    assert done.stdout.decode().splitlines()[2:] == ["b", "c"]
