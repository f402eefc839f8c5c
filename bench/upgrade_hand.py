"""The rolling upgrade typed by hand, for bench/upgrade.py: each step its own process.

The steps and their order are the runbook's (console/runbook/node.py), as an
operator would type them from a jump host: hotspare for the balancer, plain
OpenSSH (the lab's key and known_hosts, no multiplexing) for the hook lines
of cluster.yaml and for `show stat` on the balancer's box, curl for the
node's answers, psql for the migration. Waits poll every 0.5 s, as the
runbook's do; the soak sleeps S seconds and watches nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import HOTSPARE, BenchError
from bench.contenders import _HAPROXY_ASK, ssh_options
from console.inventory import Inventory, WebNode
from console.lab.layout import PG_PORT, LabLayout
from console.runbook.node import fill, version_of

EVERY = 0.5
TIMEOUT = 60.0


class ByHand:
    """One roll typed by hand: every command a fresh process, each stage timed."""

    def __init__(self, lab: LabLayout, inv: Inventory, soak: float) -> None:
        self.lab, self.inv, self.soak = lab, inv, soak
        self.stages: dict[str, float] = {}

    # One command each ---------------------------------------------------------

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=180, check=False, env=env
        )
        if done.returncode != 0:
            said = (done.stdout + done.stderr)[-2000:]
            raise BenchError(f"{shlex.join(argv)[:200]} exited {done.returncode}:\n{said}")
        return done.stdout

    def hotspare(self, *args: str) -> str:
        return self.run([str(HOTSPARE), "--cluster", str(self.lab.cluster_file), *args])

    def ssh(self, box: str, command: str) -> str:
        address = self.inv.box(box).address
        return self.run(["ssh", *ssh_options(self.lab), address, command])

    def curl(self, url: str) -> tuple[int, str]:
        argv = ["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        body, _, code = done.stdout.rpartition("\n")
        return (int(code) if code.isdigit() else 0), body

    # The steps ------------------------------------------------------------------

    def migrate(self, release: str) -> None:
        """Fetch the release's SQL from the first node, run it on the primary in one transaction."""
        first = self.inv.web_nodes[0]
        assert first.releases is not None
        sql = self.ssh(first.box, f"cat {shlex.quote(f'{first.releases}/{release}/migrate.sql')}")
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
            file.write(sql)
        env = {**os.environ, "PGPASSFILE": str(self.lab.pgpass)}
        psql = ["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-h", self.lab.address("db1")]
        psql += ["-p", str(PG_PORT), "-U", "hotspare", "-d", "site", "-f", file.name]
        try:
            self.run(psql, env)
        finally:
            Path(file.name).unlink()

    def answers(self, node: WebNode, release: str) -> None:
        """curl the health URL and the version URL until 200 and RELEASE."""
        assert node.version_url is not None
        ends = time.monotonic() + TIMEOUT
        while time.monotonic() < ends:
            if self.curl(node.health_url)[0] == 200:
                code, body = self.curl(node.version_url)
                if code == 200 and version_of(body) == release:
                    return
            time.sleep(EVERY)
        raise BenchError(f"{node.name} did not answer 200 with {release} in {TIMEOUT:g} s")

    def smoke(self, node: WebNode) -> None:
        address = self.inv.box(node.box).address
        urls = [u.replace("{node}", node.name).replace("{address}", address) for u in self.smokes]
        curls = " && ".join(f"curl -fsS -o /dev/null {shlex.quote(u)}" for u in urls)
        self.ssh(self.balancer, curls)

    def wait_up(self, node: WebNode) -> None:
        """`show stat` on the balancer's box until NODE's server reads UP."""
        lb = self.inv.balancer
        assert lb is not None
        ask = shlex.join(["python3", "-c", _HAPROXY_ASK, lb.socket, "show stat"])
        ends = time.monotonic() + TIMEOUT
        while time.monotonic() < ends:
            text = self.ssh(lb.box, ask).split("\n", 1)[1].lstrip("# ")
            for row in csv.DictReader(io.StringIO(text)):
                mine = row["pxname"] == lb.backend and row["svname"] == node.server
                if mine and row["status"].startswith("UP"):
                    return
            time.sleep(EVERY)
        raise BenchError(f"{node.server} not UP in {TIMEOUT:g} s")

    @property
    def balancer(self) -> str:
        assert self.inv.balancer is not None
        return self.inv.balancer.box

    @property
    def smokes(self) -> tuple[str, ...]:
        return self.inv.upgrade.smoke

    # Stages ------------------------------------------------------------------

    @contextmanager
    def stage(self, key: str) -> Iterator[None]:
        started = time.time()
        yield
        self.stages[key] = time.time() - started

    def node(self, node: WebNode, release: str, out_now: bool) -> None:
        """Out (unless it is), switch, restart, prove, smoke, in, UP, soak."""
        address = self.inv.box(node.box).address
        if not out_now:
            self.hotspare("drain", node.name, "--then-maint", "--yes")
        assert self.inv.hooks.upgrade is not None and self.inv.hooks.restart is not None
        self.ssh(node.box, fill(self.inv.hooks.upgrade, node, address, release))
        self.ssh(node.box, fill(self.inv.hooks.restart, node, address, release))
        self.answers(node, release)
        self.smoke(node)
        self.hotspare("ready", node.name, "--yes")
        self.wait_up(node)
        time.sleep(self.soak)

    def roll(self, direction: str, release: str) -> tuple[float, dict[str, float]]:
        """The whole roll: look, migrate (upgrade only), spare in, hot nodes, spare out.

        Returns the whole roll's seconds, and each stage's.
        """
        spares = [n for n in self.inv.web_nodes if n.role == "warm"]
        hot = [n for n in self.inv.web_nodes if n.role == "hot"]
        if direction == "rollback":
            hot.reverse()  # last changed first, as `hotspare upgrade rollback` does
        started = time.time()
        json.loads(self.hotspare("status", "--json"))  # the look before: who is in, who runs what
        if direction == "upgrade":
            with self.stage("migrate"):
                self.migrate(release)
        for spare in spares:
            with self.stage("spare in"):
                self.node(spare, release, out_now=True)
        for node in hot:
            with self.stage(node.name):
                self.node(node, release, out_now=False)
        for spare in spares:
            with self.stage("spare out"):
                self.hotspare("drain", spare.name, "--then-maint", "--yes")
        return time.time() - started, self.stages
