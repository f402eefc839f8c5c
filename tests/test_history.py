"""The monitor's history (console/history/): every snapshot back as it was, kept small and bounded.

Snapshots recorded are read back equal, at their own moment and between
two; only what changed is written, with a keyframe at each segment's start
and every K records; old and oversized history is pruned by an injected
clock; a torn last line and a damaged line are skipped with a note naming
the file and line; an export opens elsewhere; the writer's memory does not
grow with the records.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from console.history import History, HistoryError, Recording, export, patch
from console.state import codec
from console.state.model import Alarm, ClusterState
from tests.support.history_parts import steady
from tests.support.verdict_parts import cluster_state, nodes_with

START = 1_796_666_400.0  # 2026-12-07 18:00:00 UTC: segments split on the hour
LAG = Alarm("replica-lag", "warning", ("db2",), "db2 lags 5 MB behind db1")


def varied(count: int, start: float = START) -> list[ClusterState]:
    """COUNT snapshots 2 s apart that change in every way a site does (lists grow and shrink)."""
    states = []
    for n, state in enumerate(steady(cluster_state(start), count)):
        if n % 9 == 3:
            state = replace(state, alarms=(*state.alarms, LAG))
        if n % 13 == 5:
            state = replace(state, nodes=nodes_with("web2", health_status=None, load=None))
        if n % 17 == 11:
            state = replace(state, databases=state.databases[:1])
        states.append(state)
    return states


def record(directory: Path, states: list[ClusterState], **options: Any) -> None:
    with History.open(directory, **options) as history:
        for state in states:
            assert history.record(state)


def files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def plain_lines(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as file:
        return [json.loads(line) for line in file]


def test_every_moment_reads_back_as_it_was_recorded(tmp_path: Path) -> None:
    states = varied(120)
    # Segments of 60 s: four of them, each closed and gzipped, the reader seeking by member.
    record(tmp_path / "h", states, keyframe_every=7, segment_seconds=60)
    assert len(files(tmp_path / "h")) == 4
    recording = Recording.open(tmp_path / "h")
    assert recording.notes == [] and recording.cluster == "lab"
    assert list(recording.times()) == [s.taken_at for s in states]
    assert recording.span == (states[0].taken_at, states[-1].taken_at)
    for state in reversed(states):  # backwards: every read from its keyframe
        assert recording.at(state.taken_at) == state
        assert recording.at(state.taken_at + 1.5) == state  # in force until the next
    assert list(recording) == states
    with pytest.raises(HistoryError, match="is before the recording: it begins at 2026-12-07"):
        recording.at(states[0].taken_at - 1)


def test_a_quiet_site_writes_a_patch_much_smaller_than_its_snapshot(tmp_path: Path) -> None:
    states = list(steady(cluster_state(START), 200))
    record(tmp_path / "h", states, compress=False)
    (segment,) = files(tmp_path / "h")
    sizes = [len(line) for line in segment.read_bytes().splitlines()]
    whole = len(json.dumps(codec.encode(states[0]), separators=(",", ":")))
    per_patch = sum(sizes[2:]) / len(sizes[2:])  # after the header and the keyframe
    print(f"full document {whole} B, patch line {per_patch:.0f} B ({per_patch / whole:.0%})")
    assert per_patch < whole / 2


def test_a_keyframe_opens_every_segment_and_comes_every_k_records(tmp_path: Path) -> None:
    record(tmp_path / "h", varied(100), keyframe_every=10, segment_seconds=60, compress=False)
    segments = files(tmp_path / "h")
    assert len(segments) == 4
    for segment in segments:
        head, *records = plain_lines(segment)
        assert head["schema"] == "hotspare.recording/1" and head["keyframe_every"] == 10
        kinds = ["k" if "k" in r else "p" for r in records]
        assert kinds == [("k" if n % 10 == 0 else "p") for n in range(len(kinds))], kinds


def test_segments_older_than_the_span_go(tmp_path: Path) -> None:
    now = [START]
    directory = tmp_path / "h"
    with History.open(directory, span=600, segment_seconds=60, clock=lambda: now[0]) as history:
        for state in steady(cluster_state(START), 900):  # 30 minutes
            now[0] = state.taken_at
            history.record(state)
    recording = Recording.open(directory)
    assert recording.span is not None
    first, last = recording.span
    # Kept: the span, plus at most the minute being filled when the older one went.
    assert last - 600 - 60 <= first <= last - 600, (first, last)


def test_the_oldest_segments_go_first_when_the_bytes_run_over(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    limit = 64 * 1024
    states = list(steady(cluster_state(START), 1500))
    with History.open(directory, max_bytes=limit, compress=False) as history:
        for state in states:
            history.record(state)
            assert history.size <= limit + 4096  # one record over, at the most
    assert sum(p.stat().st_size for p in files(directory)) <= limit
    recording = Recording.open(directory)
    assert recording.times()[-1] == states[-1].taken_at  # the newest are kept
    assert recording.at(states[-1].taken_at) == states[-1]
    assert len(recording) < len(states) and len(files(directory)) > 2


def test_a_torn_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    states = varied(30)
    history = History.open(directory, keyframe_every=8)
    for state in states:
        history.record(state)
    (segment,) = files(directory)
    with segment.open("ab") as file:
        file.write(b'{"t":1796666500.1,"p":[[["nodes",0,"hea')  # killed mid-write
    recording = Recording.open(directory)
    assert list(recording) == states
    (note,) = recording.notes
    assert f"{segment} line {30 + 2}: a torn last line" in note, note
    history.close()  # closing drops the torn line: the closed segment reads clean
    reopened = Recording.open(directory)
    assert reopened.notes == [] and list(reopened) == states


def test_a_damaged_line_is_named_and_the_rest_still_reads(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    states = varied(40)
    record(directory, states, keyframe_every=10, compress=False)
    (segment,) = files(directory)
    text = segment.read_bytes().splitlines(keepends=True)
    # Line 6 (moment 4: a header and a keyframe come first) is no longer JSON; line 25
    # (moment 23) carries a value its field cannot hold.
    text[5] = b"garbage\n"
    tampered = json.loads(text[24])
    tampered["p"].append([["databases", 0, "timeline"], "three"])
    text[24] = json.dumps(tampered).encode() + b"\n"
    segment.write_bytes(b"".join(text))
    recording = Recording.open(directory)
    assert recording.notes == [
        f"{segment} line 6: not JSON (Expecting value: line 1 column 1 (char 0)); skipped, "
        "with the moments after it up to the next keyframe"
    ]
    times = recording.times()
    assert states[4].taken_at not in times and states[9].taken_at not in times  # line 6 to 11
    assert recording.at(states[3].taken_at) == states[3]
    assert recording.at(states[10].taken_at) == states[10]  # the next keyframe
    with pytest.raises(HistoryError) as raised:
        recording.at(states[23].taken_at)
    assert f"{segment} line 25 (2026-12-07 18:00:" in str(raised.value)
    assert "databases[0].timeline: int expected" in str(raised.value)
    read = list(recording)
    # The bad value stays until moment 28 sets the list of databases whole (varied: n % 17 == 11).
    assert read == states[:4] + states[10:23] + states[28:]
    assert len(recording.notes) == 1 + 5


def test_an_export_opens_elsewhere_whole_or_a_range(tmp_path: Path) -> None:
    states = varied(150)
    record(tmp_path / "h", states, keyframe_every=20, segment_seconds=120)
    recording = Recording.open(tmp_path / "h")
    whole = export(recording, tmp_path / "site.recording.gz")
    assert whole.moments == 150
    assert (whole.first, whole.last) == (states[0].taken_at, states[-1].taken_at)
    assert stat.S_IMODE(whole.path.stat().st_mode) == 0o600
    moved = tmp_path / "elsewhere" / "copy.gz"
    moved.parent.mkdir()
    moved.write_bytes(whole.path.read_bytes())
    opened = Recording.open(moved)
    assert list(opened) == states and opened.cluster == "lab" and opened.notes == []
    part = export(recording, tmp_path / "part.gz", states[33].taken_at - 0.5, states[77].taken_at)
    assert part.moments == 45
    with gzip.open(part.path, "rt") as file:
        head = json.loads(file.readline())
    assert head == {
        "schema": "hotspare.recording/1",
        "cluster": "lab",
        "from": states[33].taken_at,
        "to": states[77].taken_at,
        "keyframe_every": 60,
    }
    assert list(Recording.open(part.path)) == states[33:78]
    with pytest.raises(HistoryError, match="no moment recorded from"):
        export(recording, tmp_path / "none.gz", START - 100, START - 50)


def test_the_alarm_moments_come_from_the_index(tmp_path: Path) -> None:
    states = list(steady(cluster_state(START), 30))
    states[10:20] = [replace(s, alarms=(LAG,)) for s in states[10:20]]
    record(tmp_path / "h", states, keyframe_every=4)
    changes = Recording.open(tmp_path / "h").alarm_moments()
    key = ("replica-lag", "warning", ("db2",))
    assert [(c.at, c.raised, c.cleared) for c in changes] == [
        (states[10].taken_at, (key,), ()),
        (states[20].taken_at, (), (key,)),
    ]


def test_the_directory_is_private_and_has_one_writer(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    with History.open(directory) as history:
        history.record(cluster_state(START))
        assert not history.record(cluster_state(START))  # the same moment again
        assert not history.record(cluster_state(START - 5))  # the clock stepped back
        with pytest.raises(HistoryError, match=f"another process records into {directory}"):
            History.open(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert len(Recording.open(directory)) == 1


def _deep_size(value: object, seen: set[int] | None = None) -> int:
    seen = set() if seen is None else seen
    if id(value) in seen or callable(value):
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set):
        size += sum(_deep_size(v, seen) for v in value)
    elif hasattr(value, "__dict__"):
        size += _deep_size(vars(value), seen)
    return size


def test_the_writer_does_not_grow_with_the_records(tmp_path: Path) -> None:
    sizes = []
    with History.open(tmp_path / "h", keyframe_every=50) as history:
        for n, state in enumerate(steady(cluster_state(START), 1000), start=1):
            history.record(state)
            if n in (100, 1000):
                sizes.append(_deep_size(history))
    assert sizes[1] <= sizes[0] * 1.05, sizes


def test_a_writer_killed_mid_record_leaves_a_readable_history(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    script = textwrap.dedent(
        f"""
        import sys
        from console.history import History
        from tests.support.history_parts import steady
        from tests.support.verdict_parts import cluster_state
        history = History.open({str(directory)!r}, keyframe_every=25)
        for n, state in enumerate(steady(cluster_state({START}), 10**6)):
            history.record(state)
            if n == 200:
                print("recording", flush=True)
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "recording\n"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    recording = Recording.open(directory)
    assert len(recording) > 200
    assert all("torn last line" in note for note in recording.notes), recording.notes
    last = recording.at(recording.times()[-1])
    assert last.taken_at == recording.times()[-1]
    with History.open(directory) as history:  # the next monitor closes what was left open
        assert all("torn last line" in note for note in history.notes)
    assert Recording.open(directory).notes == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": 1, "b": [1, 2]}, {"a": 1.0, "b": [1, 3], "c": None}),
        ({"a": {"x": True}}, {"a": {"x": 1}}),
        ({"l": [1, 2, 3]}, {"l": [1]}),
        ({"gone": 1, "n": {"deep": [{"k": "v"}]}}, {"n": {"deep": [{"k": "w", "k2": 2}]}}),
    ],
)
def test_a_patch_turns_the_old_document_into_the_new_and_leaves_the_old(old: Any, new: Any) -> None:
    before = json.dumps(old)
    operations = patch.diff(old, new)
    rebuilt = patch.apply(old, json.loads(json.dumps(operations)))
    assert rebuilt == new and json.dumps(rebuilt) == json.dumps(new)
    assert json.dumps(old) == before


