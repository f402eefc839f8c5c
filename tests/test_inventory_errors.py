"""Every broken inventory gives precise problems, all at once, and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from console.inventory import InventoryError, Problem, load, yamltree

CASES = Path(__file__).resolve().parent / "inventory_cases"
GOOD_LAB = CASES / "good_lab.yaml"
INTERNAL = "please report it"

# (file, line, key, a distinctive part of the message); each file has one defect.
BROKEN = [
    ("bad_port_text.yaml", 8, "boxes.web1.port", "found 'abc' (text); expected a whole number"),
    ("quoted_port.yaml", 6, "boxes.web1.port", "'22' (text)"),
    ("bool_port.yaml", 6, "boxes.web1.port", "found yes (true/false)"),
    ("port_out_of_range.yaml", 6, "boxes.web1.port", "from 1 to 65535"),
    ("unknown_key_typo.yaml", 6, "boxes.web1.adress", "did you mean 'address'?"),
    ("duplicate_key.yaml", 9, "boxes.web1.port", "on lines 8 and 9"),
    ("password_key.yaml", 17, "databases.web1.password", "passwords never go in cluster.yaml"),
    ("two_schedulers.yaml", 15, "web_nodes.web2.scheduler", "web1 and web2 both have"),
    ("warm_scheduler.yaml", 13, "web_nodes.web1.scheduler", "must never run scheduled jobs"),
    ("no_scheduler.yaml", 13, "web_nodes", "no web node has scheduler: true"),
    ("access_log_without_role.yaml", 9, "web_defaults.access_log", "hot and warm logs"),
    ("error_log_without_node.yaml", 10, "web_defaults.error_log", "containing {node}"),
    ("relative_remote_path.yaml", 11, "web_defaults.role_file", "remote paths must be absolute"),
    ("relative_balancer_socket.yaml", 9, "balancer.socket", "a path on box lb1"),
    ("jump_cycle.yaml", 6, "boxes.gw1.jump", "jump cycle gw1 -> gw2 -> gw1"),
    ("jump_self.yaml", 6, "boxes.web1.jump[0]", "may not jump through itself"),
    ("unknown_jump.yaml", 7, "boxes.web1.jump", "did you mean 'bastion'?"),
    ("bad_jump_port.yaml", 6, "boxes.web1.jump", "port from 1 to 65535"),
    ("yaml_syntax.yaml", 7, "", "YAML syntax error"),
    ("tab_indent.yaml", 7, "", "tabs"),
    ("empty.yaml", 1, "", "the file is empty"),
    ("top_level_list.yaml", 1, "", "found a list at the top level"),
    ("bad_colour.yaml", 4, "cluster.environment.colour", "found 'purple' (text)"),
    ("unquoted_hex_colour.yaml", 6, "cluster.environment.colour", "unquoted # starts a YAML"),
    ("bad_cluster_name.yaml", 3, "cluster.name", "expected a cluster name"),
    ("version_2.yaml", 1, "version", "reads version 1 files only"),
    ("quoted_version.yaml", 1, "version", "without quotes"),
    ("missing_boxes.yaml", 1, "boxes", "required key 'boxes' is missing"),
    ("empty_boxes.yaml", 5, "boxes", "at least one box"),
    ("bad_box_name.yaml", 6, "boxes.web 1", "expected a box name"),
    ("bad_address.yaml", 6, "boxes.web1.address", "expected an IP address or a host name"),
    ("address_in_defaults.yaml", 6, "defaults.address", "every box has its own address"),
    ("bad_timeout.yaml", 6, "defaults.connect_timeout", "above 0 and at most 120"),
    ("web_node_unknown_box.yaml", 14, "web_nodes.www2.box", "no box named 'www2'"),
    ("balancer_unknown_box.yaml", 8, "balancer.box", "no box named 'lb1'"),
    ("box_in_web_defaults.yaml", 12, "web_defaults.box", "'box' cannot go here"),
    ("missing_web_key.yaml", 13, "web_nodes.web1.role", "set it here or in web_defaults"),
    ("missing_db_key.yaml", 15, "databases.db1.os_user", "required key 'os_user' is missing"),
    ("health_url_not_http.yaml", 8, "web_defaults.health_url", "http:// or https://"),
    ("bad_become.yaml", 14, "database_defaults.become", "one of: sudo, runuser, none"),
    ("unknown_placeholder.yaml", 10, "web_defaults.error_log", "{nod} (did you mean {node}?)"),
    ("role_in_error_log.yaml", 10, "web_defaults.error_log", "unknown placeholder {role}"),
    ("duplicate_server.yaml", 15, "web_nodes.web2.server", "server names must be unique"),
    ("backend_without_balancer.yaml", 15, "web_nodes.web2.backend", "has no balancer section"),
    ("duplicate_db_port.yaml", 8, "databases.copy.port", "cannot share a port"),
    ("unknown_top_key.yaml", 7, "web_node", "did you mean 'web_nodes'?"),
    ("merge_key.yaml", 8, "boxes.web2.<<", "merge keys (<<) are not supported"),
]


def problems_of(path: Path | str) -> tuple[Problem, ...]:
    with pytest.raises(InventoryError) as info:
        load(path)
    return info.value.problems


def test_every_case_file_is_listed() -> None:
    listed = {name for name, *_ in BROKEN} | {GOOD_LAB.name}
    assert listed == {p.name for p in CASES.glob("*.yaml")}
    assert len(BROKEN) >= 20


@pytest.mark.parametrize(("name", "line", "key", "text"), BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_file_reports_its_one_problem(
    name: str, line: int, key: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CASES)
    problems = problems_of(name)
    assert len(problems) == 1, "\n".join(map(str, problems))
    problem = problems[0]
    assert (problem.line, problem.key) == (line, key), str(problem)
    assert text in problem.message
    assert problem.path == name
    assert problem.column >= 1
    assert str(problem).startswith(f"{name}:{line}:{problem.column}: ")


def test_error_text_ends_with_what_to_do() -> None:
    with pytest.raises(InventoryError) as info:
        load(CASES / "bad_port_text.yaml")
    lines = str(info.value).splitlines()
    assert lines[0].endswith(
        "boxes.web1.port: found 'abc' (text); expected a whole number from 1 to 65535"
    )
    assert lines[-1].startswith("Fix this problem and run `hotspare check-config ")


def test_path_is_shown_as_given_or_relative_to_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(CASES)
    (problem,) = problems_of(CASES / "version_2.yaml")
    assert problem.path == "version_2.yaml"
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of(CASES / "version_2.yaml")
    assert problem.path == str(CASES / "version_2.yaml")


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    text = (
        GOOD_LAB.read_text()
        .replace("web1: {address: 127.0.10.11}", "web1: {address: 127.0.10.11, port: abc}")
        .replace("colour: green", "colour: purple")
        .replace("web3: {role: warm}", "web3: {role: warm, scheduler: true}")
        .replace("become: runuser", "become: su\n  password: secret")
        .replace("site_url:", "site_ulr:")
    )
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    problems = problems_of(path)
    keys = [p.key for p in problems]
    assert keys == [
        "cluster.environment.colour",
        "boxes.web1.port",
        "balancer.site_ulr",
        "web_nodes.web3.scheduler",
        "database_defaults.become",
        "database_defaults.password",
    ]
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert "these 6 problems" in str(InventoryError(problems)).splitlines()[-1]


def test_missing_file(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "nope.yaml")
    assert (problem.line, problem.column, problem.key) == (1, 1, "")
    assert "no such file" in problem.message


def test_directory(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path)
    assert "directory" in problem.message
    assert (problem.line, problem.column) == (1, 1)


@pytest.mark.parametrize(
    ("error", "text"),
    [(PermissionError(13, "Permission denied"), "permission denied"), (OSError(5, "I/O"), "I/O")],
)
def test_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, text: str
) -> None:
    # chmod 000 does not stop root, so make the read fail directly.
    def refuse(path: Path) -> bytes:
        raise error

    path = tmp_path / "cluster.yaml"
    path.write_text("version: 1\n")
    monkeypatch.setattr(yamltree, "_read_capped", refuse)
    (problem,) = problems_of(path)
    assert (problem.line, problem.column) == (1, 1)
    assert text in problem.message


def test_a_bug_in_the_loader_still_gives_an_inventory_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("console.inventory.loader.read_boxes", broken)
    (problem,) = problems_of(GOOD_LAB)
    assert INTERNAL in problem.message and "ZeroDivisionError" in problem.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_bytes(b"version: 1\ncluster:\n  name: caf\xe9\n")
    (problem,) = problems_of(path)
    assert (problem.line, problem.column) == (3, 12)
    assert "not UTF-8" in problem.message


def test_recursive_alias_does_not_hang(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("version: 1\nboxes: &b\n  web1: *b\n")
    problems = problems_of(path)
    assert all(INTERNAL not in p.message for p in problems)


def test_two_documents(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(GOOD_LAB.read_text() + "---\nversion: 1\n")
    (problem,) = problems_of(path)
    assert "YAML syntax error" in problem.message


def _lab_variants() -> list[tuple[str, str]]:
    """The lab file with one line dropped, or one value replaced by each kind of value."""
    lines = GOOD_LAB.read_text().splitlines()
    variants = []
    for index in range(1, len(lines)):
        dropped = lines[:index] + lines[index + 1 :]
        variants.append((f"drop line {index + 1}", "\n".join(dropped)))
    for index, line in enumerate(lines):
        if ": " not in line or line.lstrip().startswith("#"):
            continue
        head = line.split(": ", 1)[0]
        for value in ("[a, b]", "{a: 1}", "null", "yes", "-3", "0.5", "'{nod}'", "!!int x", "!x y"):
            changed = [*lines[:index], f"{head}: {value}", *lines[index + 1 :]]
            variants.append((f"line {index + 1} = {value}", "\n".join(changed)))
    return variants


def test_no_variant_of_the_lab_file_escapes_as_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    for label, text in _lab_variants():
        path.write_text(text)
        try:
            load(path)
        except InventoryError as exc:
            assert exc.problems, label
            assert all(INTERNAL not in p.message for p in exc.problems), (label, str(exc))
            assert all(p.line >= 1 and p.column >= 1 for p in exc.problems), label
        else:
            yaml.safe_load(text)  # what loads must at least be YAML


def test_null_where_optional_means_none(tmp_path: Path) -> None:
    text = GOOD_LAB.read_text().replace(
        "  web2: {role: hot}", "  web2: {role: hot, pid_file: null}"
    )
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    assert load(path).web_node("web2").pid_file is None
