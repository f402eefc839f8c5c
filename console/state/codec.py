"""A snapshot to JSON and back: the document `hotspare status --json` prints, read again.

A snapshot that leaves its process (a monitor shared by several consoles, a
history kept on disk, a recording opened on another machine) must come back
as the very ClusterState it was, or say why not. Encoding is
`dataclasses.asdict` under the versioned schema; decoding follows the
dataclasses' own annotations, field by field, so a new field is carried
without a line here. The document is untrusted: every value is checked
against its field's type, and a mismatch is a SnapshotError naming the
field's path ("databases[1].standbys[0].lag_bytes: ...").
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from console.errors import Exit, HotspareError
from console.state.model import SCHEMA_VERSION, ClusterState

SCHEMA = f"hotspare.status/{SCHEMA_VERSION}"


class SnapshotError(HotspareError, ValueError):
    """A document that is not a snapshot of this schema; the message says where and why."""

    exit = Exit.FAILED


def encode(state: ClusterState) -> dict[str, Any]:
    """STATE as the JSON-ready document `status --json` prints."""
    return {"schema": SCHEMA, **dataclasses.asdict(state)}


def decode(document: object) -> ClusterState:
    """The ClusterState DOCUMENT (as `encode` made it, parsed from JSON) describes.

    Raises:
        SnapshotError: another schema, or a value its field cannot hold.
    """
    if not isinstance(document, Mapping):
        raise SnapshotError(f"a snapshot is a JSON object, not {_kind(document)}")
    schema = document.get("schema")
    if schema != SCHEMA:
        raise SnapshotError(f"schema {schema!r}: this hotspare reads {SCHEMA}")
    fields = {k: v for k, v in document.items() if k != "schema"}
    state = _build(ClusterState, fields, "")
    assert isinstance(state, ClusterState)
    return state


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _build(cls: type, raw: object, where: str) -> object:
    if not isinstance(raw, Mapping):
        raise SnapshotError(f"{where or 'the snapshot'}: an object, not {_kind(raw)}")
    hints = _hints(cls)
    given: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        path = f"{where}.{f.name}" if where else f.name
        if f.name in raw:
            given[f.name] = _value(hints[f.name], raw[f.name], path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SnapshotError(f"{path}: missing")
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise SnapshotError(f"{where or 'the snapshot'}: unknown field {unknown[0]!r}")
    return cls(**given)


def _value(hint: Any, raw: object, where: str) -> object:
    origin = get_origin(hint)
    if hint is Any:
        return raw
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, raw, where)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if raw is None and type(None) in options:
            return None
        (only,) = [o for o in options if o is not type(None)]  # the model's unions: X | None
        return _value(only, raw, where)
    if origin is Literal:
        if raw not in get_args(hint):
            allowed = ", ".join(repr(a) for a in get_args(hint))
            raise SnapshotError(f"{where}: {raw!r:.40} is not one of {allowed}")
        return raw
    if origin is tuple:
        if not isinstance(raw, list):
            raise SnapshotError(f"{where}: a list, not {_kind(raw)}")
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], item, f"{where}[{n}]") for n, item in enumerate(raw))
        if len(raw) != len(args):
            raise SnapshotError(f"{where}: {len(args)} items, not {len(raw)}")
        pairs = enumerate(zip(args, raw, strict=True))
        return tuple(_value(a, item, f"{where}[{n}]") for n, (a, item) in pairs)
    if origin in (dict, Mapping):
        if not isinstance(raw, Mapping):
            raise SnapshotError(f"{where}: an object, not {_kind(raw)}")
        _, value = get_args(hint)
        return {str(k): _value(value, v, f"{where}.{k}") for k, v in raw.items()}
    return _scalar(hint, raw, where)


def _scalar(hint: Any, raw: object, where: str) -> object:
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)  # JSON writes 2.0 as 2 in some encoders
    if hint in (int, float, str, bool):
        if isinstance(raw, hint) and (hint is bool or not isinstance(raw, bool)):
            return raw
        raise SnapshotError(f"{where}: {hint.__name__} expected, not {_kind(raw)}")
    raise SnapshotError(f"{where}: no reader for the type {hint!r}")  # a model change: a bug


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")
