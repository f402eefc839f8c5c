"""The lab's mail relay: a small real SMTP server that keeps every message in a spool.

``python -m console.lab.smtp_sink --listen 127.0.10.1:2525 --spool DIR --pid-file PATH``

It speaks the subset of RFC 5321 that smtplib and the demo site need
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and writes each accepted
message atomically to ``DIR/<timestamp>-<counter>.eml``, headed by an
``X-Hotspare-Envelope`` line recording the envelope.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("smtp_sink")

MAX_LINE = 1000  # RFC 5321 4.5.3.1.6: a text line, CRLF included
MAX_RECIPIENTS = 100
_MAIL_RE = re.compile(r"FROM:\s*<([^<>]*)>\s*(.*)", re.IGNORECASE)
_RCPT_RE = re.compile(r"TO:\s*<([^<>]+)>", re.IGNORECASE)
_SIZE_RE = re.compile(r"(?:^|\s)SIZE=(\d+)", re.IGNORECASE)


class Spool:
    """The directory of accepted messages."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = itertools.count(1)

    def store(self, envelope: Envelope, data: bytes) -> Path:
        """Write one message atomically; return its final path."""
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S.%f}Z-{next(self._counter):06d}.eml"
        header = (
            f"X-Hotspare-Envelope: from=<{envelope.sender}>; "
            f"to={', '.join(f'<{r}>' for r in envelope.recipients)}; "
            f"client={envelope.client}; received={now.isoformat(timespec='seconds')}\r\n"
        )
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=self.directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header.encode("utf-8", errors="replace") + data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(0o644)
            final = self.directory / name
            tmp.replace(final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return final


@dataclass
class Envelope:
    """The envelope of the message being received on one connection."""

    client: str
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)


class TooLong(Exception):
    """A line was longer than MAX_LINE."""


