"""The human status table: fits 80 columns, says STALE and why, shows no markup."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from console.cli.tables import render
from console.state.model import ClusterState
from console.units import age, size
from tests.support.verdict_parts import INV, box, cluster_state, db, node


def _state(**changes: Any) -> ClusterState:
    return replace(cluster_state(**changes), environment="production", colour="red")


def test_a_healthy_site_fits_80_columns_and_names_every_part() -> None:
    text = render(_state())
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "[PRODUCTION]" in text and "NORMAL" in text and "no alarms" in text
    for name in ("web1", "web2", "web3", "db1", "db2", "lb1"):
        assert name in text


def test_a_stale_box_says_stale_with_its_whole_reason() -> None:
    reason = "connection refused at 10.0.1.12:22: sshd is not running there " * 2
    boxes = tuple(
        box(b.name, stale=b.name == "web2", age=42.0, reason=reason if b.name == "web2" else None)
        for b in INV.boxes
    )
    text = render(_state(boxes=boxes))
    assert "web2     STALE 42s: connection refused" in text
    assert " ".join(text.split()).count(" ".join(reason.split())) >= 1  # wrapped, not cut
    assert "!  box-stale" not in text and " ! box-stale: web2" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_hostile_text_from_a_box_cannot_reach_the_terminal() -> None:
    nodes = (node("web1", role_problem="\x1b]0;pwned\x07bad [red]x[/]"), node("web2"), node("web3"))
    text = render(_state(nodes=nodes))
    assert "bad [red]x[/]" in text  # shown (in the role-file alarm), as plain text
    assert "\x1b" not in text and "\x07" not in text and "pwned" not in text


def test_ages_and_sizes_are_short() -> None:
    assert [age(None), age(0.42), age(42), age(600), age(90000)] == [
        "never",
        "0.4s",
        "42s",
        "10m",
        "25h",
    ]
    assert [size(None), size(0), size(2048), size(16 * 1024 * 1024)] == [
        "-",
        "0B",
        "2.0kB",
        "16.0MB",
    ]


def test_name_columns_are_as_wide_as_the_longest_name() -> None:
    state = cluster_state(
        nodes=(replace(node("web1"), name="app-web1"), node("web2")),
        databases=(db("orders-db1"), db("db2", role="standby")),
    )
    text = render(state)
    lines = text.splitlines()
    rows = lines[next(i for i, line in enumerate(lines) if line.startswith("NODES")) :]
    app = next(line for line in rows if line.startswith("  app-web1 "))
    web2 = next(line for line in rows if line.startswith("  web2 "))
    # Whole names, and the column after them starts in the same place on every row.
    assert app.index("hot") == web2.index("hot")
    assert any(line.startswith("  orders-db1 primary") for line in rows)
    header = next(line for line in rows if line.startswith("NODES"))
    assert header.index("ROLE") == app.index("hot")
