"""The figures of bench/patroni_switchover.py: the contenders side by side, ratios, failovers."""

from __future__ import annotations

from typing import Any

from bench.patroni_failover import Failover
from bench.promote import Switch, spread, step_medians

NAMES = {
    "direct": "hotspare direct",
    "hs+patroni": "hotspare via Patroni",
    "patronictl": "patronictl --force",
}
MEASURES = {
    "unavailable_s": "write unavailability",
    "command_s": "command, spawn to exit",
    "streams_again_s": "spawn to old streaming again",
    "writes_back_s": "spawn to first commit after gap",
    "plan_only_s": "the same --dry-run (plan only)",
}
RATIOS = (
    ("unavailable_s", "patronictl", "hs+patroni"),
    ("unavailable_s", "hs+patroni", "direct"),
    ("command_s", "patronictl", "hs+patroni"),
    ("command_s", "hs+patroni", "direct"),
    ("streams_again_s", "patronictl", "hs+patroni"),
)


def contender(group: list[Switch]) -> dict[str, Any]:
    """The figures of one contender's switches."""
    return {
        "unavailable_s": spread([s.unavailable for s in group]),
        "command_s": spread([s.wall for s in group]),
        "streams_again_s": spread([s.parts["streams again"] for s in group]),
        "writes_back_s": spread([s.writes_back for s in group]),
        "plan_only_s": spread([s.parts["plan only"] for s in group if "plan only" in s.parts]),
        "acked": sum(s.acked for s in group),
        "writer_errors": sum(s.errors for s in group),
        "lost": sum(len(s.lost) for s in group),
        "lost_ids": [i for s in group for i in s.lost][:20],
        "two_writable_rounds": sum(s.two_writable for s in group),
        "switches": [f"{s.old}->{s.new}" for s in group],
    }


def failover_figures(group: list[Failover]) -> dict[str, Any]:
    """The figures of the kills at one timing."""
    return {
        "asked": group[0].asked if group else {},
        "effective": [f.effective for f in group],
        "lease_left_at_kill_s": [f.lease_left for f in group],
        "new_leader_s": spread([f.new_leader for f in group]),
        "writes_back_s": spread([f.writes_back for f in group]),
        "acked_after_kill": [len(f.acked_after_kill_ms) for f in group],
        "acked_after_kill_ms": [f.acked_after_kill_ms for f in group],
        "lost": [len(f.lost) for f in group],
        "lost_acked_ms_after_kill": [f.lost_ms for f in group],
        "acked": sum(f.acked for f in group),
        "two_writable_rounds": sum(f.two_writable for f in group),
        "old_back_after_restart_s": spread([f.back for f in group]),
        "reinit": sum(f.reinit for f in group),
        "kills": [f"{f.old}->{f.new}" for f in group],
    }


def summary(
    done: list[tuple[int, Switch]], killed: list[Failover], facts: dict[str, Any]
) -> dict[str, Any]:
    """Everything the run measured, as one JSON-able dict."""
    result: dict[str, Any] = {**facts, "switches": len(done)}
    for how in NAMES:
        group = [s for _, s in done if s.how == how]
        result[how] = contender(group)
        if how != "patronictl":
            result[how]["steps_median_s"] = step_medians(group)
    result["ratios_of_medians"] = {}
    for measure, top, bottom in RATIOS:
        a, b = result[top][measure], result[bottom][measure]
        if a["n"] and b["n"] and b["median"]:
            label = f"{measure} {top} / {bottom}"
            result["ratios_of_medians"][label] = round(a["median"] / b["median"], 2)
    result["failover"] = {
        timing: failover_figures([f for f in killed if f.timing == timing])
        for timing in ("default", "short")
    }
    return result


def cell(figures: dict[str, Any]) -> str:
    """'median (min-max)', or '-' for none."""
    if not figures["n"]:
        return "-"
    return f"{figures['median']:.2f} ({figures['min']:.2f}-{figures['max']:.2f})"


def table(result: dict[str, Any]) -> None:
    """The side-by-side tables, for the terminal."""
    print()
    print(f"{'seconds, median (min-max)':32}" + "".join(f"{NAMES[h]:>24}" for h in NAMES))
    for key, label in MEASURES.items():
        print(f"{label:32}" + "".join(f"{cell(result[h][key]):>24}" for h in NAMES))
    print(f"{'n':32}" + "".join(f"{result[h]['unavailable_s']['n']:>24}" for h in NAMES))
    for what in ("acked", "lost", "two_writable_rounds"):
        print(f"{what:32}" + "".join(f"{result[h][what]:>24}" for h in NAMES))
    for label, value in result["ratios_of_medians"].items():
        print(f"ratio {label}: {value}")
    print()
    for timing, f in result["failover"].items():
        if not f["new_leader_s"]["n"]:
            continue
        print(
            f"failover at {timing} timing (asked {f['asked']}, running {f['effective'][0]}): "
            f"new leader {cell(f['new_leader_s'])} s, writes back {cell(f['writes_back_s'])} s, "
            f"n={f['new_leader_s']['n']}; acked after the kill {f['acked_after_kill']}, "
            f"lost {f['lost']}; old member back {cell(f['old_back_after_restart_s'])} s"
        )
    lost = sum(result[h]["lost"] for h in NAMES)
    two = sum(result[h]["two_writable_rounds"] for h in NAMES)
    if lost or two:
        print(f"!!! SWITCHOVERS LOST {lost} COMMITS, {two} ROUNDS WITH TWO WRITABLE")
