"""What each column of the logs screen says on its border: the node, its role and files
on top, whether it follows (or why a file does not) underneath."""

from __future__ import annotations

from collections.abc import Collection

from console.inventory import WebNode
from console.logs.lines import Kind, Source
from console.logs.session import LogSession


def title(
    node: WebNode, access: Source | None, session: LogSession, kinds: Collection[Kind]
) -> str:
    """NODE · role · access file · error file, for the KINDS shown.

    ACCESS: the access log its role file names; else the one access log of the
    node that exists, if there is exactly one.
    """
    if access is None:
        live = [s for s in session.files if s.node == node.name and s.kind == "access"]
        found = [s for s in live if session.tails[s].exists]
        access = found[0] if len(found) == 1 else None
    parts = [node.name]
    if "access" in kinds and access is not None:
        parts += [access.role or "", access.file_name]
    if "error" in kinds:
        parts.append(node.error_log.rsplit("/", 1)[-1])
    return " · ".join(parts)


def state(node: WebNode, session: LogSession, kinds: Collection[Kind], following: bool) -> str:
    """Why one of NODE's files is not followed, else following or paused."""
    for source in session.files:
        if source.node != node.name or source.kind not in kinds:
            continue
        said = session.state(source)
        if not said.following and said.reason not in (None, "starting"):
            return f"{source.label}: {said.reason}"
    return "following" if following else "paused"
