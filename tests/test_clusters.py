"""Several inventories: --cluster NAME, `hotspare clusters`, per-file audit logs, switching."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console import inventory
from console.actions.audit import default_path
from console.authority import Authority
from console.cli import cluster_path, clusters, main
from console.feed import Feed
from console.monitor import Monitor
from console.state.model import ClusterState
from screens import main as console_main
from screens.app import HotspareApp
from screens.panels import Banner

SMALL = """\
version: 1
cluster:
  name: {name}
  environment: {{label: {label}, colour: {colour}}}
boxes:
  lb1: {{address: 10.0.0.2}}
"""


def _write(path: Path, name: str, label: str, colour: str = "yellow") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SMALL.format(name=name, label=label, colour=colour))
    return path


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty clusters folder under a private XDG_CONFIG_HOME; the test runs in tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("HOTSPARE_AUDIT", raising=False)
    monkeypatch.delenv("HOTSPARE_CLUSTER", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "config" / "hotspare" / "clusters"


# Lookup -----------------------------------------------------------------------


def test_a_bare_name_reads_the_clusters_folder(folder: Path) -> None:
    shop = _write(folder / "shop.yaml", "shop", "staging")
    assert cluster_path("shop") == shop
    assert inventory.load(cluster_path("shop")).environment.label == "staging"


def test_a_path_and_the_fallbacks_work_as_before(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(folder / "shop.yaml", "shop", "staging")
    assert cluster_path("site/cluster.yaml") == Path("site/cluster.yaml")
    assert cluster_path("cluster.yaml") == Path("cluster.yaml")
    assert cluster_path(None) == Path("cluster.yaml")
    monkeypatch.setenv("HOTSPARE_CLUSTER", "shop")
    assert cluster_path(None) == folder / "shop.yaml"
    monkeypatch.setenv("HOTSPARE_CLUSTER", "/etc/site.yaml")
    assert cluster_path(None) == Path("/etc/site.yaml")


def test_a_file_in_the_working_folder_wins_over_a_name(folder: Path, tmp_path: Path) -> None:
    _write(folder / "shop.yaml", "shop", "staging")
    _write(tmp_path / "shop", "shop", "local")
    assert cluster_path("shop") == Path("shop")


def test_an_unknown_name_says_where_it_looked(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--cluster", "nothere", "check-config"]) == 2
    err = capsys.readouterr().err
    assert "no cluster named 'nothere'" in err and str(folder / "nothere.yaml") in err
    assert "Traceback" not in err


def test_check_config_takes_a_name(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(folder / "shop.yaml", "shop", "staging")
    assert main(["check-config", "shop"]) == 0
    assert f"{folder / 'shop.yaml'}: OK" in capsys.readouterr().out


# hotspare clusters ---------------------------------------------------------------


def test_clusters_lists_each_inventory_and_a_broken_one_with_its_error(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(folder / "shop.yaml", "shop", "staging")
    _write(folder / "prod.yaml", "shop", "production", "red")
    (folder / "broken.yaml").write_text("version: 1\ncluster: [\n")
    _write(tmp_path / "cluster.yaml", "local", "lab", "green")
    assert main(["clusters", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["broken", "prod", "shop", "cluster.yaml"]
    assert rows["prod"]["environment"] == "production" and rows["prod"]["loads"] is True
    assert rows["shop"]["cluster"] == "shop" and rows["shop"]["environment"] == "staging"
    assert rows["broken"]["loads"] is False and rows["broken"]["problems"] == 1
    assert "YAML syntax error" in rows["broken"]["error"]
    assert rows["cluster.yaml"]["current"] is True  # what a bare `hotspare` opens
    assert not any(rows[n]["current"] for n in ("broken", "prod", "shop"))

    assert main(["--cluster", "prod", "clusters"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CLUSTER", "ENVIRONMENT", "STATUS", "PATH"]
    assert lines[2].startswith("* prod") and "production" in lines[2]
    assert "BROKEN (1 problem)" in lines[1]
    assert "YAML syntax error" in out


def test_clusters_with_nothing_found_says_so(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clusters"]) == 0
    assert f"no inventories in {folder}" in capsys.readouterr().out


# Audit file per inventory ---------------------------------------------------------


def test_two_inventories_with_one_name_keep_two_audit_logs(folder: Path, tmp_path: Path) -> None:
    staging = inventory.load(_write(folder / "shop.yaml", "lab", "staging"))
    prod = inventory.load(_write(tmp_path / "other" / "cluster.yaml", "lab", "production"))
    assert default_path(staging) != default_path(prod)
    for path in (default_path(staging), default_path(prod)):
        assert path.parent == tmp_path / "state" / "hotspare"
        assert path.name.startswith("audit-lab-") and path.suffix == ".jsonl"
    # The same file reached another way is the same log.
    again = inventory.load(Path("config/hotspare/clusters/shop.yaml"))
    assert default_path(again) == default_path(staging)


def test_hotspare_audit_still_wins(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory.load(_write(folder / "shop.yaml", "shop", "staging"))
    monkeypatch.setenv("HOTSPARE_AUDIT", "/tmp/x.jsonl")
    assert default_path(inv) == Path("/tmp/x.jsonl")


# Switching from the palette ---------------------------------------------------------


class MonitorFeed:
    """The real Monitor's snapshot of an inventory (no probe has run), then nothing."""

    def __init__(self, inv: inventory.Inventory) -> None:
        self.monitor = Monitor(inv)
        self.closed = False

    async def updates(self) -> AsyncGenerator[ClusterState, None]:
        try:
            yield self.monitor.snapshot()
            await asyncio.Event().wait()
        finally:
            await self.monitor.close()
            self.closed = True


