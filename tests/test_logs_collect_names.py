"""logs collect, its pure parts: which names are logs, --since, the summary."""

from __future__ import annotations

import argparse
from datetime import date

import pytest

from console.cli import collect as cli_collect
from console.cli.collect import parse_since
from console.inventory import WebNode
from console.logs.archive import CollectReport, FileReport, NodeReport
from console.logs.collect import is_log_file, log_names

TODAY = date(2026, 11, 26)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotspare logs collect")
    cli_collect.add_arguments(parser)
    return parser


# Pure parts -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "access.hot.web1.log",
        "access.hot.web1.log.1",
        "access.hot.web1.log.12",
        "access.hot.web1.log.2.gz",
        "access.hot.web1.log.3.bz2",
        "access.hot.web1.log.4.xz",
        "access.hot.web1.log.5.zst",
        "access.hot.web1.log-20261125",
        "access.hot.web1.log-20261125.gz",
        "access.hot.web1.log-2026112506",
    ],
)
def test_a_log_and_its_rotations_are_collected(name: str) -> None:
    assert is_log_file(name, "access.hot.web1.log")


@pytest.mark.parametrize(
    "name",
    [
        "access.hot.web1.log.bak",
        "access.hot.web1.log.gz",
        "access.hot.web1.log.1.tmp",
        "access.hot.web1.log.2.zip",
        "access.hot.web1.log-2026",
        "access.hot.web1.log-20261125x",
        "access.hot.web1.logs",
        "access.hot.web11.log",
        "access.warm.web1.log",
        "xaccess.hot.web1.log",
        "access.hot.web1.log.1\n",
    ],
)
def test_other_names_beside_a_log_are_not(name: str) -> None:
    assert not is_log_file(name, "access.hot.web1.log")


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-11-01", date(2026, 11, 1)),
        ("today", TODAY),
        ("yesterday", date(2026, 11, 25)),
        ("0d", TODAY),
        ("7d", date(2026, 11, 19)),
        ("30d", date(2026, 10, 27)),
    ],
)
def test_since_names_a_day(text: str, day: date) -> None:
    assert parse_since(text, TODAY) == day


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "7", "-1d", "7 d", "2026-13-01", "2026-2-1", "20261101", "1w"]
)
def test_since_refuses_anything_else_and_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD, today, yesterday or Nd"):
        parse_since(text, TODAY)


def test_since_on_the_command_line_is_a_day_or_a_usage_error() -> None:
    parser = _parser()
    assert parser.parse_args(["/d", "--since", "0d"]).since == date.today()
    with pytest.raises(SystemExit):
        parser.parse_args(["/d", "--since", "last week"])


def test_hot_warm_and_error_logs_are_looked_for_in_their_directories() -> None:
    node = WebNode(
        "web1", "web1", "web1", "hot", False, "http://x/", "/var/log/site/access.{role}.web1.log",
        "/var/log/site/err/error.web1.log", "/etc/role", None,
    )  # fmt: skip
    assert log_names(node) == {
        "/var/log/site": ("access.hot.web1.log", "access.warm.web1.log"),
        "/var/log/site/err": ("error.web1.log",),
    }


def test_the_summary_fits_80_columns_and_names_every_problem() -> None:
    long = "connection refused at 127.0.99.250:2222: sshd is not running there " * 3
    bad = FileReport(
        "web1", "/l/access.hot.web1.log.1", "/a/access.hot.web1.log.1", 10, 10, 0, "failed",
        "checksum differs from the box's; the copy is kept as access.hot.web1.log.1.bad-1",
    )  # fmt: skip
    report = CollectReport(
        "/srv/log-archive",
        "2026-11-26",
        "2026-11-25",
        (NodeReport("web1", "web1", "/a", (bad,)), NodeReport("web2", "web2", "/b", (), long)),
    )
    text = cli_collect.render(report)
    assert max(map(len, text.splitlines())) <= 80
    assert "web1 access.hot.web1.log.1: failed: checksum differs" in text
    assert "bad-1" in text and "web2: connection refused" in text
    assert "FAILED: 1 node(s) not collected, 1 file(s) failed" in text
