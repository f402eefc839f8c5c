"""The demo site's releases in a lab test: the hooks run over SSH as hotspare runs them, each
node's /version and health, and the quick way back to one release between tests."""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from functools import partial
from typing import Any

from console.inventory import Inventory, load
from console.lab.layout import LabLayout
from console.probes.haproxy import parse_stat
from tests.support.labclient import eventually, haproxy, http, ssh


def inventory(lab: LabLayout) -> Inventory:
    return load(lab.cluster_file)


def hook(lab: LabLayout, name: str, node: str, **values: str) -> str:
    """Hook NAME of the lab's cluster.yaml for NODE, placeholders filled and shell-quoted."""
    inv = inventory(lab)
    template = getattr(inv.hooks, name)
    assert template, f"the lab's cluster.yaml has no {name} hook"
    fill = {"node": node, "address": inv.box(inv.web_node(node).box).address, **values}
    for key, value in fill.items():
        template = template.replace("{" + key + "}", shlex.quote(value))
    return str(template)


def on_box(lab: LabLayout, box: str, command: str) -> tuple[int, str, str]:
    """Run COMMAND on BOX over SSH as the lab user: exit status, stdout, stderr."""

    async def run() -> tuple[int, str, str]:
        async with await ssh(lab, box) as conn:
            done = await conn.run(command, check=False, timeout=20)
        return int(done.exit_status or 0), str(done.stdout), str(done.stderr)

    return asyncio.run(run())


def version(lab: LabLayout, node: str) -> dict[str, Any] | None:
    """The node's /version answer, or None while it does not answer 200."""
    try:
        status, body = http(lab.node_url(node) + "version")
    except OSError:  # refused while the site re-executes
        return None
    return json.loads(body) if status == 200 else None


def health(lab: LabLayout, node: str) -> tuple[int, str]:
    try:
        return http(lab.node_url(node) + "healthz")
    except OSError as exc:
        return 0, str(exc)


def healthy(lab: LabLayout, node: str) -> bool:
    return health(lab, node)[0] == 200


def selected(lab: LabLayout, node: str) -> str:
    return str(lab.current_release(node).readlink())


def switch(lab: LabLayout, node: str, release: str) -> dict[str, Any]:
    """Select RELEASE on NODE and restart it with the hooks; its /version once it runs it."""
    asked = time.time()
    code, out, err = on_box(lab, node, hook(lab, "upgrade", node, release=release))
    assert code == 0, err
    assert selected(lab, node) == release
    code, out, err = on_box(lab, node, hook(lab, "restart", node))
    assert code == 0, err
    assert "restart requested" in out

    def running() -> dict[str, Any] | None:
        seen = version(lab, node)
        return seen if seen and seen["release"] == release and seen["started"] > asked else None

    return dict(eventually(running, timeout=10))


def serving_again(lab: LabLayout) -> bool:
    """No web node is DOWN in HAProxy (web3, warm, stays in MAINT)."""
    rows = parse_stat(asyncio.run(haproxy(lab, "show stat")))
    return all(not r["status"].startswith("DOWN") for r in rows if r["svname"] in lab.web_names)


def back_on(lab: LabLayout, release: str) -> None:
    """Every node on RELEASE, restarted, healthy and served, by the hooks one node after the
    other and without the balancer: the quick reset between tests (no drain, no runbook)."""
    for node in lab.web_names:
        now = version(lab, node)
        if selected(lab, node) != release or now is None or now["release"] != release:
            switch(lab, node, release)
        eventually(partial(healthy, lab, node), timeout=10)
    eventually(lambda: serving_again(lab), timeout=20, every=0.5)
