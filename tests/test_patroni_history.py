"""`hotspare patroni history` without a Patroni: reading /history, the table, the JSON.

Also a member's own /patroni answer. history.json was read from the Patroni
lab's Patroni 4.1.5 after two switchovers, member_*.json from the same
Patroni. Where curl would run on a box, a canned answer stands in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from console.actions.context import Context
from console.cli import main
from console.cli import patroni as cli_patroni
from console.errors import Exit
from console.probes.patroni import PatroniProbeError
from console.probes.patroni_rest import HistoryLine, MemberStatus, parse_history, parse_member
from console.ssh import RemoteTimeout, Result
from tests.support.patroni_parts import INV, URL, answered, fixture


def test_the_history_is_read_line_by_line_older_lines_padded() -> None:
    lines = parse_history(fixture("history"))
    assert lines[0] == HistoryLine(
        1, 117440672, "no recovery target specified", "2026-12-07T12:35:21.322292+00:00", "db2"
    )
    assert [line.new_leader for line in lines] == ["db2", "db1"]
    # Histories written by Patroni before 1.6 have neither the time nor the new leader.
    old = parse_history('[[1, 25165984, "no recovery target specified"], [2, 5, "x", null]]')
    assert [(line.timestamp, line.new_leader) for line in old] == [("", ""), ("", "")]
    assert parse_history("[]") == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Service Unavailable", "Patroni's /history answer is not JSON"),
        ('{"history": []}', "a JSON object at the top, not a list"),
        ("[[1, 2]]", "line 1 as a list of 2, not [timeline, lsn, reason, ...]"),
        ('[[1, 2, "r", "t", "db1", "extra"]]', "line 1 as a list of 6"),
        ('["1, 2, r"]', "line 1 as a text"),
        ('[[true, 2, "r"]]', "line 1's timeline as True, not a whole number"),
        ('[[1, "0/5000060", "r"]]', "line 1's LSN as '0/5000060', not a whole number"),
        ('[[1, -2, "r"]]', "line 1's LSN as -2"),
        ('[[1, 2, "r", "t", 3]]', "line 1's new leader as a number"),
        ('[[1, 2, "r", "t", "db\\u202e1"]]', "control characters in line 1's new leader"),
    ],
)
def test_a_history_out_of_shape_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(PatroniProbeError, match="is patroni_url Patroni's REST API") as raised:
        parse_history(text)
    assert says in str(raised.value)


# --- reading /patroni ---------------------------------------------------------------------


def test_a_members_own_status_is_read_from_patronis_answer() -> None:
    replica = parse_member(fixture("member_replica"))
    assert replica == MemberStatus("running", "replica", "2026-12-07 12:34:27.281961+00:00", False)
    assert parse_member(fixture("member_leader")).role == "primary"
    pending = json.loads(fixture("member_replica")) | {"pending_restart": True}
    assert parse_member(json.dumps(pending)).pending_restart
    stopped = parse_member('{"state": "stopped"}')  # PostgreSQL down: no role, no start time
    assert (stopped.state, stopped.role, stopped.started) == ("stopped", "", "")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("<html>502 Bad Gateway</html>", "Patroni's /patroni answer is not JSON"),
        ('["running"]', "a JSON list at the top, not an object"),
        ('{"role": "replica"}', "state as nothing"),
        ('{"state": 7}', "state as a number"),
        ('{"state": "running", "pending_restart": "yes"}', "pending_restart as a text"),
        ('{"state": "run\\u001b[2Jning"}', "control characters in state"),
    ],
)
def test_a_members_status_out_of_shape_says_what_and_where_to_look(text: str, says: str) -> None:
    with pytest.raises(PatroniProbeError, match=r"Check it in cluster\.yaml") as raised:
        parse_member(text)
    assert says in str(raised.value)


# --- `hotspare patroni history` ----------------------------------------------------------


def test_history_prints_as_patronictl_does_with_untrusted_text_made_inert() -> None:
    lines = parse_history(fixture("history"))
    assert cli_patroni.render(lines, "db1").splitlines() == [
        "TL        LSN  Reason                        Timestamp                         New Leader",
        " 1  117440672  no recovery target specified  2026-12-07T12:35:21.322292+00:00  db2",
        " 2  134217888  no recovery target specified  2026-12-07T12:35:33.090292+00:00  db1",
    ]
    odd = (HistoryLine(10, 5, "at \x1b[31mred\x1b[0m \u202emark", "", ""),)
    assert "at red \\u202emark" in cli_patroni.render(odd, "db1")
    assert "empty" in cli_patroni.render((), "db2") and "db2's Patroni" in cli_patroni.render(
        (), "db2"
    )


class _FakeMonitor:
    """A Monitor with links that answer nothing: each box's curl output is canned by box."""

    outputs: ClassVar[dict[str, str]] = {}

    def __init__(self, inv: Any, *_: Any, **__: Any) -> None:
        self.inv = inv
        self.links: dict[str, Any] = {}

    async def close(self) -> None:
        pass


