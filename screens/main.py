"""The `hotspare` command: the console by default, plus the core's commands.

Textual is imported only when a command draws the console, so `hotspare
status` and friends start as fast as the core alone.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console import cli
from console.authority import Authority
from console.cli import clusters
from console.cli import replay as replay_cli
from console.lab.layout import DEFAULT_BLOCK, LabLayout, LayoutError
from console.lab.procs import LabProcessError

if TYPE_CHECKING:
    from console.history.replay import Replay
    from console.inventory import Inventory
    from screens.app import HotspareApp

SSH_FPS = "15"


def _extend(parser: argparse.ArgumentParser, commands: Any) -> None:
    parser.add_argument(
        "--high-contrast", action="store_true", help="high-contrast theme (projectors)"
    )
    parser.add_argument(
        "--one-cluster",
        action="store_true",
        help="offer no switch to another cluster in the palette (serve uses it)",
    )
    parser.set_defaults(run=_console)
    demo = commands.add_parser("demo", help="bring the local lab up, then open the console on it")
    demo.add_argument("--block", default=os.environ.get("HOTSPARE_LAB_BLOCK", DEFAULT_BLOCK))
    demo.set_defaults(run=_demo)
    shot = commands.add_parser("screenshot", help="save the console's first complete screen")
    shot.add_argument("--out", required=True, metavar="FILE.svg", help="where to write the SVG")
    shot.add_argument("--size", default="100x32", help="COLUMNSxLINES (default 100x32)")
    shot.set_defaults(run=_screenshot)
    serve = commands.add_parser("serve", help="serve the console to a browser, observer only")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.set_defaults(run=_serve)
    replay_cli.add_parser(commands, cli.load_inventory, _replay)


def _replay(inv: Inventory, cursor: Replay, args: argparse.Namespace) -> int:
    from screens.replay import ReplayApp

    app = ReplayApp(inv, cursor, high_contrast=args.high_contrast)
    app.run()
    return app.return_code or 0


def _app(
    inv: Inventory, args: argparse.Namespace, observe: bool = False, switching: bool = False
) -> HotspareApp:
    if os.environ.get("SSH_CONNECTION") and "TEXTUAL_FPS" not in os.environ:
        os.environ["TEXTUAL_FPS"] = SSH_FPS  # fewer frames over a remote link
    from console.daemon.client import SharedFeed, start_monitor
    from console.events import Event
    from console.feed import Feed  # SSH and PostgreSQL are loaded only to draw
    from console.monitor import Monitor
    from screens.app import HotspareApp

    env = inv.environment
    authority = Authority.decide(args.observe or observe, env.observer_only, env.label)
    # A table redraws whole when one cell changes: one picture per refresh
    # period of the monitor (2 s), not more, keeps an idle console quiet.
    # The snapshots come from the host's shared monitor (started here if none
    # runs); this console's own Monitor opens links only for its actions and
    # logs, and watches by itself only when no shared monitor can be had.
    monitor = Monitor(inv)
    feed = SharedFeed(inv, lambda: Feed(monitor, every=monitor.interval), start=start_monitor)
    app = HotspareApp(
        inv,
        feed,
        authority,
        high_contrast=args.high_contrast,
        links=monitor.links,
        monitor=monitor,
        others=clusters.others(inv) if switching and not args.one_cluster else (),
    )
    feed.tell = lambda text, level: app.record([Event(app.clock(), "console", text, level)])
    return app


def _console(args: argparse.Namespace) -> int:
    inv = cli.load_inventory(args)
    if inv is None:
        return 2
    return run_consoles(inv, lambda chosen: _app(chosen, args, switching=True))


def run_consoles(
    inv: Inventory,
    build: Callable[[Inventory], HotspareApp],
    run: Callable[[HotspareApp], object] = lambda app: app.run(),
) -> int:
    """Run the console BUILD makes for INV, and a new one each time the operator switches.

    Returns:
        The exit status of the last console.
    """
    while True:
        app = build(inv)
        run(app)
        if app.switch_to is None:
            return app.return_code or 0
        inv = app.switch_to


def _demo(args: argparse.Namespace) -> int:
    from console.lab import control

    try:
        lab = LabLayout.for_block(args.block)
        control.up(lab, lambda line: print(line, file=sys.stderr, flush=True))
    except (LayoutError, LabProcessError) as exc:
        print(f"hotspare demo: {exc}", file=sys.stderr)
        return 1
    args.cluster = str(lab.cluster_file)
    return _console(args)


def _size(text: str) -> tuple[int, int]:
    try:
        columns, lines = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"hotspare screenshot: --size {text!r} is not COLUMNSxLINES") from None
    return columns, lines


async def _first_screen(app: HotspareApp, size: tuple[int, int], wait: float) -> str:
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + wait
        while app.state is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        await pilot.pause(0.2)
        return app.export_screenshot()


def _screenshot(args: argparse.Namespace) -> int:
    inv = cli.load_inventory(args)
    if inv is None:
        return 2
    svg = asyncio.run(_first_screen(_app(inv, args), _size(args.size), wait=15))
    Path(args.out).write_text(svg)
    print(f"saved {args.out}")
    return 0


def serve_warning(host: str) -> str | None:
    """What to tell the operator before serving the console on HOST, if anything."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"WARNING: serving on {host}: textual-serve has no authentication; anyone who "
        "reaches this address sees the console (observer mode only: nothing can be changed)."
    )


def _serve(args: argparse.Namespace) -> int:
    inv = cli.load_inventory(args)
    if inv is None:
        return 2
    warning = serve_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    from textual_serve.server import Server

    # --one-cluster: a browser viewer watches the cluster it was given, no other.
    command = [sys.executable, "-m", "screens.main", "--observe", "--one-cluster"]
    command += ["--cluster", str(inv.path)]
    Server(shlex.join(command), host=args.host, port=args.port, title="hotspare").serve()
    return 0


def main_parser() -> argparse.ArgumentParser:
    """The whole `hotspare` command line, console commands included; runs nothing.

    The man page (make man) and the completion scripts are made from it.
    """
    return cli.build_parser(_extend)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `hotspare`: the console, or one of the core's commands."""
    return cli.main(argv, extend=_extend)


if __name__ == "__main__":
    sys.exit(main())
