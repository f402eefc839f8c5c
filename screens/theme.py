"""The console's own theme: high contrast, for projectors and screen sharing."""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="hotspare-high-contrast",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ffffff",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#000000",
    warning="#ffff00",
    error="#ff5555",
    success="#55ff55",
    dark=True,
)
