"""The lab's mail relay: aiosmtpd's SMTP server, keeping every message in a spool.

``python -m console.lab.smtp_sink --listen 127.0.10.1:2525 --spool DIR --pid-file PATH``

Each accepted message is written atomically to ``DIR/<timestamp>-<counter>.eml``,
headed by an ``X-Hotspare-Envelope`` line recording the envelope.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("smtp_sink")


class SpoolHandler:
    """aiosmtpd handler that stores each message as one file of the spool."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Spool the message and answer with its file name."""
        # peer is the (host, port) tuple of the socket, whatever aiosmtpd's hint says.
        peer: object = session.peer
        client = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        path = self.store(envelope.mail_from, envelope.rcpt_tos, client, envelope.original_content)
        log.info("accepted %s from=<%s> to=%s", path.name, envelope.mail_from, envelope.rcpt_tos)
        return f"250 2.0.0 ok: queued as {path.name}"

    def store(
        self, sender: str | None, recipients: list[str], client: str, data: bytes | None
    ) -> Path:
        """Write one message atomically; return its final path."""
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S.%f}Z-{next(self._counter):06d}.eml"
        header = (
            f"X-Hotspare-Envelope: from=<{sender}>; "
            f"to={', '.join(f'<{r}>' for r in recipients)}; "
            f"client={client}; received={now.isoformat(timespec='seconds')}\r\n"
        )
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=self.directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header.encode("utf-8", errors="replace") + (data or b""))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(0o644)  # mkstemp makes it 0600; readers may be another user
            final = self.directory / name
            tmp.replace(final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return final


async def serve(listen: tuple[str, int], handler: SpoolHandler, max_size: int, idle: float) -> None:
    """Serve on the running loop until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="sink.hotspare.test",
            ident="hotspare SMTP sink",
            data_size_limit=max_size,
            timeout=idle,
            loop=loop,
        ),
        *listen,
    )
    log.info("listening on %s:%d, spool %s", listen[0], listen[1], handler.directory)
    async with server:
        await stop.wait()
        log.info("stopping")
        server.close()
        # A client still connected would hold wait_closed open; do not wait for it long.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=2)


def host_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Run the sink from the command line."""
    parser = argparse.ArgumentParser(prog="python -m console.lab.smtp_sink", description=__doc__)
    parser.add_argument("--listen", required=True, type=host_port, help="HOST:PORT")
    parser.add_argument("--spool", required=True, type=Path, help="directory for *.eml files")
    parser.add_argument("--pid-file", type=Path, help="file to write the pid to while running")
    parser.add_argument("--max-size", type=int, default=10 * 1024 * 1024, help="bytes")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="seconds per command")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s smtp_sink %(levelname)s %(message)s"
    )
    # aiosmtpd logs every connection at INFO; the sink's log keeps one line per message.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    args.spool.mkdir(parents=True, exist_ok=True)
    handler = SpoolHandler(args.spool)
    if args.pid_file is not None:
        args.pid_file.parent.mkdir(parents=True, exist_ok=True)
        args.pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
    try:
        asyncio.run(serve(args.listen, handler, args.max_size, args.idle_timeout))
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", args.listen[0], args.listen[1], exc)
        return 1
    finally:
        if args.pid_file is not None:
            with contextlib.suppress(OSError):
                if args.pid_file.read_text(encoding="ascii").strip() == str(os.getpid()):
                    args.pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
