"""`hotspare monitor`: the shared monitor of a cluster, and `monitor status|stop`.

`hotspare monitor` runs in the foreground (a systemd unit, a tmux window);
the console starts one in the background when none runs, which stops by
itself after --linger seconds without a client. docs/monitoring.md says
more, with an example unit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import Exit

if TYPE_CHECKING:
    from console.inventory import Inventory
    from console.state.model import ClusterState

STOP_WAIT = 10.0


def add_parser(commands: Any, load: Any) -> None:
    """Add `monitor` to COMMANDS; LOAD(args) returns the Inventory or None."""
    monitor = commands.add_parser(
        "monitor",
        help="run the shared monitor every console and status on this host reads; status; stop",
        description="run (the default): keep the SSH links and the state of the cluster, "
        "and serve its snapshots to consoles, status, check and events on this host, "
        "through a socket only this user can open. status: is one running, for whom. "
        "stop: stop it (SIGTERM, waited for).",
    )
    monitor.add_argument(
        "what", nargs="?", choices=("run", "status", "stop"), default="run", help="default: run"
    )
    monitor.add_argument("--socket", type=Path, help="the socket (default: one per cluster.yaml)")
    monitor.add_argument(
        "--interval", type=float, default=2.0, help="seconds between refreshes (default 2)"
    )
    monitor.add_argument(
        "--linger",
        type=float,
        help="stop after this many seconds without a client (default: never)",
    )
    monitor.add_argument(
        "--metrics",
        type=listen_address,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (HOST default 127.0.0.1)",
    )
    monitor.add_argument(
        "--history",
        type=Path,
        metavar="DIR",
        help="keep every snapshot in DIR (default: one per cluster under ~/.local/state/hotspare)",
    )
    monitor.add_argument(
        "--history-hours",
        type=float,
        default=24.0,
        help="keep this many hours of history, 0 for none (default 24)",
    )
    monitor.add_argument(
        "--history-mib",
        type=int,
        default=256,
        help="and at most this many MiB of it on disk (default 256)",
    )
    monitor.add_argument("--json", action="store_true", help="status: as JSON")
    monitor.set_defaults(run=lambda args: _monitor(args, load))


def _monitor(args: argparse.Namespace, load: Any) -> int:
    inv = load(args)
    if inv is None:
        return Exit.USAGE
    from console.daemon import client

    socket = args.socket or client.socket_of(inv)
    if args.what == "status":
        return asyncio.run(_status(inv, socket, args.json))
    if args.what == "stop":
        return _stop(socket)
    return _run(inv, socket, args)


def listen_address(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` (HOST may be [IPv6]) as (host, port); HOST defaults to 127.0.0.1.

    Raises:
        argparse.ArgumentTypeError: not a port, or a port out of range.
    """
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not [HOST:]PORT with PORT from 1 to 65535 (e.g. 9650 or 127.0.0.1:9650)"
        )
    return host, int(port)


def _run(inv: Inventory, socket: Path, args: argparse.Namespace) -> int:
    from console.daemon.server import HistoryPlan, MonitorServer
    from console.history import default_directory

    if args.interval <= 0 or (args.linger is not None and args.linger < 0):
        print("monitor: --interval must be above 0 and --linger not below 0", file=sys.stderr)
        return Exit.USAGE
    if args.history_hours < 0 or args.history_mib < 1:
        print("monitor: --history-hours not below 0, --history-mib at least 1", file=sys.stderr)
        return Exit.USAGE
    history = None
    if args.history_hours > 0:
        history = HistoryPlan(
            args.history or default_directory(inv),
            args.history_hours * 3600,
            args.history_mib * 1024 * 1024,
        )
    server = MonitorServer(
        inv,
        socket,
        args.interval,
        _printed,
        args.linger,
        metrics=args.metrics,
        history=history,
        say=_say,
    )
    why = asyncio.run(server.run())
    _say(f"monitor of {inv.name} (pid {os.getpid()}) stopped: {why}")
    return Exit.OK


def _printed(state: ClusterState, as_json: bool) -> tuple[int, str]:
    """What `hotspare status [--json]` prints for STATE, and its exit status."""
    from console.cli.status import as_json as json_of
    from console.cli.status import exit_status
    from console.cli.tables import render

    return int(exit_status(state)), json_of(state) if as_json else render(state)


def _say(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"{stamp} {text}", flush=True)


async def _status(inv: Inventory, socket: Path, as_json: bool) -> int:
    from console.daemon import client

    attached, why = await client.attach(inv, socket, wait=2.0)
    if attached is None:
        said = why or f"no monitor runs for {inv.name} (socket {socket})"
        print(json.dumps({"running": False, "reason": said}) if as_json else said)
        return Exit.FAILED
    hello = attached.hello
    await attached.close()
    if as_json:
        print(json.dumps({"running": True, "socket": str(socket), **vars(hello)}))
        return Exit.OK
    up = time.time() - hello.started
    print(
        f"monitor of {hello.cluster} (pid {hello.pid}) up {_span(up)}, "
        f"refreshing every {hello.interval:g} s, {hello.clients} other client(s)\n"
        f"  socket {socket}\n  reads {hello.cluster_file}"
    )
    return Exit.OK


def _span(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _stop(socket: Path) -> int:
    from console.daemon import single

    pid = single.holder_pid(socket)
    if pid is None or not single.is_held(socket):
        print(f"no monitor runs on {socket}")
        return Exit.OK
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"no monitor runs on {socket}")
        return Exit.OK
    except PermissionError:
        print(f"monitor: pid {pid} is not this user's to stop", file=sys.stderr)
        return Exit.FAILED
    deadline = time.monotonic() + STOP_WAIT
    while single.is_held(socket):
        if time.monotonic() > deadline:
            print(f"monitor: pid {pid} still runs {STOP_WAIT:g} s after SIGTERM", file=sys.stderr)
            return Exit.FAILED
        time.sleep(0.05)
    print(f"monitor (pid {pid}) stopped")
    return Exit.OK
