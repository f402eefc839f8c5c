"""The lines of a recording: a header, then keyframes and patches, one JSON document a line.

A recording (a segment of the history directory, or an exported file) is
JSON Lines:

- a header: `{"schema": "hotspare.recording/1", "cluster": ..., "from": ...,
  "to": ..., "keyframe_every": K}` (`to` is null while a segment is written);
- a keyframe: `{"t": TAKEN_AT, "k": DOCUMENT}`, the whole snapshot as
  `hotspare status --json` prints it;
- a patch: `{"t": TAKEN_AT, "p": OPERATIONS}`, what changed since the line
  before (console/history/patch.py).

A keyframe opens every segment and comes again every K records, so reading
any moment replays at most K - 1 patches. A line whose alarm set (code,
severity, subject) differs from the line before also carries
`"a": [[CODE, SEVERITY, [SUBJECT...]], ...]`, the set after the change: an
index of the moments an alarm was raised or cleared, read without decoding
a snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from console.errors import Exit, HotspareError
from console.history import patch
from console.state import codec
from console.state.model import ClusterState

SCHEMA = "hotspare.recording/1"
KEYFRAME_EVERY = 60  # at one snapshot every 2 s: a keyframe every 2 minutes (docs/BENCHMARKS.md)

AlarmKey = tuple[str, str, tuple[str, ...]]


class HistoryError(HotspareError):
    """A history that cannot be written or a recording that cannot be read; the message says why."""

    exit = Exit.FAILED


def alarm_set(document: dict[str, Any]) -> tuple[AlarmKey, ...]:
    """The alarms of an encoded snapshot as a sorted set of (code, severity, subject)."""
    keys = set()
    for alarm in document.get("alarms") or ():
        if isinstance(alarm, dict):
            subject = tuple(str(s) for s in alarm.get("subject") or ())
            keys.add((str(alarm.get("code")), str(alarm.get("severity")), subject))
    return tuple(sorted(keys))


def header(cluster: str, keyframe_every: int, first: float, last: float | None) -> bytes:
    """The first line of a recording."""
    fields = {"schema": SCHEMA, "cluster": cluster, "from": first, "to": last}
    return _line({**fields, "keyframe_every": keyframe_every})


def _line(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, separators=(",", ":")) + "\n").encode()


class Encoder:
    """Turns snapshots, in order, into lines: a keyframe every K, patches between.

    It keeps the document of the last snapshot and nothing older.
    """

    def __init__(self, keyframe_every: int = KEYFRAME_EVERY) -> None:
        if keyframe_every < 1:
            raise ValueError("keyframe_every is at least 1")
        self.keyframe_every = keyframe_every
        self._previous: dict[str, Any] | None = None
        self._alarms: tuple[AlarmKey, ...] | None = None  # the first line always says its set
        self._since_keyframe = 0

    def line(self, state: ClusterState, keyframe: bool = False) -> tuple[bytes, bool]:
        """STATE as a line, and whether it is a keyframe (KEYFRAME forces one)."""
        return self.document_line(codec.encode(state), keyframe)

    def document_line(self, document: dict[str, Any], keyframe: bool = False) -> tuple[bytes, bool]:
        """An encoded snapshot DOCUMENT as a line, and whether it is a keyframe."""
        keyframe = keyframe or self._previous is None or self._since_keyframe >= self.keyframe_every
        record: dict[str, Any] = {"t": document["taken_at"]}
        if keyframe:
            record["k"] = document
            self._since_keyframe = 1
        else:
            assert self._previous is not None
            record["p"] = patch.diff(self._previous, document)
            self._since_keyframe += 1
        alarms = alarm_set(document)
        if alarms != self._alarms:
            record["a"] = [[code, severity, list(subject)] for code, severity, subject in alarms]
        self._alarms = alarms
        self._previous = document
        return _line(record), keyframe

    def restart(self) -> None:
        """Make the next line a keyframe (a new segment begins)."""
        self._since_keyframe = self.keyframe_every


@dataclass(frozen=True)
class Record:
    """One parsed line of a recording that is not the header.

    Attributes:
        at: the snapshot's taken_at.
        keyframe: the whole document (when the line is a keyframe), else None.
        operations: the patch (when it is a patch), else None.
        alarms: the alarm set after a change of it on this line, else None.
    """

    at: float
    keyframe: dict[str, Any] | None
    operations: list[Any] | None
    alarms: tuple[AlarmKey, ...] | None


def parse(raw: bytes) -> Record | dict[str, Any]:
    """RAW (one line) as a Record, or as the header's fields.

    Raises:
        ValueError: not JSON, or not a line of a recording; the message says which.
    """
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if "schema" in document:
        if document["schema"] != SCHEMA:
            raise ValueError(f"schema {document['schema']!r:.40}: this hotspare reads {SCHEMA}")
        return document
    at = document.get("t")
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise ValueError("no time (t) on the line")
    keyframe, operations = document.get("k"), document.get("p")
    if not isinstance(keyframe, dict) and not isinstance(operations, list):
        raise ValueError("neither a keyframe (k) nor a patch (p)")
    return Record(
        float(at),
        keyframe if isinstance(keyframe, dict) else None,
        operations if not isinstance(keyframe, dict) else None,
        _alarms(document.get("a")),
    )


def _alarms(raw: object) -> tuple[AlarmKey, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ValueError("the alarm set (a) is not a list")
    keys = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], list)):
            raise ValueError("an alarm of the set (a) is not [code, severity, [subject...]]")
        keys.append((str(item[0]), str(item[1]), tuple(str(s) for s in item[2])))
    return tuple(keys)
