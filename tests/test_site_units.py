"""Pure parts of the demo site: log lines, pages, mail records, role following."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from console.lab.site import SCHEMA_SQL
from console.lab.site.accesslog import AccessEntry, AccessLog, escape_log_item, format_combined
from console.lab.site.errorlog import ErrorLog, format_error_line
from console.lab.site.handler import retry_after
from console.lab.site.mail import build_message, format_record
from console.lab.site.pages import index_page, read_only_page
from console.lab.site.rolewatch import RoleWatcher
from console.node_role import NodeRole

QUOTED = r'"(?:[^"\\]|\\.)*"'
COMBINED = re.compile(
    rf"(?P<host>\S+) - - \[(?P<time>[^\]]+)\] (?P<request>{QUOTED}) (?P<status>\d{{3}}) "
    rf"(?P<size>\d+|-) (?P<referer>{QUOTED}) (?P<agent>{QUOTED})"
)
CET = timezone(timedelta(hours=1))
WHEN = datetime(2026, 11, 25, 23, 59, 1, 123456, tzinfo=CET)


def entry(**changes: object) -> AccessEntry:
    values: dict = {
        "client": "127.0.10.2",
        "when": WHEN,
        "request_line": "GET /notes.json HTTP/1.1",
        "status": 200,
        "size": 1234,
        "referer": "http://lb1/",
        "user_agent": "curl/8.5.0",
    }
    values.update(changes)
    return AccessEntry(**values)


def test_combined_log_line() -> None:
    assert format_combined(entry()) == (
        "127.0.10.2 - - [25/Nov/2026:23:59:01 +0100] "
        '"GET /notes.json HTTP/1.1" 200 1234 "http://lb1/" "curl/8.5.0"'
    )


def test_combined_log_line_without_size_or_headers() -> None:
    line = format_combined(entry(size=0, referer=None, user_agent=None, status=303))
    assert line.endswith('" 303 - "-" "-"')


def test_hostile_user_agent_cannot_forge_a_line() -> None:
    agent = 'evil" 200 5 "x"\n127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] "GET /\x1b[2J\\'
    line = format_combined(entry(user_agent=agent, request_line="GET /\r\nX HTTP/1.1"))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.endswith(
        '"evil\\" 200 5 \\"x\\"\\x0a127.0.0.1 - - [01/Jan/2000:00:00:00 +0000]'
        ' \\"GET /\\x1b[2J\\\\"'
    )
    assert '"GET /\\x0d\\x0aX HTTP/1.1"' in line
    # A log parser that honours the escapes still finds exactly the three quoted fields.
    match = COMBINED.fullmatch(line)
    assert match is not None
    assert match["agent"].startswith('"evil\\" 200')


def test_escape_log_item_handles_latin1_bytes_and_del() -> None:
    assert escape_log_item("caf\xe9\x7f") == "caf\\xe9\\x7f"
    assert escape_log_item("€") == "\\xe2\\x82\\xac"


def test_access_log_file_follows_the_role(tmp_path: Path) -> None:
    log = AccessLog(str(tmp_path / "access.{role}.{node}.log"), "web1")
    log.write("hot", entry())
    log.write("warm", entry(status=503))
    log.close()
    hot = (tmp_path / "access.hot.web1.log").read_text().splitlines()
    warm = (tmp_path / "access.warm.web1.log").read_text().splitlines()
    assert len(hot) == 1 and '" 200 ' in hot[0]
    assert len(warm) == 1 and '" 503 ' in warm[0]


def test_error_line_format_stays_on_one_line() -> None:
    when = datetime(2026, 11, 25, 23, 59, 1, 123456, tzinfo=UTC)
    assert format_error_line("error", "db down\nDETAIL: x", when) == (
        "[2026-11-25 23:59:01.123 +0000] [error] db down\\x0aDETAIL: x"
    )


def test_read_only_page_escapes_the_message() -> None:
    page = read_only_page('<script>alert("x")</script> & co', "2026-11-26 03:30 UTC")
    assert "The site is read-only for maintenance" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    assert "until 2026-11-26 03:30 UTC" in page


def test_index_page_escapes_notes_and_shows_the_banner() -> None:
    from console.lab.site.db import Note

    role = NodeRole(role="hot", read_only=True, read_only_message="<b>upgrade</b>")
    note = Note(7, "<img src=x onerror=alert(1)>", "web<1>", WHEN)
    page = index_page("web1", role, [note])
    assert "<title>hotspare demo site</title>" in page
    assert "<img" not in page and "web<1>" not in page
    assert "&lt;b&gt;upgrade&lt;/b&gt;" in page
    assert "<fieldset disabled>" in page


def test_mail_record_format() -> None:
    msg = build_message("web2", "new note #3", "hello\n=== end ===\nbye\n", WHEN)
    record = format_record(msg, "UNSENT", "smtp 127.0.10.1:2525 failed:\n refused")
    lines = record.split("\n")
    assert lines[0] == "=== mail UNSENT: smtp 127.0.10.1:2525 failed: refused ==="
    assert lines[1] == "From: hotspare demo site <site@web2.hotspare.test>"
    assert lines[2] == "To: operators@hotspare.test"
    assert lines[3] == "Subject: new note #3"
    assert lines[4] == "Date: Wed, 25 Nov 2026 23:59:01 +0100"
    assert lines[5:9] == ["", "hello", ">=== end ===", "bye"]
    assert lines[9:] == ["=== end ===", ""]  # the record ends with a blank line


def test_retry_after_uses_the_until_time() -> None:
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert retry_after("2026-11-26 03:30 UTC", now) == 1800
    assert retry_after("2026-11-26 02:30 UTC", now) == 300  # already past
    assert retry_after("after lunch", now) == 300


def test_role_watcher_keeps_the_last_good_role(tmp_path: Path) -> None:
    role_file = tmp_path / "node-role"
    errlog = ErrorLog(str(tmp_path / "error.{node}.log"), "web1")
    watcher = RoleWatcher(role_file, errlog)
    assert watcher.current() == NodeRole()  # missing file: safe defaults
    role_file.write_text("role=hot\n")
    assert watcher.current().role == "hot"
    for _ in range(3):
        role_file.write_text("role=hot\nbad line\n")
        os.utime(role_file, ns=(1, 1 + _))  # a new mtime each time
        assert watcher.current().role == "hot"
    assert watcher.problem is not None and "line 2" in watcher.problem
    role_file.write_text("role=warm\n")
    assert watcher.current().role == "warm"
    errlog.close()
    lines = (tmp_path / "error.web1.log").read_text().splitlines()
    assert sum("bad role file" in line for line in lines) == 1  # once, not per read
    assert any("role changed: role=hot->warm" in line for line in lines)


def test_schema_sql_is_shipped() -> None:
    text = SCHEMA_SQL.read_text()
    assert "CREATE TABLE IF NOT EXISTS notes" in text
    assert "CREATE TABLE IF NOT EXISTS sweep_runs" in text