class Session:
    """One SMTP conversation."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sink: Sink,
    ) -> None:
        self.reader, self.writer, self.sink = reader, writer, sink
        peer = writer.get_extra_info("peername")
        self.client = str(peer[0]) if peer else "unknown"
        self.greeted = False
        self.envelope = Envelope(self.client)

    async def reply(self, text: str) -> None:
        """Send one reply; ``text`` may hold several lines for multiline replies."""
        lines = text.split("\n")
        code = lines[0][:3]
        out = [f"{code}-{line[4:]}" for line in lines[:-1]] + [lines[-1]]
        self.writer.write("".join(f"{line}\r\n" for line in out).encode("ascii", "replace"))
        await self.writer.drain()

    async def read_line(self) -> bytes | None:
        """Read one line within the idle timeout; None on EOF."""
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), self.sink.idle_timeout)
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            raise TooLong from exc
        if len(line) > MAX_LINE:
            raise TooLong
        return line

    async def run(self) -> None:
        """Converse until QUIT, EOF, timeout or a protocol abuse."""
        await self.reply(f"220 {self.sink.hostname} hotspare SMTP sink ready")
        try:
            while True:
                line = await self.read_line()
                if line is None:
                    return
                if not await self.command(line.decode("utf-8", errors="replace").rstrip("\r\n")):
                    return
        except TimeoutError:
            await self.reply("421 4.4.2 idle too long, closing connection")
        except TooLong:
            await self.reply("500 5.5.2 line too long, closing connection")

    async def command(self, line: str) -> bool:
        """Answer one command line; return False to close the connection."""
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb in ("EHLO", "HELO"):
            await self.hello(verb, arg.strip())
        elif verb == "MAIL":
            await self.mail(arg)
        elif verb == "RCPT":
            await self.rcpt(arg)
        elif verb == "DATA":
            await self.data()
        elif verb == "RSET":
            self.envelope = Envelope(self.client)
            await self.reply("250 2.0.0 reset")
        elif verb == "NOOP":
            await self.reply("250 2.0.0 ok")
        elif verb == "QUIT":
            await self.reply("221 2.0.0 bye")
            return False
        else:
            await self.reply("502 5.5.1 command not implemented")
        return True

    async def hello(self, verb: str, name: str) -> None:
        """EHLO/HELO: start a fresh session."""
        if not name:
            await self.reply(f"501 5.5.4 {verb} needs a domain")
            return
        self.greeted = True
        self.envelope = Envelope(self.client)
        if verb == "HELO":
            await self.reply(f"250 {self.sink.hostname}")
            return
        await self.reply(
            f"250 {self.sink.hostname} greets {name}\n250 8BITMIME\n250 SIZE {self.sink.max_size}"
        )

    async def mail(self, arg: str) -> None:
        """MAIL FROM:<sender> [SIZE=n] [BODY=...]."""
        match = _MAIL_RE.fullmatch(arg.strip())
        if not self.greeted:
            await self.reply("503 5.5.1 send EHLO or HELO first")
        elif self.envelope.sender is not None:
            await self.reply("503 5.5.1 sender already given")
        elif match is None:
            await self.reply("501 5.5.4 syntax: MAIL FROM:<address>")
        elif (size := _SIZE_RE.search(match.group(2))) and int(size[1]) > self.sink.max_size:
            await self.reply("552 5.3.4 message too big")
        else:
            self.envelope.sender = match.group(1)
            await self.reply("250 2.1.0 sender ok")

    async def rcpt(self, arg: str) -> None:
        """RCPT TO:<recipient>."""
        match = _RCPT_RE.match(arg.strip())
        if self.envelope.sender is None:
            await self.reply("503 5.5.1 send MAIL first")
        elif match is None:
            await self.reply("501 5.5.4 syntax: RCPT TO:<address>")
        elif len(self.envelope.recipients) >= MAX_RECIPIENTS:
            await self.reply("452 4.5.3 too many recipients")
        else:
            self.envelope.recipients.append(match.group(1))
            await self.reply("250 2.1.5 recipient ok")

    async def data(self) -> None:
        """DATA: read the message up to CRLF.CRLF, undoing dot-stuffing, and spool it."""
        if not self.envelope.recipients:
            await self.reply("503 5.5.1 send RCPT first")
            return
        await self.reply("354 end data with <CR><LF>.<CR><LF>")
        chunks: list[bytes] = []
        size, too_big = 0, False
        while True:
            line = await self.read_line()
            if line is None:
                raise asyncio.IncompleteReadError(b"", None)
            if line.rstrip(b"\r\n") == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            too_big = too_big or size > self.sink.max_size
            if not too_big:  # keep reading to the end, but stop storing
                chunks.append(line)
        envelope, self.envelope = self.envelope, Envelope(self.client)
        if too_big:
            await self.reply("552 5.3.4 message too big")
            return
        path = self.sink.spool.store(envelope, b"".join(chunks))
        log.info("accepted %s from=<%s> to=%s", path.name, envelope.sender, envelope.recipients)
        await self.reply(f"250 2.0.0 ok: queued as {path.name}")


@dataclass
class Sink:
    """The server's settings and spool."""

    spool: Spool
    hostname: str = "sink.hotspare.test"
    max_size: int = 10 * 1024 * 1024
    idle_timeout: float = 30.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection."""
        try:
            await Session(reader, writer, self).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up; nothing to answer
        except Exception:
            log.exception("session failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def serve(listen: tuple[str, int], sink: Sink) -> None:
    """Serve until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # limit: a line longer than this is refused without buffering it whole.
    server = await asyncio.start_server(sink.handle, listen[0], listen[1], limit=MAX_LINE + 2)
    log.info("listening on %s:%d, spool %s", listen[0], listen[1], sink.spool.directory)
    async with server:
        await stop.wait()
        log.info("stopping")
        server.close()
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
    args.spool.mkdir(parents=True, exist_ok=True)
    sink = Sink(Spool(args.spool), max_size=args.max_size, idle_timeout=args.idle_timeout)
    if args.pid_file is not None:
        args.pid_file.parent.mkdir(parents=True, exist_ok=True)
        args.pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
    try:
        asyncio.run(serve(args.listen, sink))
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
