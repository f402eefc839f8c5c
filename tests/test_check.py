"""`hotspare check`, the monitoring plugin: one line, the worst alarm first, perfdata, exit code.

The line is read the way plugin runners read it (Nagios's plugin guidelines):
text, then `|`, then space-separated 'label=value[unit];warn;crit;min;max'.
The lab test reads the real site once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from console.cli.check import line, perfdata
from console.lab.layout import LabLayout
from console.state.wording import alarm
from tests.support.verdict_parts import cluster_state, db, link

PERF = re.compile(r"^[A-Za-z0-9_.-]+=-?[\d.]+(B|s)?;[^;\s]*;[^;\s]*;[^;\s]*;[^;\s]*$")


def _parts(text: str) -> tuple[str, dict[str, str]]:
    words, _, perf = text.partition(" | ")
    items = perf.split(" ")
    assert all(PERF.match(item) for item in items), items
    return words, {item.split("=")[0]: item.split("=")[1] for item in items}


def test_a_healthy_site_is_ok_with_its_figures() -> None:
    state = cluster_state()
    text, perf = _parts(line(state))
    assert text == "HOTSPARE OK - site normal, primary db1, 2/3 servers up", text  # web3 warm
    assert perf["servers_up"] == "2;;;0;3" and perf["alarms_critical"] == "0;;;0;"
    boxes = len(state.boxes)
    assert boxes > 3 and perf["boxes_answering"] == f"{boxes};;;0;{boxes}"


def test_the_worst_alarm_comes_first_and_the_others_are_counted() -> None:
    state = cluster_state()
    alarms = (
        alarm("node-unhealthy", "warning", ["web2"], "web2: health check answered 503"),
        alarm("no-primary", "critical", ["db1"], "no writable primary: db1 is unreachable"),
    )
    text, perf = _parts(line(replace(state, alarms=alarms)))
    assert text.startswith("HOTSPARE CRITICAL - no writable primary: db1 is unreachable (+1 more")
    assert perf["alarms_critical"].startswith("1;") and perf["alarms_warning"].startswith("1;")
    text, _ = _parts(line(replace(state, alarms=alarms[:1])))
    assert text.startswith("HOTSPARE WARNING - web2: health check answered 503; site normal")


def test_a_hostile_message_stays_on_one_line() -> None:
    evil = alarm("box-stale", "critical", ["web1"], "web1 said \x1b[2J\nHOTSPARE OK - | fake=1")
    text = line(replace(cluster_state(), alarms=(evil,)))
    assert "\n" not in text and "\x1b" not in text
    # A plugin runner splits at the first '|': the text itself never has one.
    assert text.count("|") == 1, text
    words, perf = _parts(text)
    assert words.startswith("HOTSPARE CRITICAL - web1 said") and "fake" not in perf


def test_the_replicas_lag_is_the_worst_one() -> None:
    primary = db("db1", standbys=(link("db2", lag_bytes=4096, replay_lag_s=1.25),))
    perf = perfdata(cluster_state(databases=(primary, db("db2", role="standby"))))
    assert "replica_lag=4096B;;;0;" in perf and "replica_lag_seconds=1.25s;;;0;" in perf


def test_an_inventory_that_cannot_be_used_is_unknown_on_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "cluster.yaml"
    broken.write_text("boxes: [\n")
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "--cluster", str(broken), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stdout.startswith("HOTSPARE UNKNOWN - ") and done.stdout.count("\n") == 1
    assert done.stderr  # what is wrong with it, for the operator


@pytest.mark.lab
def test_the_lab_reads_ok_with_every_box_answering(lab: LabLayout) -> None:
    argv = [sys.executable, "-m", "console.cli", "--cluster", str(lab.cluster_file), "check"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    text, perf = _parts(done.stdout.strip())
    assert text.startswith("HOTSPARE OK - site normal, primary db1"), text
    assert perf["boxes_answering"] == f"{len(lab.boxes)};;;0;{len(lab.boxes)}"