def test_a_patch_that_does_not_fit_says_where() -> None:
    with pytest.raises(patch.PatchError, match=r"nodes\[4\]\.name: not in the document"):
        patch.apply({"nodes": [{"name": "web1"}]}, [[["nodes", 4, "name"], "x"]])
    with pytest.raises(patch.PatchError, match="is not an operation"):
        patch.apply({}, [["a", 1, 2]])


def test_the_command_line_says_the_span_and_exports_a_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from console import cli

    states = varied(60)
    record(tmp_path / "h", states)
    assert cli.main(["history", "--dir", str(tmp_path / "h"), "info"]) == 0
    out = capsys.readouterr().out
    assert "span       2026-12-07 18:00:01 UTC to 2026-12-07 18:01:59 UTC (2 min)" in out, out
    assert "moments    60" in out and "changes of the alarm set" in out
    target = tmp_path / "part.gz"
    argv = ["--from", "2026-12-07T18:00:30 UTC", "--to", "2026-12-07T18:01:00 UTC"]
    assert cli.main(["history", "--dir", str(tmp_path / "h"), "export", str(target), *argv]) == 0
    assert "exported 15 moments" in capsys.readouterr().out
    inside = [s for s in states if START + 30 <= s.taken_at <= START + 60]
    assert list(Recording.open(target)) == inside
    assert cli.main(["history", "--dir", str(tmp_path / "nowhere"), "info"]) == 1
    assert "no recording at" in capsys.readouterr().err


def test_a_close_cut_short_leaves_one_copy_of_each_moment(tmp_path: Path) -> None:
    directory = tmp_path / "h"
    states = varied(20)
    history = History.open(directory, compress=False)
    for state in states:
        history.record(state)
    (plain,) = files(directory)
    history.close()
    (closed,) = files(directory)
    plain.write_bytes(closed.read_bytes())  # as if killed between the rename and the unlink
    assert list(Recording.open(directory)) == states
    assert Recording.open(directory).notes == []
    with History.open(directory):
        assert files(directory) == [closed]


def test_a_moment_asked_twice_is_not_patched_twice(tmp_path: Path) -> None:
    states = list(steady(cluster_state(START), 6))
    # A free-form field whose key comes and goes: a patch that deletes.
    held = replace(states[1], action=_lock_with_memo({"step": 1}))
    states[1] = held
    states[2] = replace(states[2], action=_lock_with_memo({}))
    record(tmp_path / "h", states)
    recording = Recording.open(tmp_path / "h")
    for state in (states[2], states[2], states[1], states[3], states[3]):
        assert recording.at(state.taken_at) == state


def _lock_with_memo(memo: dict[str, Any]) -> Any:
    from tests.test_runbook_units import held

    return replace(held(), memo=memo)
