"""The node role file: parse, render, round trip, errors and the mail invariant."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import node_role
from console.node_role import NodeRole, RoleFileError, effective_mail


def test_empty_file_gives_the_warm_defaults() -> None:
    assert node_role.parse("") == NodeRole()
    assert NodeRole() == NodeRole(
        role="warm", scheduler=False, mail="log", read_only=False,
        read_only_message="", read_only_until="",
    )  # fmt: skip


def test_parse_reads_every_key_with_comments_and_blanks() -> None:
    text = (
        "\ufeff# written by hotspare\n\n"
        "role=hot\n  scheduler = yes\nmail=real\nread_only=yes\n"
        "read_only_message=Upgrade to 5.10 # not a comment = really\n"
        "read_only_until=2026-11-26 03:30 UTC\n"
    )
    assert node_role.parse(text) == NodeRole(
        role="hot",
        scheduler=True,
        mail="real",
        read_only=True,
        read_only_message="Upgrade to 5.10 # not a comment = really",
        read_only_until="2026-11-26 03:30 UTC",
    )


@pytest.mark.parametrize(
    "role",
    [
        NodeRole(),
        NodeRole(role="hot", scheduler=True, mail="real"),
        NodeRole(read_only=True, read_only_message="Zurück bald — <b>&", read_only_until="soon"),
        NodeRole(read_only=True, read_only_message="a=b=c", read_only_until=""),
    ],
)
def test_render_then_parse_round_trips(role: NodeRole) -> None:
    text = node_role.render(role)
    assert text.startswith("# ")
    assert "hotspare" in text.splitlines()[0]
    assert node_role.parse(text) == role


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("role=hot\nbogus=1\n", 2, "unknown key 'bogus'"),
        ("# c\nrole=lukewarm\n", 2, "role must be hot or warm"),
        ("scheduler=true\n", 1, "scheduler must be yes or no"),
        ("read_only=1\n", 1, "read_only must be yes or no"),
        ("mail=smtp\n", 1, "mail must be real or log"),
        ("\n\nrole hot\n", 3, "expected key=value"),
        ("role=hot\nrole=warm\n", 2, "given twice"),
        ("read_only_message=a\x00b\n", 1, "NUL"),
    ],
)
def test_parse_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(RoleFileError) as info:
        node_role.parse(text)
    assert info.value.line == line
    assert words in str(info.value)
    assert str(info.value).startswith(f"line {line}: ")
    assert isinstance(info.value, ValueError)


def test_values_that_would_break_the_file_are_refused() -> None:
    with pytest.raises(RoleFileError):
        NodeRole(read_only_message="two\nlines")
    with pytest.raises(RoleFileError):
        NodeRole(role="cold")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "scheduler", "mail", "expected"),
    [
        ("hot", True, "real", "real"),
        ("hot", False, "real", "real"),
        ("hot", True, "log", "log"),
        ("warm", True, "real", "log"),
        ("warm", False, "real", "log"),
        ("warm", False, "log", "log"),
    ],
)
def test_only_a_hot_node_sends_real_mail(
    role: str, scheduler: bool, mail: str, expected: str
) -> None:
    flags = NodeRole(role=role, scheduler=scheduler, mail=mail)  # type: ignore[arg-type]
    assert effective_mail(flags) == expected


def test_write_is_atomic_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "node-role"
    path.write_text("role=warm\n", encoding="utf-8")
    before = path.stat().st_ino
    role = NodeRole(role="hot", scheduler=True, read_only=True, read_only_message="Back soon")
    node_role.write(path, role)
    assert node_role.read(path) == role
    assert path.stat().st_ino != before  # replaced, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node-role"]  # no temp file left


def test_read_refuses_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "node-role"
    path.write_bytes(b"read_only_message=caf\xe9\n")
    with pytest.raises(RoleFileError, match="UTF-8"):
        node_role.read(path)


# --- the database pin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "database", ["10.0.0.21:5432", "127.0.94.22:5432", "db-b.example.com:6432", "localhost:1"]
)
def test_a_database_pin_parses_renders_and_round_trips(database: str) -> None:
    role = NodeRole(role="hot", database=database)
    text = node_role.render(role)
    assert f"\ndatabase={database}\n" in text
    assert node_role.parse(text) == role
    assert node_role.parse(f"role=hot\ndatabase = {database}\n") == role


def test_a_file_without_the_pin_uses_the_dsn_as_before() -> None:
    assert node_role.parse("role=hot\nscheduler=yes\n").database == ""
    assert node_role.parse("database=\n") == NodeRole()
    assert "\ndatabase=\n" in node_role.render(NodeRole())


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.21",  # no port
        "10.0.0.21:",
        ":5432",
        "10.0.0.21:0",
        "10.0.0.21:65536",
        "10.0.0.21:54x2",
        "999.0.0.1:5432",  # all numbers, but no IPv4 address
        "10.0.0:5432",
        "[::1]:5432",  # IPv6 is not taken
        "-db.example.com:5432",
        "db..example.com:5432",
        "db_b:5432",
        "db b:5432",
        "dbé:5432",
        "10.0.0.21:5432,10.0.0.22:5432",
    ],
)
def test_a_bad_database_pin_is_refused_with_the_format(value: str) -> None:
    with pytest.raises(RoleFileError) as info:
        node_role.parse(f"role=hot\ndatabase={value}\n")
    assert info.value.line == 2
    assert "database must be HOST:PORT such as 10.0.0.21:5432, or empty" in str(info.value)
    with pytest.raises(RoleFileError, match="database must be HOST:PORT"):
        NodeRole(database=value)  # render() can never write what parse() refuses
