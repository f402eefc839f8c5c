"""`hotspare patroni history`: Patroni's switchovers and failovers, as patronictl lists them.

The actions beside it (`patroni pause|resume|restart`) come from the action
catalogue (console/cli/actions.py); this verb only reads. Patroni is asked
with curl on a database's box, as the monitor asks it: the databases in
cluster.yaml's order, until one's Patroni answers. Exit status: 0 read (an
empty history too), 1 no Patroni answered, 2 bad input (no database managed
by Patroni in cluster.yaml).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from console.cli.config import Load
from console.errors import ActionError, Exit
from console.text import one_line, shown

if TYPE_CHECKING:
    from console.inventory import Database, Inventory
    from console.probes.patroni_rest import HistoryLine

SCHEMA = "hotspare.patroni-history/1"
HEADERS = ("TL", "LSN", "Reason", "Timestamp", "New Leader")
HELP = "Patroni's switchovers and failovers: timeline, LSN, reason, time, new leader"
DESCRIPTION = (
    "Patroni is asked with curl on a database's box, the databases in cluster.yaml's order "
    "until one's Patroni answers. Exit status: 0 read (an empty history too), 1 no Patroni "
    "answered, 2 bad input (no database managed by Patroni in cluster.yaml)."
)


def add_parsers(verbs: Any, load: Load) -> None:
    """Add `history` to the `patroni` group's VERBS (its actions are the catalogue's)."""
    history = verbs.add_parser("history", help=HELP, description=f"{HELP}. {DESCRIPTION}")
    history.add_argument("--json", action="store_true", help=f"the history as JSON ({SCHEMA})")
    history.set_defaults(run=lambda args: _history(args, load))
    verbs.metavar = f"{verbs.metavar}|history"


def _history(args: argparse.Namespace, load: Load) -> int:
    inv = load(args)
    if inv is None:
        return Exit.USAGE
    asked, lines = asyncio.run(read(inv))
    if args.json:
        record = {"schema": SCHEMA, "asked": asked, "history": [line.as_dict() for line in lines]}
        print(json.dumps(record, indent=2))
    else:
        print(render(lines, asked))
    return Exit.OK


async def read(inv: Inventory) -> tuple[str, tuple[HistoryLine, ...]]:
    """The history from the first database whose Patroni answers, and that database's name.

    Raises:
        ActionError: cluster.yaml declares no database managed by Patroni.
        PatroniProbeError: no Patroni answered; says what each box said.
    """
    from console.actions.context import RUN_MARGIN, Context
    from console.monitor import Monitor
    from console.probes.patroni import PatroniProbeError
    from console.probes.patroni_api import patroni_api
    from console.probes.patroni_rest import READ_TIMEOUT, probe_history
    from console.ssh import BoxError

    declared = [d for d in inv.databases if d.manager == "patroni" and d.patroni_url]
    if not declared:
        raise ActionError(
            "cluster.yaml does not say Patroni manages any database (manager: patroni and "
            "patroni_url, docs/patroni.md): there is no Patroni to ask"
        )
    monitor = Monitor(inv)
    ctx = Context(monitor)
    failures = []
    try:
        for db in declared:

            async def run(command: str, db: Database = db) -> str:
                return (await ctx.run(db.box, command, READ_TIMEOUT + RUN_MARGIN)).stdout

            try:
                return db.name, await probe_history(run, patroni_api(db))
            except BoxError as exc:
                failures.append(str(exc))
            except PatroniProbeError as exc:
                failures.append(f"{db.box}: {exc}")
    finally:
        await monitor.close()
    raise PatroniProbeError(
        "no Patroni answered GET /history (" + "; ".join(failures) + "): see `hotspare status`"
    )


def render(lines: tuple[HistoryLine, ...], asked: str) -> str:
    """LINES as patronictl lists them: TL and LSN right-aligned, the rest left."""
    if not lines:
        return (
            f"Patroni's history is empty: no switchover or failover since the cluster was made "
            f"(asked {asked}'s Patroni)"
        )
    rows = [
        (
            str(line.timeline),
            str(line.lsn),
            _cell(line.reason, 60),
            _cell(line.timestamp, 40),
            _cell(line.new_leader, 30),
        )
        for line in lines
    ]
    widths = [max(len(cells[n]) for cells in (HEADERS, *rows)) for n in range(len(HEADERS))]
    out = []
    for cells in (HEADERS, *rows):
        shaped = [
            c.rjust(w) if n < 2 else c.ljust(w)
            for n, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        out.append("  ".join(shaped).rstrip())
    return "\n".join(out)


def _cell(text: str, limit: int) -> str:
    """Untrusted TEXT on one line, anything that could act on the terminal shown as an escape."""
    return shown(one_line(text, limit))
