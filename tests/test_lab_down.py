"""`lab down` stops everything the lab started and leaves nothing listening."""

from __future__ import annotations

import pytest

from console.lab import control, procs
from console.lab.layout import LabLayout

pytestmark = pytest.mark.lab

DOWN_BLOCK = "127.0.98"


def test_lab_up_twice_then_down_leaves_no_process_and_no_listener() -> None:
    lab = LabLayout.for_block(DOWN_BLOCK, web_nodes=2)
    lines: list[str] = []
    control.down(lab, lines.append, purge=True)
    try:
        first = control.up(lab, lines.append)
        assert first.up, first
        pids = {s.name: s.pid for s in first.services}
        again = control.up(lab, lines.append)  # idempotent: nothing restarted
        assert {s.name: s.pid for s in again.services} == pids
        assert {address for address, _ in procs.listeners(DOWN_BLOCK)} == {
            lab.host_address,
            *(lab.address(box) for box in lab.boxes),
        }
        recorded = procs.recorded(lab.pid_dir)
    finally:
        after = control.down(lab, lines.append, purge=True)
    assert after.listeners == ()
    assert not any(s.running for s in after.services)
    assert not any(procs.is_alive(proc) for proc in recorded.values())
    assert not lab.root.exists()
