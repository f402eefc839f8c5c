"""The lab copes with what promote, failover and rejoin leave behind.

They restart postmasters with pg_ctl, behind the lab's record, and may leave
db2 the primary with db1 streaming from it, or db1 stopped.
"""

from __future__ import annotations

import re
import time

import pytest

from console.lab import configs, control, pg, procs
from console.lab.layout import LabLayout, find_pg_bin

pytestmark = pytest.mark.lab

SWAP_BLOCK = "127.0.96"


def _pg_ctl(lab: LabLayout, db: str, action: str) -> None:
    """pg_ctl as the console runs it over SSH: as the lab user, not through the lab."""
    data = lab.data_dir(db)
    how = ["-l", str(lab.box_dir(db) / "log" / "postgresql.log"), "-w"]
    if action == "stop":
        how = ["-m", "fast"]
    pg._run_as_pg(lab, [f"{find_pg_bin()}/pg_ctl", "-D", str(data), *how, action])


def _pids(status: control.LabStatus) -> dict[str, int | None]:
    return {s.name: s.pid for s in status.services}


def _swap_roles_by_hand(lab: LabLayout) -> None:
    """Promote db2 and make db1 its standby, as a switchover would."""
    with pg.superuser(lab, "db1") as conn:
        conn.execute("CHECKPOINT")
    _pg_ctl(lab, "db1", "stop")
    with pg.superuser(lab, "db2") as conn:
        conn.execute("SELECT pg_promote()")
        deadline = time.monotonic() + 20
        while conn.execute("SELECT pg_is_in_recovery()").fetchone() != (False,):
            assert time.monotonic() < deadline, "db2 did not leave recovery"
            time.sleep(0.05)
        conn.execute("SELECT pg_create_physical_replication_slot('db1')")
    _make_standby(lab, "db1", of="db2")
    _pg_ctl(lab, "db1", "start")


def _make_standby(lab: LabLayout, db: str, of: str) -> None:
    data = lab.data_dir(db)
    conninfo = configs.standby_conninfo(lab, db, of)
    with (data / "postgresql.auto.conf").open("a") as auto:  # the later setting wins
        auto.write(f"primary_conninfo = '{conninfo}'\nprimary_slot_name = '{db}'\n")
    (data / "standby.signal").touch()
    procs.give(lab, data / "standby.signal")


def test_the_lab_adopts_restarted_postmasters_and_a_swapped_primary() -> None:
    lab = LabLayout.for_block(SWAP_BLOCK, web_nodes=2)
    lines: list[str] = []
    control.down(lab, lines.append, purge=True)
    try:
        first = control.up(lab, lines.append)
        assert first.up, first

        # pg_ctl restarts db1 behind the lab's record: status and up adopt it.
        _pg_ctl(lab, "db1", "stop")
        _pg_ctl(lab, "db1", "start")
        restarted = int((lab.data_dir("db1") / "postmaster.pid").read_text().split()[0])
        assert restarted != _pids(first)["postgres-db1"]
        seen = _pids(control.status(lab))
        assert seen == {**_pids(first), "postgres-db1": restarted}
        assert _pids(control.up(lab, lines.append)) == seen  # nothing restarted

        # db2 the primary, db1 its standby: up bootstraps db2, waits for db1.
        _swap_roles_by_hand(lab)
        lines.clear()
        swapped = control.up(lab, lines.append)
        assert swapped.up, swapped
        assert "db1: streaming from db2" in lines
        assert pg.primary(lab) == "db2"

        # Both stopped, db1 without standby.signal: only db2, the later, starts.
        pg.stop(lab, "db1")
        (lab.data_dir("db1") / "standby.signal").unlink()
        pg.stop(lab, "db2")
        lines.clear()
        pg.start_members(lab, lines.append)
        assert lines == ["db1: left stopped: it would be a second primary beside db2"]
        assert pg.primary(lab) == "db2"
        assert not pg.is_running(lab, "db1")

        # Both standbys: up says there is no primary.
        pg.stop(lab, "db2")
        _make_standby(lab, "db1", of="db2")
        _make_standby(lab, "db2", of="db1")
        with pytest.raises(procs.LabProcessError, match="no primary"):
            control.up(lab, lines.append)
        _pg_ctl(lab, "db2", "stop")  # down must find db2 by its postmaster.pid
        _pg_ctl(lab, "db2", "start")
        live = _pids(control.status(lab))
    finally:
        lines.clear()
        after = control.down(lab, lines.append, purge=True)
    assert live["postgres-db1"] and live["postgres-db2"]
    stopped = {
        name: int(pid) for name, pid in re.findall(r"stopped (\S+) \(pid (\d+)\)", "\n".join(lines))
    }
    assert stopped == {name: pid for name, pid in live.items() if pid}
    assert not any(procs.start_time(pid) for pid in stopped.values())
    assert after.listeners == ()
    assert procs.listeners(SWAP_BLOCK) == []  # nothing left, not even unrecorded
    assert not lab.root.exists()
