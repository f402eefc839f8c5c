"""A bounded load generator: requests through the balancer, every answer recorded.

Threads send GET / (and, with `post_every`, POST /notes) at a steady rate
for at most `seconds`, each on a new connection as a browser's first visit
would; every request's method, status, latency, a snippet of the body and
any error are kept. With `post_tag`, each POST's note is "TAG N", unique in
the run and kept in its Answer (`sent`), so a bench can look for every
acknowledged note in the database afterwards. Stop it early with `stop()`;
it always stops by itself.
HeldSessions holds uploads half sent, as sessions a drain must wait for.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace

TIMEOUT = 5.0


@dataclass(frozen=True)
class Answer:
    """One request and what came back."""

    at: float
    method: str
    status: int | None  # None: no HTTP answer at all
    seconds: float
    body: str
    error: str | None = None
    sent: str = ""  # the note a POST sent, when the load tags its posts


@dataclass
class Load:
    """Requests to URL at RATE per second from WORKERS threads, for at most SECONDS."""

    url: str
    rate: float = 40.0
    seconds: float = 60.0
    workers: int = 4
    post_every: int = 0  # every Nth request is a POST /notes (0: never)
    post_tag: str = ""  # with a tag, each POST's note is "TAG N", unique in the run
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _count: int = 0

    def start(self) -> Load:
        deadline = time.monotonic() + self.seconds
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, args=(n, deadline), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def posts(self) -> list[Answer]:
        """The POSTs answered so far (the load goes on)."""
        with self._lock:
            return [a for a in self.answers if a.method == "POST"]

    def stop(self) -> list[Answer]:
        """Stop, wait for the requests in flight, and return every answer."""
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 1)
        with self._lock:
            return list(self.answers)

    def _work(self, n: int, deadline: float) -> None:
        every = self.workers / self.rate
        next_at = time.monotonic() + n * every / self.workers
        while not self._stop.is_set() and time.monotonic() < deadline:
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            next_at += every
            with self._lock:
                self._count += 1
                count = self._count
                post = self.post_every and count % self.post_every == 0
            answer = self._post(count) if post else self._get()
            with self._lock:
                self.answers.append(answer)

    def _get(self) -> Answer:
        return _request("GET", self.url, None)

    def _post(self, count: int) -> Answer:
        note = f"{self.post_tag} {count}" if self.post_tag else f"load {time.time():.3f}"
        body = urllib.parse.urlencode({"body": note}).encode()
        answer = _request("POST", urllib.parse.urljoin(self.url, "/notes"), body)
        return replace(answer, sent=note) if self.post_tag else answer


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 303 after a POST is the answer we want to see


_OPENER = urllib.request.build_opener(_NoRedirect)


def _request(method: str, url: str, data: bytes | None) -> Answer:
    started = time.monotonic()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            body = response.read(2000).decode(errors="replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(2000).decode(errors="replace"), exc.code
    except (OSError, urllib.error.URLError) as exc:
        return Answer(time.time(), method, None, time.monotonic() - started, "", repr(exc))
    return Answer(time.time(), method, status, time.monotonic() - started, body)


def failures(answers: list[Answer]) -> list[Answer]:
    """Answers that are not a success: no answer, a 5xx, or a 4xx (a 303 after POST is fine)."""
    return [a for a in answers if a.status is None or a.status >= 400]


class HeldSessions:
    """COUNT requests to URL's POST /notes, each held open half sent until released.

    HAProxy hands a request to a server once its headers are in, so each one
    is a current session on a server (`scur`) for as long as its body is held
    back: real sessions, such as a slow upload, that a drain must wait for.
    Release them one at a time (`release_one`), or all (`release_all`); each
    released one must be answered.
    """

    def __init__(self, url: str, count: int) -> None:
        parts = urllib.parse.urlsplit(url)
        self._address = (parts.hostname or "", parts.port or 80)
        self._body = urllib.parse.urlencode({"body": "held session"}).encode()
        self._open: list[socket.socket] = []
        self.answers: list[str] = []
        for _ in range(count):
            self._open.append(self._start())

    def __len__(self) -> int:
        return len(self._open)

    def _start(self) -> socket.socket:
        sock = socket.create_connection(self._address, timeout=TIMEOUT)
        head = (
            f"POST /notes HTTP/1.1\r\nHost: {self._address[0]}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(self._body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + self._body[:1])
        return sock

    def release_one(self) -> str:
        """Send the rest of the oldest held request; return its status line."""
        sock = self._open.pop(0)
        with sock:
            sock.sendall(self._body[1:])
            answer = b""
            while b"\r\n" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        self.answers.append(status)
        return status

    def release_all(self) -> list[str]:
        return [self.release_one() for _ in range(len(self._open))]
