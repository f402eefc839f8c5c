"""The replay's cursor (console/history/replay.py) and `hotspare replay`'s opening.

On a recorded story (tests/support/replay_parts.py: web2 unhealthy for 30
moments, then db2 made primary), the cursor steps, shifts by time, jumps
to the alarm changes and to a time, and the timeline up to any moment is
the events a console watching from the start would have shown, whatever
the chunk size and however little was read before.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from console import cli, when
from console.events import Event, changes, standing
from console.history import History, Recording, export
from console.history.replay import Replay, ReplayError, moment_of
from console.history.stand_in import inventory_of
from console.state.model import ClusterState
from screens.main import main
from tests.support.replay_parts import START, SWITCH, UNHEALTHY, recorded, story
from tests.support.verdict_parts import INV


@pytest.fixture(scope="module")
def states() -> list[ClusterState]:
    return story()


@pytest.fixture
def replay(tmp_path: Path, states: list[ClusterState]) -> Replay:
    return Replay(recorded(tmp_path / "h", states), chunk=37)


def watched(states: list[ClusterState], upto: int) -> list[Event]:
    """The events a console that watched STATES from the first would have shown up to UPTO."""
    found = list(standing(states[0]))
    for before, after in itertools.pairwise(states[: upto + 1]):
        found.extend(changes(before, after))
    return found


def test_the_cursor_opens_at_the_last_moment_and_steps_within_the_ends(replay: Replay) -> None:
    assert (replay.position, replay.time, len(replay)) == (399, START + 399, 400)
    replay.step(-1)
    assert (replay.position, replay.taken_at) == (398, START + 398)
    replay.step(5)
    assert replay.position == 399
    replay.first()
    replay.step(-1)
    assert (replay.position, replay.time) == (0, START)
    replay.last()
    assert replay.position == 399


def test_a_minute_is_the_moment_in_force_a_minute_away_even_across_a_gap(tmp_path: Path) -> None:
    # The monitor stopped for 10 minutes after moment 100.
    states = story(200)
    gapped = states[:101] + [replace(s, taken_at=s.taken_at + 600) for s in states[101:]]
    replay = Replay(recorded(tmp_path / "h", gapped))
    replay.go(START + 50)
    replay.shift(60)
    assert (replay.position, replay.age) == (100, pytest.approx(10.0))
    replay.shift(60)  # inside the gap: still moment 100, its data older
    assert (replay.position, replay.age) == (100, pytest.approx(70.0))
    for _ in range(8):
        replay.shift(60)
    assert (replay.position, replay.age) == (100, pytest.approx(550.0))
    replay.shift(60)  # out of it: moment 101 is at 701 s, moment 110 at 710 s
    assert (replay.position, replay.age) == (110, 0.0)
    replay.shift(-3600)
    assert (replay.position, replay.age) == (0, 0.0)
    assert replay.interval == 1.0


def test_the_alarm_keys_land_on_each_change_of_the_alarm_set(replay: Replay) -> None:
    replay.first()
    raised = replay.next_alarm()
    assert raised is not None and replay.position == UNHEALTHY.start
    assert [a[0] for a in raised.raised] == ["node-unhealthy"] and raised.cleared == ()
    assert replay.state().alarms[0].code == "node-unhealthy"
    cleared = replay.next_alarm()
    assert cleared is not None and replay.position == UNHEALTHY.stop
    assert replay.state().alarms == ()
    assert replay.next_alarm() is None and replay.position == UNHEALTHY.stop
    replay.last()
    assert replay.previous_alarm() == cleared and replay.position == UNHEALTHY.stop
    assert replay.previous_alarm() == raised
    assert replay.previous_alarm() is None and replay.position == UNHEALTHY.start


def test_going_to_a_time_takes_the_moment_in_force_and_refuses_one_outside(
    replay: Replay,
) -> None:
    replay.go(START + SWITCH - 0.5)
    assert replay.position == SWITCH - 1
    assert replay.state().verdicts.primaries == ("db1",)
    replay.go(START + SWITCH)
    assert replay.state().verdicts.primaries == ("db2",)
    for outside in (START - 1, START + 400):
        with pytest.raises(ReplayError) as refused:
            replay.go(outside)
        assert str(refused.value).endswith(
            "is outside the recording: it spans 2026-12-07 18:00:00 UTC to 2026-12-07 18:06:39 UTC"
        )
    assert replay.position == SWITCH


def test_times_count_from_the_recording_s_end_or_from_the_cursor(replay: Replay) -> None:
    assert moment_of("5m", replay) == START + 399 - 300
    assert moment_of("18:03 UTC", replay) == START + 180
    assert moment_of("2026-12-07T18:01:40 UTC", replay) == START + 100
    replay.go(START + 200)
    assert moment_of("+30s", replay) == START + 230
    assert moment_of("-1m", replay) == START + 140
    with pytest.raises(when.WhenError, match="is not a time"):
        moment_of("soon", replay)


@pytest.mark.parametrize("chunk", [1, 37, 120, 1000])
def test_the_timeline_up_to_any_moment_is_what_a_console_watching_showed(
    tmp_path: Path, states: list[ClusterState], chunk: int
) -> None:
    replay = Replay(recorded(tmp_path / "h", states), chunk=chunk)
    for upto in (399, 0, SWITCH - 1, SWITCH, UNHEALTHY.start, 250, 36, 37, 38):
        replay.go(START + upto)
        assert list(replay.timeline().events) == watched(states, upto)
    replay.go(START + SWITCH)
    last = replay.timeline().events[-1]
    assert (last.subject, last.text, last.at) == ("db2", "role standby -> primary", START + SWITCH)
    assert [e.text for e in replay.timeline(limit=2).events] == [
        "WAL receiver None -> streaming",
        "role standby -> primary",
    ]


def test_a_timeline_read_on_a_budget_says_from_when_until_read_ahead_completes_it(
    replay: Replay, states: list[ClusterState]
) -> None:
    replay.go(START + SWITCH)
    short = replay.timeline(budget=0)  # the cursor's own chunk only: 8, of 37 moments
    assert not short.complete and short.read_from == START + 296
    assert [e.text for e in short.events][-1] == "role standby -> primary"
    assert all(e.at >= START + 296 for e in short.events)
    assert replay.timeline(budget=1).read_from == START + 259  # and one before it
    read = 2
    while replay.read_ahead():
        read += 1
    assert read == 11  # every chunk once: 400 moments in chunks of 37
    assert replay.timeline(budget=0) == replay.timeline()
    assert list(replay.timeline(budget=0).events) == watched(states, SWITCH)


def test_playing_moves_on_by_recorded_time_and_stops_at_the_end(replay: Replay) -> None:
    replay.go(START + 390)
    assert replay.advance(2.5) and (replay.position, replay.time) == (392, START + 392.5)
    assert not replay.advance(60) and replay.position == 399


def test_an_empty_recording_cannot_be_replayed(tmp_path: Path) -> None:
    History.open(tmp_path / "h").close()
    with pytest.raises(ReplayError, match="holds no moment: nothing to replay yet"):
        Replay(Recording.open(tmp_path / "h"))


def test_the_stand_in_inventory_names_what_the_recording_shows(
    states: list[ClusterState],
) -> None:
    inv = inventory_of([states[0], states[-1]], Path("night.gz"))
    assert (inv.name, inv.environment.label, inv.environment.observer_only) == ("lab", "lab", True)
    assert [b.name for b in inv.boxes] == [b.name for b in INV.boxes]
    assert [(n.name, n.box, n.server) for n in inv.web_nodes] == [
        (n.name, n.box, n.server) for n in INV.web_nodes
    ]
    assert [d.name for d in inv.databases] == ["db1", "db2"]
    assert inv.balancer is not None and inv.balancer.box == "lb1"


def _args(*argv: str) -> argparse.Namespace:
    parser = cli.build_parser(lambda p, c: None)
    return parser.parse_args(["replay", *argv])


def test_replay_opens_an_exported_file_without_cluster_yaml(
    tmp_path: Path, states: list[ClusterState]
) -> None:
    from console.cli.replay import add_parser, opened

    def load(args: argparse.Namespace) -> None:
        raise AssertionError("no inventory is read for --from without --cluster")

    parser = cli.build_parser(lambda p, commands: add_parser(commands, load, lambda *a: 0))
    exported = export(recorded(tmp_path / "h", states), tmp_path / "night.recording.gz")
    args = parser.parse_args(["replay", "--from", str(exported.path), "--at", "18:05 UTC"])
    chosen = opened(args, load)
    assert chosen is not None
    inv, replay = chosen
    assert (replay.position, inv.name, inv.path) == (SWITCH, "lab", exported.path)
    assert replay.state().verdicts.primaries == ("db2",)


def test_replay_says_why_it_cannot_open_without_a_traceback(
    tmp_path: Path,
    states: list[ClusterState],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def said(*argv: str) -> tuple[int, str]:
        code = main(["replay", *argv])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err

    code, err = said("--from", str(tmp_path / "nowhere"))
    assert code == 1 and "no recording at" in err and "give a history directory or a file" in err
    History.open(tmp_path / "empty").close()
    code, err = said("--from", str(tmp_path / "empty"))
    assert code == 2 and "holds no moment: nothing to replay yet" in err
    recorded(tmp_path / "h", states)
    code, err = said("--from", str(tmp_path / "h"), "--at", "2026-12-07T17:00 UTC")
    assert code == 2
    assert "it spans 2026-12-07 18:00:00 UTC to 2026-12-07 18:06:39 UTC" in err
    code, err = said("--from", str(tmp_path / "h"), "--at", "later")
    assert code == 2 and "'later' is not a time" in err
    # The cluster's own history, never recorded on this host; another cluster's recording.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    text = (Path(__file__).parent.parent / "cluster.yaml").read_text()
    other = tmp_path / "other.yaml"
    other.write_text(text.replace("  name: lab\n", "  name: other\n", 1))
    code, err = said("--cluster", str(other))
    assert code == 2 and "no history of cluster 'other' here" in err
    assert "`hotspare monitor` records it while it runs" in err
    code, err = said("--cluster", str(other), "--from", str(tmp_path / "h"))
    assert code == 2 and "is a recording of cluster 'lab', not 'other'" in err
