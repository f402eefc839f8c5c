"""The monitor's history: every snapshot kept on disk, compactly, and read back at any moment.

`History` records (console/history/recording.py), `Recording` reads a
history directory or an exported file (console/history/reading.py), and
`export` writes a time range to one file for another machine
(console/history/export.py). docs/history.md describes the format.
"""

from console.history.export import Exported, export
from console.history.lines import HistoryError
from console.history.reading import AlarmChange, Recording
from console.history.recording import History, default_directory

__all__ = [
    "AlarmChange",
    "Exported",
    "History",
    "HistoryError",
    "Recording",
    "default_directory",
    "export",
]
