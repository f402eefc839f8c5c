"""The inventory loads the lab file and the documented examples into frozen objects."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from console.inventory import (
    Box,
    Database,
    Inventory,
    InventoryError,
    Problem,
    WebNode,
    load,
    summary,
)

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "inventory_cases"
GOOD_LAB = CASES / "good_lab.yaml"
LAB = "/tmp/hotspare-lab-127.0.10"


@pytest.fixture(autouse=True)
def _pinned_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep the real ~ (and its .ssh) out of every test."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def lab() -> Inventory:
    return load(GOOD_LAB)


def test_lab_file_loads_top_level(lab: Inventory) -> None:
    assert lab.path == GOOD_LAB
    assert lab.version == 1
    assert lab.name == "lab"
    assert (lab.environment.label, lab.environment.colour) == ("lab", "green")
    assert [b.name for b in lab.boxes] == ["lb1", "web1", "web2", "web3", "db1", "db2"]
    assert [w.name for w in lab.web_nodes] == ["web1", "web2", "web3"]
    assert [d.name for d in lab.databases] == ["db1", "db2"]
    assert lab.hooks.after_role_change is None
    assert lab.hooks.after_scheduler_move is None


def test_lab_boxes_take_defaults(lab: Inventory) -> None:
    assert lab.box("web2") == Box(
        name="web2",
        address="127.0.10.12",
        port=2222,
        user="root",
        identity_file=Path(f"{LAB}/ssh/id_ed25519"),
        known_hosts=Path(f"{LAB}/ssh/known_hosts"),
        jump=(),
        connect_timeout=5.0,
    )


def test_lab_balancer(lab: Inventory) -> None:
    lb = lab.balancer
    assert lb is not None
    assert lb.box == "lb1"
    assert lb.socket == f"{LAB}/boxes/lb1/run/haproxy.sock"
    assert (lb.frontend, lb.backend, lb.backends) == ("site", "site", ("site",))
    assert lb.flags_map == f"{LAB}/boxes/lb1/etc/site-flags.map"
    assert lb.site_url == "http://127.0.10.2:8080/"


def test_lab_web_nodes_expand_node_and_address(lab: Inventory) -> None:
    web3 = lab.web_node("web3")
    assert web3 == WebNode(
        name="web3",
        box="web3",
        server="web3",
        role="warm",
        scheduler=False,
        health_url="http://127.0.10.13:8000/healthz",
        access_log=f"{LAB}/boxes/web3/log/access.{{role}}.web3.log",
        error_log=f"{LAB}/boxes/web3/log/error.web3.log",
        role_file=f"{LAB}/boxes/web3/etc/node-role",
        pid_file=f"{LAB}/boxes/web3/run/site.pid",
        backend="site",
    )
    assert web3.access_log_for("warm") == f"{LAB}/boxes/web3/log/access.warm.web3.log"
    assert lab.web_node("web1").access_log_for("hot") == f"{LAB}/boxes/web1/log/access.hot.web1.log"
    assert [w.scheduler for w in lab.web_nodes] == [True, False, False]
    with pytest.raises(ValueError, match="role"):
        web3.access_log_for("cold")


def test_lab_databases(lab: Inventory) -> None:
    assert lab.database("db2") == Database(
        name="db2",
        box="db2",
        host="127.0.10.22",
        port=5432,
        dbname="site",
        user="hotspare",
        passfile=Path(f"{LAB}/pg/pgpass"),
        data_dir=f"{LAB}/boxes/db2/data",
        bin_dir="/usr/lib/postgresql/15/bin",
        os_user="postgres",
        become="runuser",
    )


def test_everything_is_frozen(lab: Inventory) -> None:
    assert isinstance(lab.boxes, tuple)
    assert isinstance(lab.web_nodes, tuple)
    assert isinstance(lab.databases, tuple)
    for obj, field in [
        (lab, "name"),
        (lab.environment, "colour"),
        (lab.box("lb1"), "port"),
        (lab.balancer, "socket"),
        (lab.web_node("web1"), "role"),
        (lab.database("db1"), "port"),
        (lab.hooks, "after_role_change"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)


def test_lookups_raise_key_error(lab: Inventory) -> None:
    with pytest.raises(KeyError):
        lab.box("nope")
    with pytest.raises(KeyError):
        lab.web_node("db1")
    with pytest.raises(KeyError):
        lab.database("web1")


def test_local_paths_are_relative_to_the_file_and_expand_home(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    text = GOOD_LAB.read_text()
    text = text.replace(f"{LAB}/ssh/id_ed25519", "keys/id_ed25519")
    text = text.replace(f"{LAB}/ssh/known_hosts", "~/.ssh/known_hosts")
    text = text.replace(f"{LAB}/pg/pgpass", "../pgpass")
    (folder / "cluster.yaml").write_text(text)
    inv = load(folder / "cluster.yaml")
    box = inv.box("web1")
    assert box.identity_file == folder / "keys" / "id_ed25519"
    assert box.known_hosts == Path.home() / ".ssh" / "known_hosts"
    assert inv.database("db1").passfile == tmp_path / "pgpass"


def test_example_from_docs_loads() -> None:
    inv = load(ROOT / "docs" / "cluster.example.yaml")
    assert (inv.environment.label, inv.environment.colour) == ("production", "red")
    bastion = inv.box("bastion")
    assert bastion.jump == ()
    for box in inv.boxes:
        if box.name != "bastion":
            assert inv.jump_chain(box.name) == ("bastion",)
    assert all(b.address.endswith(".example.org") for b in inv.boxes)
    assert [w.role for w in inv.web_nodes] == ["hot", "hot", "warm"]
    assert inv.web_node("web1").scheduler
    assert inv.web_node("web2").access_log_for("hot") == "/var/www/oacs/log/access.hot.web2.log"
    assert {d.become for d in inv.databases} == {"sudo"}
    assert inv.hooks.after_scheduler_move is not None
    assert "CanonicalServer" in inv.hooks.after_scheduler_move
    assert inv.hooks.after_role_change is not None


def test_small_example_in_reference_doc_loads(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "inventory.md").read_text()
    match = re.search(r"## A small complete file\n\n```yaml\n(.*?)```", doc, re.S)
    assert match is not None
    (tmp_path / "cluster.yaml").write_text(match.group(1))
    inv = load(tmp_path / "cluster.yaml")
    assert inv.box("web1").identity_file == tmp_path / "keys" / "deploy_ed25519"
    assert inv.database("db1").host == "127.0.0.1"


def test_jump_chain_follows_boxes_and_outside_hosts(tmp_path: Path) -> None:
    text = GOOD_LAB.read_text().replace(
        "  db2: {address: 127.0.10.22}",
        "  db2: {address: 127.0.10.22, jump: 'lb1, admin@gw.example.net:2022'}\n"
        "  gw: {address: 10.1.1.1, jump: [db2]}",
    )
    (tmp_path / "c.yaml").write_text(text)
    inv = load(tmp_path / "c.yaml")
    assert inv.box("db2").jump == ("lb1", "admin@gw.example.net:2022")
    assert inv.jump_chain("gw") == ("lb1", "admin@gw.example.net:2022", "db2")


def test_summary_fits_one_screen(lab: Inventory) -> None:
    text = summary(lab)
    lines = text.splitlines()
    assert len(lines) <= 24
    assert all(len(line) <= 80 for line in lines)
    assert "\x1b" not in text
    assert "lab" in lines[0] and "green" in lines[0]
    assert any("web1" in line and "scheduler" in line for line in lines)
    assert any("http://127.0.10.11:8000/healthz" in line for line in lines)
    assert any("db2" in line and "127.0.10.22:5432" in line for line in lines)
    assert any("root@127.0.10.2:2222" in line for line in lines)


def test_summary_cuts_a_large_cluster_to_one_screen(tmp_path: Path) -> None:
    boxes = "\n".join(f"  web{i}: {{address: 10.0.0.{i}}}" for i in range(1, 41))
    nodes = "\n".join(f"  web{i}: {{role: hot}}" for i in range(2, 41))
    text = (
        "version: 1\ncluster: {name: big, environment: {label: big, colour: '#AA00ff'}}\n"
        f"boxes:\n{boxes}\n"
        "web_defaults:\n"
        f"  health_url: http://{{address}}:8000/{'x' * 80}\n"
        "  access_log: /l/access.{role}.{node}.log\n"
        "  error_log: /l/error.{node}.log\n"
        "  role_file: /r\n"
        f"web_nodes:\n  web1: {{role: hot, scheduler: true}}\n{nodes}\n"
    )
    (tmp_path / "big.yaml").write_text(text)
    inv = load(tmp_path / "big.yaml")
    assert inv.environment.colour == "#aa00ff"
    lines = summary(inv).splitlines()
    assert len(lines) <= 24
    assert all(len(line) <= 80 for line in lines)
    assert any("more" in line for line in lines)


def test_problem_and_error_format() -> None:
    problem = Problem("cluster.yaml", 12, 5, "boxes.web1.port", "found 'abc' (text); expected x")
    assert str(problem) == "cluster.yaml:12:5: boxes.web1.port: found 'abc' (text); expected x"
    error = InventoryError([problem, Problem("cluster.yaml", 1, 1, "", "the file is empty")])
    lines = str(error).splitlines()
    assert lines[0] == str(problem)
    assert lines[1] == "cluster.yaml:1:1: the file is empty"
    assert "hotspare check-config cluster.yaml" in lines[2]
    assert error.problems[0] is problem
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.line = 3  # type: ignore[misc]


def test_patroni_url_fills_in_each_databases_host(tmp_path: Path) -> None:
    text = GOOD_LAB.read_text().replace(
        "  become: runuser\n",
        "  become: runuser\n  manager: patroni\n  patroni_url: http://{host}:8008\n",
    )
    (tmp_path / "cluster.yaml").write_text(text)
    inv = load(tmp_path / "cluster.yaml")
    assert [(d.manager, d.patroni_url) for d in inv.databases] == [
        ("patroni", "http://127.0.10.21:8008"),
        ("patroni", "http://127.0.10.22:8008"),
    ]


def test_databases_are_managed_by_hotspare_unless_said(lab: Inventory) -> None:
    assert {(d.manager, d.patroni_url) for d in lab.databases} == {("postgres", None)}


@pytest.mark.parametrize(
    ("added", "key", "says"),
    [
        (
            "manager: patroni",
            "databases.db2.manager",
            "manager is patroni but patroni_url is not set; add patroni_url",
        ),
        ("manager: patroniy", "databases.db2.manager", "(did you mean 'patroni'?)"),
        (
            "manager: patroni, patroni_url: 'http://{address}:8008'",
            "databases.db2.patroni_url",
            "placeholders allowed here: {host}",
        ),
        (
            "manager: patroni, patroni_url: '127.0.0.1:8008'",
            "databases.db2.patroni_url",
            "expected an http:// or https:// URL",
        ),
    ],
)
def test_patroni_settings_that_cannot_work_are_refused(
    tmp_path: Path, added: str, key: str, says: str
) -> None:
    text = GOOD_LAB.read_text().replace(
        "  db2: {host: 127.0.10.22}", f"  db2: {{host: 127.0.10.22, {added}}}"
    )
    (tmp_path / "cluster.yaml").write_text(text)
    with pytest.raises(InventoryError) as info:
        load(tmp_path / "cluster.yaml")
    (problem,) = info.value.problems
    assert problem.key == key
    assert says in problem.message


def _lab_with(tmp_path: Path, old: str, new: str) -> Inventory:
    text = GOOD_LAB.read_text()
    assert old in text
    path = tmp_path / "cluster.yaml"
    path.write_text(text.replace(old, new))
    return load(path)


def test_a_web_node_is_in_the_balancers_backend_unless_it_names_another(tmp_path: Path) -> None:
    inv = _lab_with(tmp_path, "  web3: {role: warm}", "  web3: {role: warm, backend: site_b}")
    assert [w.backend for w in inv.web_nodes] == ["site", "site", "site_b"]
    assert inv.balancer is not None
    assert inv.balancer.backends == ("site", "site_b")
    assert "(backend site_b)" in summary(inv)
    assert "backend site (also site_b)" in summary(inv)


def test_backends_list_the_balancers_own_first_even_when_no_node_is_in_it(
    tmp_path: Path,
) -> None:
    inv = _lab_with(tmp_path, "  web2: {role: hot}", "  web2: {role: hot, backend: side_a}")
    assert inv.balancer is not None
    assert inv.balancer.backends == ("site", "side_a")


def test_without_a_balancer_a_web_node_has_no_backend(tmp_path: Path) -> None:
    text = GOOD_LAB.read_text()
    start = text.index("balancer:")
    end = text.index("web_defaults:")
    path = tmp_path / "cluster.yaml"
    path.write_text(text[:start] + text[end:])
    inv = load(path)
    assert inv.balancer is None
    assert {w.backend for w in inv.web_nodes} == {""}