async def _canned_run(self: Context, box: str, command: str, timeout: float = 0) -> Result:
    output = _FakeMonitor.outputs[box]
    if output == "timeout":
        raise RemoteTimeout(box, "the command did not finish within 8 s")
    return Result(0, output, "")


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import console.monitor

    monkeypatch.setattr(console.monitor, "Monitor", _FakeMonitor)
    monkeypatch.setattr(Context, "run", _canned_run)
    _FakeMonitor.outputs = {}
    return _FakeMonitor.outputs


def _history(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_patroni._history(argparse.Namespace(json="--json" in argv), lambda _: INV)
    out, err = capsys.readouterr()
    return code, out, err


def test_history_asks_the_databases_in_turn_and_prints_json_with_its_schema(
    canned: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    canned.update(db1="timeout", db2=answered(fixture("history")))
    code, out, _ = _history(capsys, "--json")
    document = json.loads(out)
    assert code == Exit.OK and document["schema"] == "hotspare.patroni-history/1"
    assert document["asked"] == "db2"
    assert document["history"][1] == {
        "timeline": 2,
        "lsn": 134217888,
        "reason": "no recovery target specified",
        "timestamp": "2026-12-07T12:35:33.090292+00:00",
        "new_leader": "db1",
    }


def test_history_when_no_patroni_answers_says_what_each_box_said(
    canned: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    canned.update(db1="timeout", db2=answered("<html>", 200))
    with pytest.raises(PatroniProbeError) as raised:
        _history(capsys)
    said = str(raised.value)
    assert said.startswith("no Patroni answered GET /history (db1: the command did not finish")
    assert "db2: Patroni's /history answer is not JSON" in said and "hotspare status" in said


def test_history_through_main_is_a_message_not_a_traceback(
    canned: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:

    lab = (Path(__file__).resolve().parent.parent / "cluster.yaml").read_text()
    declared = lab.replace(
        "database_defaults:\n", f"database_defaults:\n  manager: patroni\n  patroni_url: {URL}\n"
    )
    (tmp_path / "cluster.yaml").write_text(declared)
    canned.update(db1=answered("Service Unavailable", 503), db2=answered("", 0, exit=7))
    assert main(["patroni", "history", "--cluster", str(tmp_path / "cluster.yaml")]) == Exit.FAILED
    err = capsys.readouterr().err
    assert err.startswith("hotspare patroni history: no Patroni answered GET /history (db1: ")
    assert "Patroni answered 503" in err and "Traceback" not in err
    plain = tmp_path / "plain.yaml"
    plain.write_text(lab)
    assert main(["patroni", "history", "--cluster", str(plain)]) == Exit.USAGE
    assert "does not say Patroni manages any database" in capsys.readouterr().err
