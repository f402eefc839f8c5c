"""The demo site's HTTP plumbing: what a request may use of the site, answers, the access log."""

from __future__ import annotations

import json
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Protocol, cast

from console.lab.site.accesslog import AccessEntry, AccessLog
from console.lab.site.db import Database
from console.lab.site.errorlog import ErrorLog
from console.lab.site.mail import Mailer
from console.lab.site.release import Release
from console.lab.site.rolewatch import RoleWatcher
from console.node_role import NodeRole

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class SiteParts(Protocol):
    """What a request uses of the running site (app.Site is the one there is)."""

    node: str
    errlog: ErrorLog
    access: AccessLog
    roles: RoleWatcher
    db: Database
    mailer: Mailer
    release: Release
    started: float

    def check_health(self) -> str | None:
        """None when the database primary answers in time, else the problem."""
        ...


class SiteRequestHandler(BaseHTTPRequestHandler):
    """A request of the demo site: its answers and its access log line; routes come on top."""

    server_version = "hotspare-site/1.0"
    protocol_version = "HTTP/1.1"
    timeout = 15  # an idle keep-alive client must not hold a thread for ever

    _status: int | None = None
    _size = 0
    _started: datetime
    _role: NodeRole | None = None

    def version_string(self) -> str:
        """The Server header, without the Python version."""
        return self.server_version

    @property
    def site(self) -> SiteParts:
        """The Site this server runs."""
        return cast(SiteParts, self.server.site)  # type: ignore[attr-defined]

    # --- access log -----------------------------------------------------------
    def handle_one_request(self) -> None:
        """Handle one request, then write its access log line."""
        self._status, self._size, self._role = None, 0, None
        self._started = datetime.now().astimezone()
        super().handle_one_request()
        if self._status is not None:
            self._log_access()

    def send_response(self, code: int, message: str | None = None) -> None:
        """Remember the status for the access log."""
        self._status = code
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        """Remember the body size for the access log (also for send_error pages)."""
        if keyword.lower() == "content-length":
            self._size = int(value)
        super().send_header(keyword, value)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Replaced by _log_access, which knows the size."""

    def log_message(self, format: str, *args: object) -> None:
        """http.server's own complaints (bad request lines, timeouts) go to the error log."""
        self.site.errlog.warn(f"http from {self.client_address[0]}: {format % args}")

    def _log_access(self) -> None:
        role = self._role or self.site.roles.current()
        entry = AccessEntry(
            client=self.client_address[0],
            when=self._started,
            request_line=getattr(self, "requestline", ""),
            status=self._status or 0,
            size=0 if self.command == "HEAD" else self._size,
            referer=self.headers.get("Referer") if self.headers else None,
            user_agent=self.headers.get("User-Agent") if self.headers else None,
        )
        try:
            self.site.access.write(role.role, entry)
        except OSError as exc:
            self.site.errlog.error(f"cannot write access log: {exc}")

    # --- answers --------------------------------------------------------------
    def _reply(
        self, status: int, body: str, ctype: str = HTML, headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reply_json(self, status: int, value: object) -> None:
        self._reply(status, json.dumps(value, indent=1) + "\n", "application/json")
