"""Command line of the demo site: ``python -m console.lab.site --node web1 ...``.

The database password is never an argument: libpq reads it from the file
named by PGPASSFILE in the environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from console.lab.site.app import SiteConfig, run


def host_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def positive_seconds(text: str) -> float:
    """Parse a positive number of seconds for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> SiteConfig:
    """Turn the command line into a SiteConfig."""
    parser = argparse.ArgumentParser(prog="python -m console.lab.site", description=__doc__)
    add = parser.add_argument
    add("--node", required=True, help="node name, e.g. web1")
    add("--listen", required=True, type=host_port, help="HOST:PORT to serve HTTP on")
    add("--role-file", required=True, type=Path, help="the node role file to follow")
    add("--access-log", required=True, help="access log pattern with {role} and {node}")
    add("--error-log", required=True, help="error log pattern with {node}")
    add("--mail-log", required=True, help="mail log pattern with {node}")
    add("--pid-file", type=Path, help="file to write the pid to while running")
    add("--dsn", required=True, help="libpq connection string (no password)")
    add("--smtp", required=True, type=host_port, help="HOST:PORT of the mail relay")
    add("--sweep-interval", type=positive_seconds, default=60.0, help="seconds between sweeps")
    add("--release-dir", type=Path, help="the release to run: a link such as releases/current")
    add("--restart-file", type=Path, help="restart onto --release-dir when this file changes")
    args = parser.parse_args(argv)
    try:
        dsn_params = conninfo_to_dict(args.dsn)
    except psycopg.ProgrammingError as exc:
        parser.error(f"bad --dsn: {exc}")
    if "password" in dsn_params:
        parser.error("--dsn must not carry a password; use PGPASSFILE")
    return SiteConfig(
        node=args.node,
        listen=args.listen,
        role_file=args.role_file,
        access_log=args.access_log,
        error_log=args.error_log,
        mail_log=args.mail_log,
        pid_file=args.pid_file,
        dsn=args.dsn,
        smtp=args.smtp,
        sweep_interval=args.sweep_interval,
        release_dir=args.release_dir,
        restart_file=args.restart_file,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the site until it is told to stop."""
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
