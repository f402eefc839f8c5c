"""The lab is real: sshd, HAProxy, PostgreSQL replication and the demo site."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.utils
import uuid
from functools import partial
from pathlib import Path

import asyncssh
import pytest

from console.lab import control, pg
from console.lab.layout import LabLayout
from tests.support.labclient import db, eventually, haproxy, http, ssh

pytestmark = pytest.mark.lab


def test_every_box_accepts_the_lab_key_and_pinned_host_key(lab: LabLayout) -> None:
    async def whoami(box: str) -> str:
        async with await ssh(lab, box) as conn:
            result = await conn.run("echo $HOTSPARE_BOX", check=True, timeout=10)
        return str(result.stdout).strip()

    async def all_boxes() -> list[str]:
        return await asyncio.gather(*(whoami(box) for box in lab.boxes))

    assert asyncio.run(all_boxes()) == list(lab.boxes)


def test_a_wrong_client_key_is_refused(lab: LabLayout, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(ssh(lab, "web1", client_key=stranger))


def test_a_host_key_other_than_the_pinned_one_is_refused(lab: LabLayout, tmp_path: Path) -> None:
    # Pin db1's key for web1's address: web1 must fail host key verification.
    lines = lab.known_hosts.read_text().splitlines()
    web1 = next(line for line in lines if line.startswith(f"[{lab.address('web1')}]"))
    db1 = next(line for line in lines if line.startswith(f"[{lab.address('db1')}]"))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(web1.split()[0] + " " + " ".join(db1.split()[1:]) + "\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        asyncio.run(ssh(lab, "web1", known_hosts=wrong))


def test_haproxy_runtime_socket_answers_over_ssh(lab: LabLayout) -> None:
    answer = asyncio.run(haproxy(lab, "show servers state site"))
    rows = {f[3]: f for f in (line.split() for line in answer.splitlines()[2:]) if len(f) > 6}
    assert sorted(rows) == list(lab.web_names)
    # srv_admin_state: a warm node starts in maintenance (forced 0x01, from the
    # configuration 0x04); hot ones are ready (0).
    assert [int(rows[n][6]) & 0x01 for n in lab.web_names] == [0, 0, 1]
    eventually(lambda: asyncio.run(haproxy(lab, "show servers state site")).count(" 2 0 ") >= 2)


def test_the_standby_streams_from_the_primary(lab: LabLayout) -> None:
    with db(lab, "db1") as primary:
        row = primary.execute("SELECT application_name, state FROM pg_stat_replication").fetchall()
        assert row == [("db2", "streaming")]
        assert primary.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        archiving = primary.execute("SHOW archive_mode").fetchone()
        assert archiving == ("on",)
        assert primary.execute("SHOW wal_log_hints").fetchone() == ("on",)
    with db(lab, "db2") as standby:
        assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)


def test_a_post_through_the_balancer_lands_on_the_primary_and_the_standby(
    lab: LabLayout,
) -> None:
    body = f"note {uuid.uuid4()}"
    status, _ = http(f"{lab.site_url}notes", {"body": body})
    assert status == 200  # 303 followed to the page
    query = "SELECT node FROM notes WHERE body = %s"
    with db(lab, "db1") as primary:
        (node,) = primary.execute(query, (body,)).fetchone() or ("",)
    assert node in lab.web_names and node not in lab.warm_names
    with db(lab, "db2") as standby:
        eventually(lambda: standby.execute(query, (body,)).fetchone(), timeout=5)
    status, page = http(lab.site_url)
    assert status == 200 and body in page


def _set_flags(lab: LabLayout, mode: str, message: str = "-", until: str = "-") -> None:
    flags = lab.flags_map()
    for key, value in (("mode", mode), ("message", message), ("until", until)):
        # The runtime API splits on spaces; a backslash keeps one in the value.
        escaped = value.replace(" ", "\\ ")
        answer = asyncio.run(haproxy(lab, f"set map {flags} {key} {escaped}"))
        assert answer.strip() == "", answer


def test_read_only_and_maintenance_pages_switch_at_run_time(lab: LabLayout) -> None:
    form = {"body": "should be refused"}
    try:
        _set_flags(lab, "read-only", "Upgrading to 5.10", "03:30 UTC")
        status, page = http(f"{lab.site_url}notes", form)
        assert status == 503
        assert "read-only" in page and "Upgrading to 5.10" in page and "03:30 UTC" in page
        assert http(lab.site_url)[0] == 200  # reading still works

        _set_flags(lab, "maintenance", "Moving data centres", "04:00 UTC")
        status, page = http(lab.site_url)
        assert status == 503
        assert "Down for maintenance" in page and "Back at 04:00 UTC" in page
    finally:
        _set_flags(lab, "normal")
    assert http(lab.site_url)[0] == 200
    assert http(f"{lab.site_url}notes", {"body": "after maintenance"})[0] == 200


def test_the_sweep_runs_only_on_the_scheduler(lab: LabLayout) -> None:
    # From now on: other tests move the scheduler and back, which the table remembers.
    with db(lab, "db1") as primary:
        since = primary.execute("SELECT now()").fetchone()
        query = "SELECT node, count(*) FROM sweep_runs WHERE ran_at > %s GROUP BY node"
        runs = lambda: dict(primary.execute(query, since).fetchall())  # noqa: E731
        assert eventually(lambda: runs().get("web1", 0) >= 2)
        assert set(runs()) == {"web1"}


def _real_mail(lab: LabLayout) -> dict[Path, email.message.Message]:
    return {
        path: email.message_from_bytes(path.read_bytes()) for path in lab.mail_dir.glob("*.eml")
    }


def _logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text()


def test_real_mail_only_from_the_scheduler_other_nodes_mail_to_their_log(
    lab: LabLayout,
) -> None:
    earlier = _real_mail(lab)  # other tests may have moved the scheduler and back
    eventually(lambda: set(_real_mail(lab)) - set(earlier))  # the next sweep report
    before = _real_mail(lab)
    senders = {email.utils.parseaddr(str(before[p]["From"]))[1] for p in set(before) - set(earlier)}
    assert senders == {"site@web1.hotspare.test"}
    for node in ("web2", "web3"):  # a hot node that is not the scheduler, a warm one
        body = f"note on {node} {uuid.uuid4()}"
        assert http(f"{lab.node_url(node)}notes", {"body": body})[0] == 200
        mail_log = Path(lab.mail_log_pattern(node).format(node=node))
        eventually(partial(_logged, mail_log, body))
        new = set(_real_mail(lab)) - set(before)
        assert not any(body.encode() in path.read_bytes() for path in new)


def test_access_logs_follow_the_hot_and_warm_naming_scheme(lab: LabLayout) -> None:
    http(lab.node_url("web3"))
    log_dir = lab.box_dir("web3") / "log"
    assert (log_dir / "access.warm.web3.log").exists()
    assert not list(log_dir.glob("access.hot.*"))
    assert (lab.box_dir("web1") / "log" / "access.hot.web1.log").exists()


def test_lab_up_again_works_on_a_site_left_read_only(lab: LabLayout) -> None:
    """A run killed mid `read-only on` leaves default_transaction_read_only on every member."""

    with pg.superuser(lab, "db1") as conn:
        conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        conn.execute("SELECT pg_reload_conf()")
    try:
        control.up(lab, lambda line: None)  # bootstrap ALTERs roles: it must still write
    finally:
        with pg.superuser(lab, "db1") as conn:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")
