"""The A/B rollover typed by hand, for bench/ab.py: each command its own process.

What an operator types without the runbook, in the runbook's order
(console/runbook/ab.py), from a jump host: hotspare where it has a command
(`read-only on`, `node hot`), plain OpenSSH (the lab's key and known_hosts,
no multiplexing) for role files, hook lines and the HAProxy socket, psql
(the lab's pgpass) for the database, curl for the nodes' answers. Waits poll
every 0.5 s. No think time is added between commands.

Two things have no hotspare command here, so they are typed beneath it:
pinning a node's database (the role file's `database=` key), and taking
writes again: `hotspare read-only off` refuses while two primaries answer
(A's, read-only, and B's), so the flags are set on HAProxy's socket and B's
role files and database flag by hand.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

from bench.common import HOTSPARE, BenchError
from bench.contenders import _HAPROXY_ASK
from bench.upgrade_hand import EVERY, TIMEOUT, ByHand
from console.inventory import Database, Inventory, WebNode
from console.lab.layout import LabLayout
from console.runbook.node import fill

WRITERS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)
NORMAL = {"read_only": "no", "read_only_message": "", "read_only_until": ""}


class AbByHand(ByHand):
    """One A/B rollover typed by hand: A = the live nodes, B = B_NAMES, db1 to db2."""

    def __init__(
        self, lab: LabLayout, inv: Inventory, release: str, b_names: list[str], audit: Path
    ) -> None:
        super().__init__(lab, inv, soak=0.0)
        self.audit = audit
        self.release = release
        self.b = [n for n in inv.web_nodes if n.name in b_names]
        self.a = [n for n in inv.web_nodes if n.name not in b_names and n.role == "hot"]
        self.a_db, self.b_db = inv.databases[0], inv.databases[1]
        self.marks: list[tuple[str, float]] = []

    def mark(self, what: str) -> None:
        """WHAT ended now."""
        self.marks.append((what, time.time()))

    # One command each ---------------------------------------------------------

    def hotspare(self, *args: str) -> str:
        """One hotspare process, its audit in the bench's file (the window starts there)."""
        env = {**os.environ, "HOTSPARE_AUDIT": str(self.audit)}
        return self.run([str(HOTSPARE), "--cluster", str(self.lab.cluster_file), *args], env)

    def psql(self, db: Database, *sql: str) -> str:
        """One psql process on DB; each SQL its own -c (ALTER SYSTEM wants no transaction)."""
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", db.host]
        argv += ["-p", str(db.port), "-U", db.user, "-d", db.dbname]
        for one in sql:
            argv += ["-c", one]
        env = {**os.environ, "PGPASSFILE": str(self.lab.pgpass)}
        return self.run(argv, env).strip()

    def set_role(self, node: WebNode, values: dict[str, str]) -> None:
        """Rewrite NODE's role file with VALUES (others kept), then curl /role until it says so."""
        path = shlex.quote(node.role_file)
        drop = " ".join(f"-e {shlex.quote('^' + k + '=')}" for k in values)
        lines = "; ".join(f"echo {shlex.quote(f'{k}={v}')}" for k, v in values.items())
        self.ssh(
            node.box, f"{{ grep -v {drop} {path}; {lines}; }} > {path}.new && mv {path}.new {path}"
        )
        url = self.lab.node_url(node.name).rstrip("/") + "/role"
        ends = time.monotonic() + TIMEOUT
        while time.monotonic() < ends:
            said = json.loads(self.curl(url)[1] or "{}")
            if all(_said(said.get(k)) == v for k, v in values.items()):
                return
            time.sleep(EVERY)
        raise BenchError(f"{node.name}'s /role does not say {values} after {TIMEOUT:g} s")

    def haproxy(self, *commands: str) -> None:
        """COMMANDS on the balancer's runtime socket, through `ssh lb1 python3`."""
        lb = self.inv.balancer
        assert lb is not None
        said = self.ssh(lb.box, shlex.join(["python3", "-c", _HAPROXY_ASK, lb.socket, *commands]))
        for line in said.splitlines():
            if line and not line.startswith("===") and line.strip():
                raise BenchError(f"HAProxy said {line!r} to {commands}")

    def save_map(self, entries: dict[str, str]) -> None:
        """The flags map file rewritten with ENTRIES (others kept), for a reload."""
        lb = self.inv.balancer
        assert lb is not None
        path = shlex.quote(lb.flags_map or "")
        drop = " ".join(f"-e {shlex.quote('^' + k + ' ')}" for k in entries)
        lines = "; ".join(f"echo {shlex.quote(f'{k} {v}')}" for k, v in entries.items())
        self.ssh(
            lb.box, f"{{ grep -v {drop} {path}; {lines}; }} > {path}.new && mv {path}.new {path}"
        )

    # The stages -------------------------------------------------------------------

    def detach(self) -> None:
        """A pinned to A's db; B's db caught up, promoted, writable; B pinned to it."""
        for node in self.a:
            self.set_role(node, {"database": f"{self.a_db.host}:{self.a_db.port}"})
        self.mark("pin A")
        while self.psql(self.a_db, WRITERS) != "0":
            time.sleep(EVERY)
        target = self.psql(self.a_db, "SELECT pg_current_wal_lsn()")
        ask = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        while self.psql(self.b_db, ask) != "t":
            time.sleep(EVERY)
        self.mark("catch-up wait")
        if self.psql(self.b_db, "SELECT pg_promote()") != "t":
            raise BenchError(f"pg_promote() on {self.b_db.name} did not say t")
        self.mark("promotion")
        off = "ALTER SYSTEM SET default_transaction_read_only = off"
        self.psql(self.b_db, off, "SELECT pg_reload_conf()")
        for node in self.b:
            self.set_role(node, {"database": f"{self.b_db.host}:{self.b_db.port}"})
        self.mark("detach")

    def migrate_b(self) -> None:
        """The release's SQL from B's first node, run on B's database in one transaction."""
        first = self.b[0]
        assert first.releases is not None
        sql = self.ssh(
            first.box, f"cat {shlex.quote(f'{first.releases}/{self.release}/migrate.sql')}"
        )
        argv = ["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-h", self.b_db.host]
        argv += ["-p", str(self.b_db.port), "-U", self.b_db.user, "-d", self.b_db.dbname]
        env = {**os.environ, "PGPASSFILE": str(self.lab.pgpass)}
        done = subprocess.run(argv, input=sql, capture_output=True, text=True, env=env, timeout=60)
        if done.returncode != 0:
            raise BenchError(f"psql -1 on {self.b_db.name} exited {done.returncode}: {done.stderr}")
        self.mark("migration")

    def upgrade_b(self) -> None:
        """Each B node (out of the balancer already): the release hook, restart, answers, smoke."""
        hooks = self.inv.hooks
        assert hooks.upgrade is not None and hooks.restart is not None
        for node in self.b:
            address = self.inv.box(node.box).address
            self.ssh(node.box, fill(hooks.upgrade, node, address, self.release))
            self.ssh(node.box, fill(hooks.restart, node, address, self.release))
            self.answers(node, self.release)
            self.smoke(node)
        self.mark("B nodes")

    def test_b(self) -> None:
        """B straight: health and version, the smoke URLs, a write on B's db rolled back."""
        for node in self.b:
            self.answers(node, self.release)
            self.smoke(node)
        probe = "BEGIN; CREATE TABLE hotspare_write_probe (); ROLLBACK"
        self.psql(self.b_db, probe)
        self.mark("tests")

    def switch(self) -> None:
        """B's nodes writable and hot (UP), B's backend live, then the site takes writes."""
        lb = self.inv.balancer
        assert lb is not None and lb.flags_map is not None
        for node in self.b:
            self.set_role(node, NORMAL)
        for node in self.b:
            self.hotspare("node", "hot", node.name, "--yes")
        self.mark("B hot, UP")
        backend = self.b[0].backend
        self.haproxy(f"set map {lb.flags_map} live {backend}")
        self.save_map({"live": backend})
        self.mark("set map live")
        self.haproxy(f"set map {lb.flags_map} mode normal")
        self.mark("switch")
        self.haproxy(f"set map {lb.flags_map} message -", f"set map {lb.flags_map} until -")
        self.save_map({"mode": "normal", "message": "-", "until": "-"})
        code, _ = self.curl(lb.site_url or "")
        if code != 200:
            raise BenchError(f"the site answers {code} after the switch")

    def rollover(self) -> list[tuple[str, float]]:
        """The whole rollover up to writes on B; returns (component, end epoch) in order.

        The window starts at the `read-only on` flags switch, read from the audit log.
        """
        self.hotspare("read-only", "on", "--yes")
        self.mark("read-only on")
        self.detach()
        self.migrate_b()
        self.upgrade_b()
        self.test_b()
        self.switch()
        return self.marks


def _said(value: object) -> str:
    """A /role value as the role file writes it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)
