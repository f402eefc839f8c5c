"""One PostgreSQL member through psycopg: its role, position and replication.

The caller owns the connection (it runs over an SSH-forwarded port) and sets
statement_timeout on it. Everything is read in ONE query that is valid on a
primary and on a standby alike: functions that error on one of them
(pg_current_wal_lsn, pg_walfile_name, pg_is_wal_replay_paused) sit behind a
CASE on pg_is_in_recovery(), which PostgreSQL evaluates lazily for volatile
functions. The monitoring role needs pg_monitor (a superuser also works):
without pg_read_all_stats, pg_stat_wal_receiver and pg_stat_replication
show only pids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row

from console.inventory import Database
from console.state.model import Archiver, DatabaseState, Slot, StandbyLink, unknown_member

DEFAULT_TIMEOUT = 3.0

# "Position" is where WAL ends on this member: written on a primary, received
# on a standby (which serves cascading standbys and keeps slots from there).
_MEMBER_SQL = """
WITH me AS (
  SELECT pg_is_in_recovery() AS in_recovery,
         CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
              ELSE pg_current_wal_lsn() END AS position
),
-- The name of the WAL segment that holds a standby's last replayed byte, in
-- the form of a WAL file's last 16 characters (pg_walfile_name errors there).
replayed AS (
  SELECT upper(lpad(to_hex(floor(b / 4294967296)::bigint), 8, '0')
            || lpad(to_hex(floor(mod(b, 4294967296) / size)::bigint), 8, '0')) AS segment
    FROM (SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') - 1 AS b,
                 (SELECT setting::numeric FROM pg_settings
                   WHERE name = 'wal_segment_size') AS size) p
)
SELECT
  me.in_recovery,
  current_setting('default_transaction_read_only')::bool AS read_only_default,
  (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
  -- A promoted primary's checkpoint record keeps the old timeline until its
  -- first checkpoint; the current WAL file's name has the new one at once.
  CASE WHEN me.in_recovery THEN NULL
       ELSE ('x' || substr(pg_walfile_name(me.position), 1, 8))::bit(32)::int
  END AS primary_timeline,
  -- A standby's own checkpoint keeps an old timeline until its next
  -- restartpoint: the timeline it follows is its receiver's, else that of the
  -- WAL files it replays (the receiver names them by timeline), else the
  -- newest history file it accepted (pg_ls_waldir: pg_monitor may call it).
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
  CASE WHEN me.in_recovery THEN
    (SELECT max(('x' || substr(w.name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() w
      WHERE w.name ~ '^[0-9A-F]{24}$' AND substr(w.name, 9) = (SELECT segment FROM replayed))
  END AS replayed_timeline,
  CASE WHEN me.in_recovery THEN
    (SELECT max(('x' || substr(w.name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() w
      WHERE w.name ~ '^[0-9A-F]{8}[.]history$')
  END AS history_timeline,
  CASE WHEN me.in_recovery THEN NULL ELSE me.position::text END AS current_lsn,
  -- A promoted primary keeps answering these with what it had as a standby.
  CASE WHEN me.in_recovery THEN pg_last_wal_receive_lsn()::text END AS receive_lsn,
  CASE WHEN me.in_recovery THEN pg_last_wal_replay_lsn()::text END AS replay_lsn,
  CASE WHEN me.in_recovery THEN pg_is_wal_replay_paused() END AS replay_paused,
  CASE WHEN me.in_recovery
       THEN extract(epoch FROM pg_last_xact_replay_timestamp())::float8 END
    AS last_replayed_commit,
  -- On an idle site the last replayed commit grows old while the standby is
  -- fully caught up: replayed everything received means no lag.
  CASE WHEN NOT me.in_recovery THEN NULL
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
       ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
  END AS replay_lag_s,
  (SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int AS connections,
  (SELECT row_to_json(w) FROM (
     SELECT status, sender_host, received_tli FROM pg_stat_wal_receiver) w) AS receiver,
  (SELECT coalesce(json_agg(r ORDER BY r.application_name), '[]') FROM (
     SELECT application_name, host(client_addr) AS client_addr, state, sync_state,
            sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn,
            flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn,
            pg_wal_lsn_diff(me.position, replay_lsn)::bigint AS lag_bytes,
            extract(epoch FROM replay_lag)::float8 AS replay_lag_s
       FROM pg_stat_replication) r) AS standbys,
  (SELECT coalesce(json_agg(s ORDER BY s.slot_name), '[]') FROM (
     SELECT slot_name, active, restart_lsn::text AS restart_lsn,
            pg_wal_lsn_diff(me.position, restart_lsn)::bigint AS retained_bytes
       FROM pg_replication_slots) s) AS slots,
  (SELECT row_to_json(a) FROM (
     SELECT archived_count, last_archived_wal,
            extract(epoch FROM last_archived_time)::float8 AS last_archived_time,
            failed_count, last_failed_wal,
            extract(epoch FROM last_failed_time)::float8 AS last_failed_time
       FROM pg_stat_archiver) a) AS archiver
FROM me
"""


async def probe_database(
    conn: psycopg.AsyncConnection[Any],
    cfg: Database,
    now: float,
    # The probe owns its deadline so that a timeout carries an operator message.
    timeout: float = DEFAULT_TIMEOUT,
) -> DatabaseState:
    """Read one member's role, timeline, WAL positions, standbys, slots and archiver.

    Args:
        conn: an open connection to the member, owned by the caller.
        cfg: the member's entry in cluster.yaml.
        now: epoch seconds to stamp the result with.
        timeout: seconds before the query is given up (psycopg then cancels
            it on the server, so the connection stays usable).

    Raises:
        TimeoutError: no answer within ``timeout``; the message says so.
        psycopg.Error: the query or the connection failed, unchanged so that
            the caller, which owns the connection, can tell which and report
            ``unreachable``.
    """
    try:
        row = await asyncio.wait_for(_fetch(conn), timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"no answer to the probe within {timeout:g} s") from exc
    return _database(row, cfg, now)


def not_answering(cfg: Database, timeout: float) -> str:
    """The problem of a member whose box answers while PostgreSQL stays silent."""
    return (
        f"PostgreSQL at {cfg.host}:{cfg.port} does not answer a new connection within "
        f"{timeout:g} s; its box {cfg.box} answers over SSH"
    )


def refusing(cfg: Database, reason: str) -> str:
    """The problem of a member that refuses a new connection, in the member's own address.

    REASON: libpq's words without the address it dialled (dbconn.libpq_reason),
    which is the SSH forward's on this machine.
    """
    return (
        f"PostgreSQL at {cfg.host}:{cfg.port} takes no new connection: {reason}; "
        f"its box {cfg.box} answers over SSH"
    )


def unreachable(cfg: Database, now: float, problem: str) -> DatabaseState:
    """A member that could not be probed: nothing known but the problem."""
    return unknown_member(cfg.name, cfg.box, now, problem)


async def _fetch(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_MEMBER_SQL)
        row = await cur.fetchone()
    if not conn.autocommit:
        # Do not leave the caller's connection idle in a transaction.
        await conn.rollback()
    if row is None:  # the query selects from a one-row CTE: only a broken server gets here
        raise psycopg.DataError("the probe query returned no row")
    return row


def _database(row: Mapping[str, Any], cfg: Database, now: float) -> DatabaseState:
    standby = bool(row["in_recovery"])
    receiver: Mapping[str, Any] = row["receiver"] or {}
    if standby:
        timeline = standby_timeline(
            receiver.get("received_tli"),
            row["replayed_timeline"],
            row["history_timeline"],
            row["checkpoint_timeline"],
        )
    else:
        timeline = row["primary_timeline"]
    return DatabaseState(
        name=cfg.name,
        box=cfg.box,
        observed_at=now,
        role="standby" if standby else "primary",
        writable=not standby and not row["read_only_default"],
        timeline=timeline,
        system_identifier=row["system_identifier"],
        current_lsn=row["current_lsn"],
        receive_lsn=row["receive_lsn"],
        replay_lsn=row["replay_lsn"],
        replay_paused=row["replay_paused"],
        replay_lag_s=row["replay_lag_s"],
        last_replayed_commit=row["last_replayed_commit"],
        upstream=receiver.get("sender_host"),
        receiver_status=receiver.get("status"),
        read_only_default=row["read_only_default"],
        connections=row["connections"],
        standbys=tuple(_standby_link(link) for link in row["standbys"]),
        slots=tuple(_slot(slot) for slot in row["slots"]),
        archiver=_archiver(row["archiver"]),
        problem=None,
    )


def standby_timeline(
    received: int | None, replayed: int | None, history: int | None, checkpoint: int | None
) -> int | None:
    """The timeline a standby follows, from the best witness that knows it.

    Args:
        received: its WAL receiver's received_tli (None when the receiver is down).
        replayed: the newest timeline of the WAL file holding its last replayed byte.
        history: the newest timeline history file in its pg_wal.
        checkpoint: its last checkpoint's (restartpoint's): a switch of
            timeline shows there only after the next one, so it is the last resort.
    """
    return received or replayed or history or checkpoint or None


def _standby_link(link: Mapping[str, Any]) -> StandbyLink:
    return StandbyLink(
        application_name=link["application_name"],
        client_addr=link["client_addr"],
        state=link["state"],
        sync_state=link["sync_state"],
        sent_lsn=link["sent_lsn"],
        write_lsn=link["write_lsn"],
        flush_lsn=link["flush_lsn"],
        replay_lsn=link["replay_lsn"],
        lag_bytes=link["lag_bytes"],
        replay_lag_s=link["replay_lag_s"],
    )


def _slot(slot: Mapping[str, Any]) -> Slot:
    return Slot(
        name=slot["slot_name"],
        active=bool(slot["active"]),
        restart_lsn=slot["restart_lsn"],
        retained_bytes=slot["retained_bytes"],
    )


def _archiver(row: Mapping[str, Any] | None) -> Archiver | None:
    if row is None:
        return None
    return Archiver(
        archived_count=row["archived_count"],
        last_archived_wal=row["last_archived_wal"],
        last_archived_time=row["last_archived_time"],
        failed_count=row["failed_count"],
        last_failed_wal=row["last_failed_wal"],
        last_failed_time=row["last_failed_time"],
    )
