"""`hotspare audit`: every action recorded, refused and failed ones too."""

from __future__ import annotations

import argparse
import json
from typing import Any

from console.cli.config import Load


def add_parser(commands: Any, load: Load) -> None:
    """Add `audit` to COMMANDS."""
    audit = commands.add_parser(
        "audit", help="the audit log: every action, refused and failed ones too"
    )
    audit.add_argument("--json", action="store_true", help="the records as JSON lines")
    audit.add_argument("-n", "--last", type=int, metavar="N", help="only the last N records")
    audit.set_defaults(run=lambda args: _audit(args, load))


def _line(record: dict[str, Any]) -> str:
    """One record as a line: an intent says what began, a step its result, an outcome how
    it ended. A run with an intent and no outcome was interrupted."""
    who = record.get("operator", {}) or {}
    origin = f" from {who['ssh_client']}" if who.get("ssh_client") else ""
    head = f"{record.get('time', '?')}  {who.get('user', '?')}{origin}  "
    what = f"{record.get('action', '?')} {record.get('target', '?')}"
    event = record.get("event", "outcome")
    if event == "intent":
        steps = len((record.get("plan") or {}).get("steps") or ())
        return f"{head}{what}: BEGUN, {steps} steps (run {record.get('run', '?')})"
    if event == "step":
        mark = "ok" if record.get("ok") else "FAILED"
        stage = f"{record['stage']}: " if record.get("stage") else ""  # a runbook's stage
        return (
            f"{head}{what}: {stage}step {record.get('step', '?')}/{record.get('steps', '?')} "
            f"{mark}: {record.get('title', '?')}: {record.get('check', '')}"
        )
    reason = f" ({record['reason']})" if record.get("reason") else ""
    return f"{head}{what}: {str(record.get('outcome', '?')).upper()}{reason}"


def _audit(args: argparse.Namespace, load: Load) -> int:
    from console.actions.audit import AuditLog, default_path

    inv = load(args)
    if inv is None:
        return 2
    log = AuditLog(default_path(inv), inv.name)
    records = list(log.records())
    if args.last is not None:
        records = records[-args.last :]
    for record in records:
        print(json.dumps(record) if args.json else _line(record))
    if not records and not args.json:
        print(f"no actions recorded yet in {log.path}")
    return 0
