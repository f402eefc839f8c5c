"""`hotspare promote` on the Patroni lab goes through Patroni, under a committing writer.

Patroni decides and does the switchover (hotspare asks its REST API, and
never runs pg_ctl or pg_promote there itself); what must hold is the safety
model's: no acknowledged commit lost, never two writable members at any probe.
"""

from __future__ import annotations

from functools import partial

import pytest

from console.lab import patroni
from console.lab.layout import LabLayout
from tests.support.dbwatch import Watch, Writer
from tests.support.labclient import eventually, hotspare

pytestmark = pytest.mark.lab


def test_a_switchover_through_patroni_and_back_loses_no_commit_and_never_has_two_primaries(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    first = eventually(lambda: patroni.leader(lab), timeout=30)
    candidate = next(db for db in lab.db_names if db != first)
    writer, watch = Writer(lab, seconds=120).start(), Watch(lab, seconds=120).start()
    try:
        for target in (candidate, first):
            plan_code, plan = hotspare(lab, capsys, "promote", target, "--dry-run")
            assert plan_code == 0, plan
            said = " ".join(str(step) for step in plan["plan"]["steps"])
            assert "Patroni" in said and "pg_ctl" not in said and "pg_promote" not in said, said
            code, answer = hotspare(lab, capsys, "promote", target, "--confirm", target)
            assert code == 0, answer
            eventually(partial(_leads, lab, target), timeout=30)
            # The old leader comes back as a replica, streaming from the new one.
            eventually(lambda: len(patroni.streaming(lab)) == 2, timeout=60)
        eventually(lambda: len(writer.acked) > 50, timeout=20)
    finally:
        writer.stop()
        watch.stop()
    print(
        f"{len(writer.acked)} commits acknowledged, {writer.errors} refused; "
        f"longest gap {writer.longest_gap():.2f} s; primaries seen {watch.primaries_seen()}"
    )
    assert watch.both_writable() == [], watch.both_writable()[:3]
    assert watch.primaries_seen()[-2:] == [candidate, first]
    for member in lab.db_names:
        eventually(partial(_has_every_commit, writer, member), timeout=20)


def _leads(lab: LabLayout, member: str) -> bool:
    return patroni.leader(lab) == member


def _has_every_commit(writer: Writer, member: str) -> bool:
    return not writer.missing_on(member)
