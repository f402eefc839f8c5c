"""The panels' trends: how many points fit a width, and the balancer's traffic line.

The points come from console/trends.py (fed by the app with every snapshot);
a trend shows only in the room a panel has beyond 80 columns, so the 80x24
console looks as it always did.
"""

from __future__ import annotations

from console.trends import POINTS, Trends, sparkline

TREND_FROM = 80
"""Columns inside a panel that hold what an 80-column one does (78) and the trend
column's padding (2): trends use only the room beyond them."""
TREND_LEAST = 12
"""Fewer points than this say little (and fit no "health trend" heading): left out."""
FLOORS = {"req/s": 10.0, "5xx/s": 1.0, "latency": 100.0, "lag": 1.0}
"""The rates' scales reach at least this (req/s, 5xx/s): jitter below it stays low. The
latency (ms) and the lag (s) have a block per doubling: up to this the lowest block."""


def trend_points(width: int) -> int:
    """How many points of trend a panel WIDTH columns wide inside shows; 0: none (not at 80x24)."""
    points = min(POINTS, width - TREND_FROM)
    return points if points >= TREND_LEAST else 0


def rate(value: float | None) -> str:
    """A rate as the balancer's subtitle says it: 12, 0.4, ? (not known yet)."""
    if value is None:
        return "?"
    return f"{value:.1f}" if 0 < value < 10 else f"{value:.0f}"


def traffic(requests: int, trends: Trends | None, room: int, width: int) -> str:
    """'5 req/s', then the req/s and 5xx/s trends when ROOM columns hold them.

    WIDTH is the panel's inside width: below TREND_FROM the words stay alone.
    """
    said = f"{requests} req/s"
    points = min((room - len(f"{said} , 9.9 5xx/s ")) // 2, trend_points(width))
    if trends is None or points < TREND_LEAST:
        return said
    errors = trends.errors()
    return (
        f"{said} {sparkline(trends.requests(), points, FLOORS['req/s'])}, "
        f"{rate(errors[-1] if errors else None)} 5xx/s "
        f"{sparkline(errors, points, FLOORS['5xx/s'])}"
    )