async def _banner_once_shown(pilot: Pilot[Any]) -> str:
    for _ in range(50):
        await pilot.pause(0.05)
        if pilot.app.state is not None:  # type: ignore[attr-defined]
            break
    return str(pilot.app.query_one(Banner).render())


def test_the_palette_switches_to_another_cluster_and_back_stops_the_feed(folder: Path) -> None:
    staging = inventory.load(_write(folder / "shop.yaml", "shop", "staging", "yellow"))
    _write(folder / "prod.yaml", "shop-prod", "production", "red")
    (folder / "broken.yaml").write_text("version: 1\n")
    built: list[tuple[HotspareApp, MonitorFeed]] = []
    seen: list[str] = []

    def build(inv: inventory.Inventory) -> HotspareApp:
        feed = MonitorFeed(inv)
        app = HotspareApp(inv, feed, Authority(False), others=clusters.others(inv))
        built.append((app, feed))
        return app

    async def first(pilot: Pilot[object]) -> None:
        seen.append(await _banner_once_shown(pilot))
        await pilot.press("ctrl+p")
        await pilot.press(*"switch to cluster")
        await pilot.pause(0.3)
        await pilot.press("enter")

    async def second(pilot: Pilot[object]) -> None:
        seen.append(await _banner_once_shown(pilot))
        assert built[0][1].closed  # the first console's monitor stopped before this one
        pilot.app.exit(0)

    scripts = iter([first, second])

    def run(app: HotspareApp) -> None:
        app.run(headless=True, size=(100, 32), auto_pilot=next(scripts))

    assert console_main.run_consoles(staging, build, run) == 0
    assert [app.inv.name for app, _ in built] == ["shop", "shop-prod"]
    # Broken inventories and the one on screen are not offered.
    assert [inv.name for inv in built[0][0].others] == ["shop-prod"]
    assert "shop" in seen[0] and "STAGING" in seen[0]
    assert "shop-prod" in seen[1] and "PRODUCTION" in seen[1] and "STAGING" not in seen[1]
    assert built[1][1].closed


def test_the_banner_colour_follows_the_new_inventory(folder: Path) -> None:
    staging = inventory.load(_write(folder / "shop.yaml", "shop", "staging", "yellow"))
    prod = inventory.load(_write(folder / "prod.yaml", "shop-prod", "production", "red"))
    colours: list[str] = []

    async def go(inv: inventory.Inventory) -> None:
        app = HotspareApp(inv, MonitorFeed(inv), Authority(False))
        async with app.run_test(size=(100, 32)) as pilot:
            await _banner_once_shown(pilot)
            text = app.query_one(Banner).render()
            label = inv.environment.label.upper()
            spans = [s for s in text.spans if label in text.plain[s.start : s.end]]  # type: ignore[union-attr]
            colours.append(str(spans[0].style))

    asyncio.run(go(staging))
    asyncio.run(go(prod))
    assert "yellow" in colours[0] and "red" in colours[1]


def test_the_console_offers_the_other_inventories_unless_one_cluster(folder: Path) -> None:
    staging = inventory.load(_write(folder / "shop.yaml", "shop", "staging"))
    _write(folder / "prod.yaml", "shop-prod", "production", "red")
    parser = console_main.main_parser()
    app = console_main._app(staging, parser.parse_args([]), switching=True)
    assert [inv.name for inv in app.others] == ["shop-prod"]
    app = console_main._app(staging, parser.parse_args(["--one-cluster"]), switching=True)
    assert app.others == ()
    app = console_main._app(staging, parser.parse_args([]))  # a screenshot: no palette
    assert app.others == ()


def test_no_switch_entries_from_under_another_screen(folder: Path) -> None:
    staging = inventory.load(_write(folder / "shop.yaml", "shop", "staging"))
    _write(folder / "prod.yaml", "shop-prod", "production", "red")

    async def go() -> None:
        app = HotspareApp(
            staging, MonitorFeed(staging), Authority(False), others=clusters.others(staging)
        )
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.05)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Switch to cluster shop-prod (production)" in titles
            await pilot.press("question_mark")
            await pilot.pause(0.05)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert not any(t.startswith("Switch to cluster") for t in titles)

    asyncio.run(go())


class StuckMonitor(Monitor):
    """A monitor whose first refresh never ends, as over a dead link; counts its closes."""

    closes = 0

    async def refresh_all(self, deadline: float | None = None) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closes += 1
        await super().close()


def test_switching_during_the_first_refresh_still_closes_the_monitor(folder: Path) -> None:
    staging = inventory.load(_write(folder / "shop.yaml", "shop", "staging"))
    prod = inventory.load(_write(folder / "prod.yaml", "shop-prod", "production", "red"))
    monitor = StuckMonitor(staging)

    async def go() -> HotspareApp:
        app = HotspareApp(staging, Feed(monitor), Authority(False), monitor=monitor, others=[prod])
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.1)
            assert app.state is None  # still in the first refresh
            await app.switch_cluster(prod)
            await pilot.pause(0.05)
        return app

    app = asyncio.run(go())
    assert app.switch_to is prod
    assert monitor.closes >= 1
