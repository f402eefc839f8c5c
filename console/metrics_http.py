"""The smallest HTTP server that answers a Prometheus scrape: GET /metrics, one per connection.

It binds 127.0.0.1 unless told otherwise: the metrics name every box and
database of the site, and nothing here authenticates. A client gets
``read_timeout`` seconds to send its request head and ``max_request`` bytes
for it; past either it is answered (408, 414 or 431) and cut off, so a stuck
or hostile client cannot hold the server. At most ``max_clients``
connections are served at once; more are closed at once. Every answer
closes its connection (Prometheus opens a new one per scrape anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from http import HTTPStatus

from console.metrics import CONTENT_TYPE

DEFAULT_HOST = "127.0.0.1"
PATH = "/metrics"
MAX_REQUEST = 8192
"""Bytes of request line and headers accepted (Prometheus sends about 300)."""
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 10.0
MAX_CLIENTS = 16
LINGER = 1.0
LINGER_BYTES = 1 << 20


async def serve(
    host: str,
    port: int,
    body: Callable[[], str],
    *,
    read_timeout: float = READ_TIMEOUT,
    max_request: int = MAX_REQUEST,
    max_clients: int = MAX_CLIENTS,
) -> asyncio.Server:
    """Start answering GET /metrics on HOST:PORT with BODY(), called for each scrape.

    Port 0 picks a free port (``server.sockets[0].getsockname()`` tells which).
    BODY must be quick and must not block (render the newest snapshot); if it
    raises, the scrape gets a 500 and the server goes on. Close the returned
    server to stop.
    """
    handler = _Handler(body, read_timeout, max_request, max_clients)
    return await asyncio.start_server(handler.connection, host, port, limit=max_request)


class _Handler:
    def __init__(
        self, body: Callable[[], str], read_timeout: float, max_request: int, max_clients: int
    ) -> None:
        self._body = body
        self._read_timeout = read_timeout
        self._max_request = max_request
        self._max_clients = max_clients
        self._clients = 0

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._clients >= self._max_clients:
            await _close(writer)
            return
        self._clients += 1
        try:
            # A client that went away, or does not read its answer, is told nothing more.
            with contextlib.suppress(ConnectionError, TimeoutError):
                status, head_only, text = await self._answer(reader)
                await _respond(writer, status, text, head_only)
                if status != HTTPStatus.OK:
                    await _linger(reader, writer)
        finally:
            self._clients -= 1
            await _close(writer)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[HTTPStatus, bool, str]:
        """The status, whether the method was HEAD, and the body for the request on READER."""
        try:
            line = await asyncio.wait_for(self._head(reader), self._read_timeout)
        except TimeoutError:
            return HTTPStatus.REQUEST_TIMEOUT, False, "no request in time\n"
        except _TooLarge as large:
            return large.status, False, "request too large\n"
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("the client closed before its request ended") from None
        words = line.decode("latin-1").split(" ")
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            return HTTPStatus.BAD_REQUEST, False, "expected an HTTP/1.x request\n"
        method, target = words[0], words[1]
        if target.split("?", 1)[0] != PATH:
            return HTTPStatus.NOT_FOUND, method == "HEAD", f"the metrics are at {PATH}\n"
        if method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, False, "only GET and HEAD\n"
        try:
            return HTTPStatus.OK, method == "HEAD", self._body()
        except Exception as exc:  # a bug in rendering: the scrape fails, the server stays
            return HTTPStatus.INTERNAL_SERVER_ERROR, False, f"cannot render: {exc!r}\n"

    async def _head(self, reader: asyncio.StreamReader) -> bytes:
        """Read the request head, at most max_request bytes; return its request line."""
        lines: list[bytes] = []
        size = 0
        while True:
            try:
                line = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError:
                raise _TooLarge(bool(lines)) from None
            size += len(line)
            if size > self._max_request:
                raise _TooLarge(bool(lines))
            if line == b"\r\n" and lines:
                return lines[0].rstrip(b"\r\n")
            if line != b"\r\n":  # an empty line before the request line is allowed (RFC 9112)
                lines.append(line)


class _TooLarge(Exception):
    """The request head is over the limit: 414 for its request line, 431 for its headers."""

    def __init__(self, in_headers: bool) -> None:
        super().__init__()
        self.status = (
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            if in_headers
            else HTTPStatus.REQUEST_URI_TOO_LONG
        )


async def _respond(
    writer: asyncio.StreamWriter, status: HTTPStatus, text: str, head_only: bool
) -> None:
    payload = text.encode("utf-8")
    kind = CONTENT_TYPE if status == HTTPStatus.OK else "text/plain; charset=utf-8"
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Content-Type: {kind}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n"
    )
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        head += "Allow: GET, HEAD\r\n"
    writer.write((head + "\r\n").encode("latin-1") + (b"" if head_only else payload))
    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read and drop what the client still sends, briefly, before closing.

    Closing a socket with unread data makes the kernel reset the connection,
    and the client may then lose the answer (a 414 for its huge request
    line) before it reads it. Bounded in time and in bytes.
    """
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_drop(reader, LINGER_BYTES), LINGER)


async def _drop(reader: asyncio.StreamReader, limit: int) -> None:
    dropped = 0
    while dropped < limit and (chunk := await reader.read(65536)):
        dropped += len(chunk)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
