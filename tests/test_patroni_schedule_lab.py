"""`hotspare patroni switchover MEMBER --at TIME` and `cancel-switchover` on the Patroni lab.

Patroni carries the switchover out by itself at TIME, under a committing
writer; what must hold is the safety model's: no acknowledged commit lost,
never two writable members at any probe. Then a switchover an hour ahead is
scheduled and cancelled. Patroni's own ``GET /cluster`` is the judge, not
hotspare's reading alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from console.cli import main
from console.lab import patroni
from console.lab.layout import LabLayout
from tests.support.dbwatch import Watch, Writer
from tests.support.labclient import eventually, hotspare

pytestmark = pytest.mark.lab

AHEAD = 9  # seconds: time enough to plan, ask and read it back, short enough for CI


def test_a_scheduled_switchover_runs_at_its_time_losing_no_commit_and_one_is_cancelled(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    old = eventually(lambda: patroni.leader(lab), timeout=30)
    candidate = next(db for db in lab.db_names if db != old)
    writer, watch = Writer(lab, seconds=90).start(), Watch(lab, seconds=90).start()
    try:
        at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=AHEAD)
        asked = at.strftime("%Y-%m-%dT%H:%M:%S UTC")
        code, answer = hotspare(
            lab, capsys, "patroni", "switchover", candidate, "--at", asked, "--confirm", candidate
        )
        assert (code, answer["outcome"]) == (0, "done"), json.dumps(answer, indent=1)
        planned = {"at": at.isoformat(), "leader": old, "candidate": candidate}
        assert _status(lab, capsys)["patroni"]["scheduled_switchover"] == planned
        assert f"switchover {at.strftime('%Y-%m-%d %H:%M')}" in _status_text(lab, capsys)
        assert patroni.leader(lab) == old  # not before its time
        eventually(partial(_leads, lab, candidate), timeout=AHEAD + 20, every=0.2)
        late = (datetime.now(UTC) - at).total_seconds()
        assert -1.0 < late < 15.0, f"the leader changed {late:.1f} s after {asked}"
        # The new leader clears the key on its next loop, a moment after taking over.
        eventually(partial(_nothing_scheduled, lab), timeout=10, every=0.2)
        eventually(lambda: old in patroni.streaming(lab), timeout=30)

        # One an hour ahead, cancelled: Patroni no longer shows it.
        code, answer = hotspare(
            lab, capsys, "patroni", "switchover", old, "--at", "1h", "--confirm", old
        )
        assert (code, answer["outcome"]) == (0, "done"), json.dumps(answer, indent=1)
        assert (patroni.cluster(lab) or {}).get("scheduled_switchover", {}).get("to") == old
        code, answer = hotspare(lab, capsys, "patroni", "cancel-switchover", "--yes")
        assert (code, answer["outcome"]) == (0, "done"), json.dumps(answer, indent=1)
        assert "scheduled_switchover" not in (patroni.cluster(lab) or {})
        assert _status(lab, capsys)["patroni"]["scheduled_switchover"] is None
        code, answer = hotspare(lab, capsys, "patroni", "cancel-switchover", "--yes")
        assert (code, answer["outcome"]) == (3, "refused"), answer
        assert "Patroni has no switchover scheduled" in answer["reason"]
        eventually(lambda: len(writer.acked) > 50, timeout=20)
    finally:
        writer.stop()
        watch.stop()
    print(
        f"leader moved {late:.1f} s after its time; "
        f"{len(writer.acked)} commits acknowledged, {writer.errors} refused; "
        f"longest gap {writer.longest_gap():.2f} s; primaries seen {watch.primaries_seen()}"
    )
    assert watch.both_writable() == [], watch.both_writable()[:3]
    assert watch.primaries_seen()[-2:] == [old, candidate]
    for member in lab.db_names:
        eventually(partial(_has_every_commit, writer, member), timeout=20)


def _status(lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _, document = hotspare(lab, capsys, "status")
    assert isinstance(document, dict)
    return document


def _status_text(lab: LabLayout, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    main(["--cluster", str(lab.cluster_file), "status"])
    return " ".join(capsys.readouterr().out.split())  # the Patroni line wraps


def _nothing_scheduled(lab: LabLayout) -> bool:
    return "scheduled_switchover" not in (patroni.cluster(lab) or {})


def _leads(lab: LabLayout, member: str) -> bool:
    return patroni.leader(lab) == member


def _has_every_commit(writer: Writer, member: str) -> bool:
    return not writer.missing_on(member)
