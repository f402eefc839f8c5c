"""A release's database migration, run once, as its own stage of the upgrade.

A release declares its migration in the `release.json` of its directory on
the nodes (docs/upgrade.md):

    {"release": "v2", "migration": {"sql": "migrate.sql", "when": "before", "transaction": true}}

`when: before` (expand: the old release keeps working on the new schema)
runs it before the first node is touched; `when: after` (contract) once
every node runs the release. The stage reads the SQL from the first node,
checks it is the very text the plan showed (its SHA-256), and runs it on the
primary in one transaction together with a row in
`hotspare_release_migrations`: the row proves it ran, so running the stage
again (a resumed upgrade) runs nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.actions.context import Context
from console.actions.plan import Check, Plan, Step
from console.errors import ActionError
from console.inventory import Database, Inventory, WebNode
from console.state.model import ClusterState
from console.text import one_line, printable

TABLE = "hotspare_release_migrations"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (release text PRIMARY KEY, sha256 text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)"
)
MANIFEST = "release.json"
WHEN = ("before", "after")


@dataclass(frozen=True)
class Migration:
    """What a release declares, and the SQL as read at planning time."""

    release: str
    path: str
    when: str
    transaction: bool
    sha256: str
    lines: int

    def as_args(self, node: str) -> dict[str, Any]:
        return {
            "release": self.release,
            "node": node,
            "path": self.path,
            "when": self.when,
            "transaction": self.transaction,
            "sha256": self.sha256,
            "lines": self.lines,
        }


async def read_manifest(ctx: Context, node: WebNode, release: str) -> dict[str, Any] | None:
    """RELEASE's release.json on NODE; None when the node has no releases directory.

    Raises:
        ActionError: the release is not installed there, or its manifest is not JSON.
    """
    if node.releases is None:
        return None
    folder = posixpath.join(node.releases, release)
    path = posixpath.join(folder, MANIFEST)
    quoted = shlex.quote(folder)
    result = await ctx.run(
        node.box,
        f"test -d {quoted} || {{ echo 'no such directory'; exit 3; }}; "
        f"if [ -e {shlex.quote(path)} ]; then cat {shlex.quote(path)}; fi",
    )
    if result.exit_status == 3:
        raise ActionError(f"release {release} is not installed on {node.name}: no {folder}")
    if result.exit_status != 0:
        raise ActionError(f"{node.name}: cannot read {path}: {one_line(result.stderr, 200)}")
    if not result.stdout.strip():
        return {}
    try:
        loaded = json.loads(result.stdout)
    except ValueError as exc:
        raise ActionError(f"{node.name}: {path} is not JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ActionError(f"{node.name}: {path} is not a JSON object")
    return loaded


async def declared(
    ctx: Context, node: WebNode, release: str, manifest: dict[str, Any] | None
) -> Migration | None:
    """The migration RELEASE declares in MANIFEST (read_manifest's, from NODE), or None.

    Its SQL is read from NODE.

    Raises:
        ActionError: the declaration is wrong, or its SQL cannot be read.
    """
    entry = (manifest or {}).get("migration")
    if entry is None:
        return None
    assert node.releases is not None  # a manifest was read
    if not isinstance(entry, dict) or not isinstance(entry.get("sql"), str):
        raise ActionError(f'{release}\'s {MANIFEST}: migration must be {{"sql": FILE, ...}}')
    name = entry["sql"]
    if "/" in name or name.startswith("."):
        raise ActionError(f"{release}'s {MANIFEST}: migration.sql must be a file in the release")
    when = entry.get("when", "before")
    if when not in WHEN:
        raise ActionError(f"{release}'s {MANIFEST}: migration.when must be before or after")
    path = posixpath.join(node.releases, release, name)
    text = await _read_sql(ctx, node, path)
    return Migration(
        release=release,
        path=path,
        when=when,
        transaction=entry.get("transaction", True) is not False,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        lines=len(text.splitlines()),
    )


async def _read_sql(ctx: Context, node: WebNode, path: str) -> str:
    result = await ctx.run(node.box, f"cat {shlex.quote(path)}")
    if result.exit_status != 0:
        raise ActionError(f"{node.name}: cannot read {path}: {one_line(result.stderr, 200)}")
    return result.stdout


def primary(inv: Inventory, state: ClusterState) -> Database | None:
    """The one member the snapshot shows as the primary, if exactly one."""
    names = state.verdicts.primaries
    if len(names) != 1:
        return None
    return next((db for db in inv.databases if db.name == names[0]), None)


def plan_migrate(inv: Inventory, state: ClusterState, args: Mapping[str, Any]) -> Plan:
    """The stage that runs ARGS' migration once on the primary."""
    release, path, sha = str(args["release"]), str(args["path"]), str(args["sha256"])
    node = inv.web_node(str(args["node"]))
    atomic = args.get("transaction") is not False
    named = args.get("database")  # an A/B rollover migrates B's database only
    db = inv.database(str(named)) if named else primary(inv, state)
    refusals: tuple[str, ...] = ()
    if db is None:
        shown = ", ".join(state.verdicts.primaries) or "none"
        refusals = (f"the migration needs exactly one primary; the site shows: {shown}",)
    text: list[str] = []

    async def read(ctx: Context) -> str:
        text[:] = [await _read_sql(ctx, node, path)]
        return f"{len(text[0].splitlines())} lines"

    async def same(ctx: Context) -> Check:
        got = hashlib.sha256(text[0].encode()).hexdigest() if text else ""
        if got != sha:
            return Check(
                False, f"{path} changed since the plan (sha256 {got[:12]}, not {sha[:12]})"
            )
        return Check(True, f"{path} is the text the plan showed (sha256 {sha[:12]})")

    async def applied(ctx: Context) -> tuple[str, str] | None:
        assert db is not None
        rows = await ctx.sql(db, f"SELECT to_regclass('{TABLE}') IS NOT NULL")
        if not rows or not rows[0][0]:
            return None
        found = await ctx.sql(
            db,
            f"SELECT sha256, applied_at::text FROM {TABLE} "
            f"WHERE release = '{release.replace(chr(39), '')}'",
        )
        return (str(found[0][0]), str(found[0][1])) if found else None

    already: list[str] = []

    async def run(ctx: Context) -> str:
        assert db is not None
        if not text:
            text[:] = [await _read_sql(ctx, node, path)]
        done = await applied(ctx)
        if done is not None:
            already[:] = [done[1]]
            return f"already applied at {done[1]}; nothing run"
        from console.actions.lock import who

        await ctx.transaction(db, CREATE)
        record = (
            f"INSERT INTO {TABLE} (release, sha256, applied_by) VALUES (%s, %s, %s)",
            (release, sha, who()),
        )
        await ctx.transaction(db, text[0], record, atomic=atomic)
        return "committed" if atomic else "run (no transaction: the release asked for none)"

    async def verify(ctx: Context) -> Check:
        done = await applied(ctx)
        if done is None:
            return Check(False, f"{TABLE} has no row for {release}")
        note = ", already" if already else ""
        return Check(True, f"{TABLE} records {release} applied at {done[1]}{note}")

    where = f"SQL on {db.name}" if db is not None else "SQL on the primary"
    steps = (
        Step(
            title=f"Read {release}'s migration from {node.name}",
            where=f"ssh {node.box}",
            command=f"cat {path}",
            expects=f"the release is installed on {node.name}",
            proves=f"it is the text the plan showed ({args.get('lines')} lines, sha256 {sha[:12]})",
            act=read,
            verify=same,
        ),
        Step(
            title=f"Migrate the database for {release}",
            where=where,
            command=(
                f"BEGIN; <{posixpath.basename(path)}>; INSERT INTO {TABLE} ...; COMMIT"
                if atomic
                else f"<{posixpath.basename(path)}>; INSERT INTO {TABLE} ..."
            ),
            expects=f"{TABLE} has no row for {release} (else nothing is run)",
            proves=f"{TABLE} has its row: it ran once, and all of it",
            act=run,
            verify=verify,
        ),
    )
    return Plan(
        action="migrate",
        target=release,
        summary=(
            f"run {release}'s migration ({args.get('when')} the nodes) on the primary"
            + ("" if atomic else ", outside a transaction as the release asks")
        ),
        steps=steps,
        refusals=refusals,
        way_back="none: an expand migration stays (the previous release runs on it)",
    )


def describe(migration: Migration | None) -> str:
    if migration is None:
        return "no migration declared"
    return printable(
        f"{migration.path} ({migration.lines} lines, {migration.when} the nodes, "
        f"{'in a transaction' if migration.transaction else 'no transaction'})"
    )
