"""The lab's layout and rendered files (pure: no processes started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.lab import configs
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
