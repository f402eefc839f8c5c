"""The lab's layout and rendered files (pure: no processes started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from console.inventory import load
from console.lab import configs, patroni
from console.lab.inventory_file import render
from console.lab.layout import DEFAULT_BLOCK, LabLayout, LayoutError, check_block, find_pg_bin


@pytest.mark.parametrize("block", ["10.0.0", "127.0", "127.0.300", "localhost", "127.0.0.0"])
def test_a_block_outside_loopback_or_malformed_is_refused(block: str) -> None:
    with pytest.raises(LayoutError, match="loopback"):
        check_block(block)


@pytest.mark.parametrize("web_nodes", [4, 60])
def test_every_box_has_its_own_address_in_the_block(web_nodes: int) -> None:
    lab = LabLayout.for_block("127.0.42", web_nodes=web_nodes)
    addresses = [lab.address(box) for box in lab.boxes]
    assert len(set(addresses)) == len(addresses) == web_nodes + 3
    assert all(a.startswith("127.0.42.") for a in addresses)
    assert lab.host_address not in addresses
    assert lab.warm_names == (f"web{web_nodes}",)


def test_the_demo_site_connects_to_whichever_member_is_primary() -> None:
    dsn = LabLayout.for_block("127.0.42").site_dsn()
    assert "host=127.0.42.21,127.0.42.22" in dsn
    assert "target_session_attrs=primary" in dsn
    assert "password" not in dsn


def test_haproxy_starts_the_warm_node_in_maintenance() -> None:
    cfg = configs.haproxy_cfg(LabLayout.for_block("127.0.42"))
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server ")]
    assert [(s[1], s[-1]) for s in servers] == [
        ("web1", "2"),
        ("web2", "2"),
        ("web3", "disabled"),
    ]


@pytest.mark.skipif(os.getuid() != 0, reason="the committed cluster.yaml is the root lab's")
def test_the_committed_cluster_yaml_is_the_default_lab(repo_root: Path) -> None:
    lab = LabLayout.for_block(DEFAULT_BLOCK)
    assert (repo_root / "cluster.yaml").read_text() == render(lab, find_pg_bin())


def test_an_ab_lab_has_side_b_warm_and_disabled_in_its_own_backend() -> None:
    lab = LabLayout.for_block("127.0.42", ab=True)
    assert (lab.web_names, lab.warm_names) == (("web1", "web2", "web3", "web4"), ("web3", "web4"))
    cfg = configs.haproxy_cfg(lab)
    backends: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in cfg.splitlines():
        words = line.split()
        if line.startswith("backend "):
            current = words[1]
        elif words[:1] == ["server"]:
            backends.setdefault(current, []).append((words[1], words[-1]))
    assert backends == {
        "site": [("web1", "2"), ("web2", "2")],
        "site_b": [("web3", "disabled"), ("web4", "disabled")],
    }
    flags = str(lab.flags_map())
    assert f"  http-request set-var(txn.site_live) str(live),map({flags},site)\n" in cfg
    assert "  use_backend %[var(txn.site_live)]\n  default_backend site\n" in cfg
    assert configs.flags_map(lab.ab).splitlines()[-1] == "live site"


def test_an_ab_labs_inventory_puts_side_b_in_site_b(tmp_path: Path) -> None:
    lab = LabLayout.for_block("127.0.42", ab=True)
    path = tmp_path / "cluster.yaml"
    path.write_text(render(lab, "/usr/lib/postgresql/15/bin"))
    inv = load(path)
    assert [(w.name, w.role, w.backend) for w in inv.web_nodes] == [
        ("web1", "hot", "site"),
        ("web2", "hot", "site"),
        ("web3", "warm", "site_b"),
        ("web4", "warm", "site_b"),
    ]
    assert inv.balancer is not None and inv.balancer.backends == ("site", "site_b")


def test_a_plain_lab_has_no_live_entry_and_one_backend() -> None:
    lab = LabLayout.for_block("127.0.42")
    assert lab.backends == ("site",)
    assert "use_backend" not in configs.haproxy_cfg(lab)
    assert "live" not in configs.flags_map(lab.ab)


def test_an_unknown_engine_is_refused_naming_the_choices() -> None:
    with pytest.raises(LayoutError, match="postgres, patroni"):
        LabLayout.for_block("127.0.42", engine="stolon")


def test_a_patroni_lab_has_three_members_each_with_etcd_and_patroni(tmp_path: Path) -> None:
    lab = LabLayout.for_block("127.0.42", engine="patroni")
    assert lab.db_names == ("db1", "db2", "db3")
    assert "host=127.0.42.21,127.0.42.22,127.0.42.23" in lab.site_dsn()
    assert lab.etcd_endpoints == tuple(f"http://127.0.42.2{i}:2379" for i in (1, 2, 3))
    argv = patroni.etcd_argv(lab, "db2")
    cluster = argv[argv.index("--initial-cluster") + 1]
    assert cluster == ",".join(f"db{i}=http://127.0.42.2{i}:2380" for i in (1, 2, 3))
    assert argv[argv.index("--listen-client-urls") + 1] == "http://127.0.42.22:2379"
    secret = {"postgres": "p", "replicator": "r"}
    config = yaml.safe_load(patroni.patroni_config(lab, "db3", secret))
    assert config["name"] == "db3" and config["scope"] == "lab-127-0-42"
    assert config["restapi"]["listen"] == "127.0.42.23:8008"
    assert config["etcd3"]["hosts"] == [f"127.0.42.2{i}:2379" for i in (1, 2, 3)]
    assert config["postgresql"]["data_dir"] == str(lab.data_dir("db3"))
    dcs = config["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 2, 5)
    assert dcs["postgresql"]["use_pg_rewind"] and dcs["postgresql"]["use_slots"]
    assert "local   all          all                        trust" in config["postgresql"]["pg_hba"]
    # The inventory says Patroni promotes, through each box's REST API.
    path = tmp_path / "cluster.yaml"
    path.write_text(render(lab, "/usr/lib/postgresql/15/bin"))
    inv = load(path)
    assert [(d.name, d.manager, d.patroni_url) for d in inv.databases] == [
        (f"db{i}", "patroni", f"https://127.0.42.2{i}:8008") for i in (1, 2, 3)
    ]


def test_a_patroni_labs_haproxy_finds_the_primary_by_patronis_check() -> None:
    cfg = configs.haproxy_cfg(LabLayout.for_block("127.0.42", engine="patroni"))
    primary = cfg[cfg.index("listen db_primary") :].split("\nlisten ")[0]
    assert "bind 127.0.42.2:5000" in primary and "mode tcp" in primary
    assert "option httpchk OPTIONS /primary" in primary
    for i in (1, 2, 3):
        assert f"server db{i} 127.0.42.2{i}:5432 check port 8008" in primary
    assert "option httpchk OPTIONS /replica" in cfg[cfg.index("listen db_replicas") :]
    assert "listen db_" not in configs.haproxy_cfg(LabLayout.for_block("127.0.42"))
