"""The demo site's releases in the lab: v1, v2 and v3-broken side by side, switched by the hooks.

The hooks run over SSH as the lab's SSH user, filled in from the lab's
cluster.yaml the way hotspare fills them (values shell-quoted). Every test
that switches a node leaves every node back on v1, restarted and healthy.
The restart request's bookkeeping is checked without the lab at the end.
"""

from __future__ import annotations

import json
import pwd
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from console.lab import releases
from console.lab.layout import LabLayout
from console.lab.site import release as site_release
from console.lab.site.restart import RestartWatch
from console.probes import node as node_probe
from tests.support.labclient import db, eventually, http, is_primary
from tests.support.releases import (
    back_on,
    health,
    healthy,
    hook,
    inventory,
    on_box,
    selected,
    switch,
    version,
)


@pytest.fixture
def back_on_v1(lab: LabLayout) -> Iterator[LabLayout]:
    """Whatever a test switches, every node ends on v1, restarted, healthy and served."""
    try:
        yield lab
    finally:
        back_on(lab, "v1")


def apply_migration(lab: LabLayout) -> None:
    """v2's migrate.sql on the primary, as the lab's superuser `hotspare` (hotspare's way)."""
    sql = (lab.releases_dir(lab.web_names[0]) / "v2" / "migrate.sql").read_text()
    primary = next(member for member in lab.db_names if is_primary(lab, member))
    with db(lab, primary) as conn:
        conn.execute(sql)


# --- the releases as `lab up` installs them -------------------------------------------


def test_every_node_has_the_three_releases_and_runs_v1(lab: LabLayout) -> None:
    for node in lab.web_names:
        folder = lab.releases_dir(node)
        assert sorted(p.name for p in folder.iterdir()) == ["current", "v1", "v2", "v3-broken"]
        for name, manifest in releases.MANIFESTS.items():
            assert json.loads((folder / name / "release.json").read_text()) == manifest
        assert "ADD COLUMN IF NOT EXISTS words" in (folder / "v2" / "migrate.sql").read_text()
        assert selected(lab, node) == "v1"  # a relative link
        seen = version(lab, node)
        assert seen is not None
        assert (seen["release"], seen["node"]) == ("v1", node)
        assert seen["pid"] == int(lab.site_pid_file(node).read_text())
        if lab.as_root:  # the lab's SSH user switches releases and asks for restarts
            uid = pwd.getpwnam(lab.user).pw_uid
            for path in (folder, folder / "v1", lab.restart_request(node).parent):
                assert path.stat().st_uid == uid, path


def test_the_inventory_declares_the_releases_and_the_version_url(lab: LabLayout) -> None:
    inv = inventory(lab)
    web1 = inv.web_node("web1")
    assert web1.releases == str(lab.releases_dir("web1"))
    assert web1.version_url == f"{lab.node_url('web1')}version"
    assert inv.upgrade.smoke == ("http://{address}:8000/", "http://{address}:8000/version")


# --- the hooks --------------------------------------------------------------------------


def test_the_upgrade_and_restart_hooks_move_a_node_to_v2(back_on_v1: LabLayout) -> None:
    lab = back_on_v1
    apply_migration(lab)  # v2 needs its column: hotspare migrates before the first node
    before = version(lab, "web1")
    assert before is not None
    started = time.monotonic()
    code, out, err = on_box(lab, "web1", hook(lab, "upgrade", "web1", release="v2"))
    assert code == 0, err
    code, out, err = on_box(lab, "web1", hook(lab, "restart", "web1"))
    assert code == 0, err
    assert time.monotonic() - started < 5  # the restart hook does not wait for the restart
    after = eventually(lambda: (version(lab, "web1") or {}).get("release") == "v2", timeout=10)
    assert after
    now = version(lab, "web1")
    assert now is not None
    assert now["pid"] == before["pid"]  # re-executed in place: `lab down` still finds it
    assert now["started"] > before["started"]
    eventually(partial(healthy, lab, "web1"), timeout=10)
    assert "release v2" in (lab.box_dir("web1") / "log" / "error.web1.log").read_text()
    # The node probe sees both: the release running and the one selected.
    node = inventory(lab).web_node("web1")
    code, out, err = on_box(lab, "web1", node_probe.script(node))
    state = node_probe.parse(out, node, time.time())
    assert (state.release, state.selected_release) == ("v2", "v2")


def test_the_upgrade_hook_refuses_an_unknown_release(back_on_v1: LabLayout) -> None:
    lab = back_on_v1
    for release in ("v9", "../v1", "current"):
        code, out, err = on_box(lab, "web1", hook(lab, "upgrade", "web1", release=release))
        assert code != 0, (release, out)
        assert "not a release name" in err or "no release 'v9'" in err, err
        assert selected(lab, "web1") == "v1"


