"""What changed between two snapshot documents, as a short list of set and delete operations.

A patch is a list of operations on a JSON document, each with the path of
keys (text, for an object) and indexes (numbers, for a list) it acts on:
`[PATH, VALUE]` sets the value there, `[PATH]` deletes an object's key.
A list whose length changed is set whole; one of the same length is
compared item by item, so a node's latency changing is one operation, not
the whole list of nodes. Values compare with their type: 1 and 1.0 and
true are different values in a document, and a tuple is a list.

`apply` never changes the document it is given: it copies the containers
along each path, so a document already decoded into a snapshot (whose
free-form fields may share its dictionaries) stays as it was.
"""

from __future__ import annotations

from typing import Any

Path = list[str | int]
# codec.encode leaves the model's tuples as tuples; JSON reads them back as lists.
_SEQUENCES = (list, tuple)
Operation = list[Any]


class PatchError(ValueError):
    """A patch that does not fit the document: a path that is not there, a malformed operation."""


def diff(old: Any, new: Any) -> list[Operation]:
    """The operations that turn OLD into NEW (an empty list when they are equal)."""
    found: list[Operation] = []
    _diff(old, new, [], found)
    return found


def _diff(old: Any, new: Any, path: Path, found: list[Operation]) -> None:
    if type(old) is dict and type(new) is dict:
        for key, value in new.items():
            if key in old:
                _diff(old[key], value, [*path, key], found)
            else:
                found.append([[*path, key], value])
        found.extend([[*path, key]] for key in old if key not in new)
    elif type(old) in _SEQUENCES and type(new) in _SEQUENCES and len(old) == len(new):
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            _diff(before, after, [*path, index], found)
    elif type(old) is not type(new) or old != new:
        found.append([path, new])


def apply(
    document: Any, operations: object, *, owned: bool = False, copied: dict[int, Any] | None = None
) -> Any:
    """DOCUMENT with OPERATIONS applied, as a new document (DOCUMENT is left as it was).

    OWNED says DOCUMENT is the caller's alone (parsed for this, never handed
    out): it is then changed in place, several times faster. COPIED, when
    given, holds the containers (by id) already copied for the caller: a
    chain of patches passes the same one, so each container is copied once.

    Raises:
        PatchError: an operation is malformed or its path is not in the document.
    """
    if not isinstance(operations, list):
        raise PatchError("a patch is a list of operations")
    # The containers copied, by id (kept alive here): changed in place after their
    # first copy, so a patch of sixty values copies each container once.
    fresh = None if owned else ({} if copied is None else copied)
    for operation in operations:
        if not isinstance(operation, list) or len(operation) not in (1, 2):
            raise PatchError(f"{_short(operation)} is not an operation: [path, value] or [path]")
        path = operation[0]
        if not isinstance(path, list):
            raise PatchError(f"{_short(path)} is not a path: a list of keys and indexes")
        if not path:
            if len(operation) == 1:
                raise PatchError("the whole document cannot be deleted")
            document = operation[1]
            continue
        if fresh is None:
            _in_place(document, path, operation[1:])
        else:
            document = _at(document, path, operation[1:], 0, fresh)
    return document


def _in_place(document: Any, path: list[Any], value: list[Any]) -> None:
    """Set VALUE (one item, or none to delete) at PATH in DOCUMENT itself: a loop, no copy."""
    container = document
    for key in path[:-1]:
        kind = type(container)
        is_key = kind is dict and type(key) is str and key in container
        if is_key or (kind is list and type(key) is int and 0 <= key < len(container)):
            container = container[key]
        else:
            raise PatchError(f"{_where(path)}: not in the document")
    _at(container, path, value, len(path) - 1, None)


def _at(
    container: Any, path: list[Any], value: list[Any], depth: int, fresh: dict[int, Any] | None
) -> Any:
    """CONTAINER, copied unless in FRESH, with VALUE (one item, or none to delete) at PATH[DEPTH:].

    FRESH None: every container is the caller's own, changed in place.
    """
    key = path[depth]
    last = depth == len(path) - 1
    mine = fresh is None or id(container) in fresh
    if type(container) is dict and type(key) is str:
        copy = container if mine else _own(dict(container), fresh)
        if last and not value:
            if key not in copy:
                raise PatchError(f"{_where(path)}: no such key to delete")
            del copy[key]
        elif last:
            copy[key] = value[0]
        elif key not in copy:
            raise PatchError(f"{_where(path)}: no such key")
        else:
            copy[key] = _at(copy[key], path, value, depth + 1, fresh)
        return copy
    if type(container) is list and type(key) is int and 0 <= key < len(container):
        if last and not value:
            raise PatchError(f"{_where(path)}: an item of a list is set, never deleted")
        items = container if mine else _own(list(container), fresh)
        items[key] = value[0] if last else _at(items[key], path, value, depth + 1, fresh)
        return items
    raise PatchError(f"{_where(path)}: not in the document")


def _own(copy: Any, fresh: dict[int, Any] | None) -> Any:
    if fresh is not None:
        fresh[id(copy)] = copy
    return copy


def _where(path: list[Any]) -> str:
    return "".join(f"[{part}]" if type(part) is int else f".{part}" for part in path).lstrip(".")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