def test_v3_broken_serves_pages_but_fails_its_health_check(back_on_v1: LabLayout) -> None:
    lab = back_on_v1
    switch(lab, "web2", "v3-broken")
    status, page = http(lab.node_url("web2"))
    assert status == 200 and "release <b>v3-broken</b>" in page
    status, text = health(lab, "web2")
    assert status == 500
    assert "fails its health check on purpose" in text
    running = switch(lab, "web2", "v1")  # and a broken release restarts back
    assert running["release"] == "v1"
    eventually(partial(healthy, lab, "web2"), timeout=10)


def test_v2_stores_words_once_migrated_and_v1_still_reads_and_writes(
    back_on_v1: LabLayout,
) -> None:
    lab = back_on_v1
    apply_migration(lab)
    switch(lab, "web1", "v2")
    token = f"v2 note {time.time_ns()}"
    status, page = http(lab.node_url("web1") + "notes", {"body": f"{token} has six words"})
    assert status == 200 and f"{token} has six words" in page  # after the 303 to /
    assert "(6 words)" in page
    old = f"v1 note {time.time_ns()}"
    status, page = http(lab.node_url("web2") + "notes", {"body": old})
    assert status == 200 and old in page and "words)" not in page  # v1 never names the column
    primary = next(member for member in lab.db_names if is_primary(lab, member))
    with db(lab, primary) as conn:
        rows = dict(
            conn.execute(
                "SELECT body, words FROM notes WHERE body LIKE %s OR body = %s",
                (f"{token}%", old),
            ).fetchall()
        )
    assert rows == {f"{token} has six words": 6, old: None}


def test_a_restart_asked_during_a_restart_is_not_lost(back_on_v1: LabLayout) -> None:
    lab = back_on_v1
    log = lab.box_dir("web1") / "log" / "error.web1.log"
    restarts = log.read_text().count("re-executing")
    both = (
        hook(lab, "upgrade", "web1", release="v2")
        + " && "
        + hook(lab, "restart", "web1")
        + " && sleep 0.3 && "
        + hook(lab, "upgrade", "web1", release="v1")
        + " && "
        + hook(lab, "restart", "web1")
    )
    asked = time.time()
    code, _, err = on_box(lab, "web1", both)
    assert code == 0, err

    def two_restarts_on_v1() -> bool:
        seen = version(lab, "web1")
        done = log.read_text().count("re-executing") - restarts
        return bool(done == 2 and seen and seen["release"] == "v1")

    eventually(two_restarts_on_v1, timeout=10)
    now = version(lab, "web1")
    assert now is not None and now["started"] > asked + 0.3  # after the second request


# --- the restart request's bookkeeping (no lab) ---------------------------------------


def test_a_request_written_while_restarting_is_seen_by_the_new_process(tmp_path: Path) -> None:
    request = tmp_path / "restart-request"
    request.write_text("1 old\n")
    first = RestartWatch(request, seen=None)  # a fresh start takes what is there as done
    assert not first.restarted and first.pending() is None
    request.write_text("2 upgrade\n")
    token = first.pending()
    assert token == "2 upgrade"
    # The old process re-executes with token 2 as seen; token 3 lands before the new one looks.
    request.write_text("3 rollback\n")
    second = RestartWatch(request, seen=token)
    assert second.restarted
    assert second.pending() == "3 rollback"
    assert RestartWatch(request, seen="3 rollback").pending() is None


def test_no_request_file_means_no_restart(tmp_path: Path) -> None:
    assert RestartWatch(tmp_path / "absent", seen=None).pending() is None
    assert RestartWatch(tmp_path / "absent", seen="1 x").pending() is None


def test_the_site_reads_each_release_manifest(tmp_path: Path) -> None:
    for name, manifest in releases.MANIFESTS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "release.json").write_text(json.dumps(manifest))
    (tmp_path / "current").symlink_to("v2")
    v2 = site_release.load(tmp_path / "current")
    assert (v2.name, v2.has("words"), v2.health_problem()) == ("v2", True, None)
    assert v2.directory == str(tmp_path / "v2")
    v1 = site_release.load(tmp_path / "v1")
    assert (v1.name, v1.has("words"), v1.health_problem()) == ("v1", False, None)
    broken = site_release.load(tmp_path / "v3-broken")
    assert broken.health_problem() == "release v3-broken fails its health check on purpose"


def test_an_unreadable_manifest_fails_health_but_still_names_the_release(tmp_path: Path) -> None:
    (tmp_path / "v4").mkdir()
    (tmp_path / "v4" / "release.json").write_text('{"release": 4}')
    bad = site_release.load(tmp_path / "v4")
    assert bad.name == "v4"
    assert "release" in (bad.health_problem() or "")
    missing = site_release.load(tmp_path / "v5")
    assert missing.name == "v5" and "cannot read" in (missing.problem or "")
    assert site_release.load(None).name is None
