"""HTTP request handling of the demo site: routes, answers and the access log."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Protocol, cast
from urllib.parse import parse_qs, urlsplit

from console.lab.site import pages
from console.lab.site.accesslog import AccessEntry, AccessLog
from console.lab.site.db import Database, DbReadOnly, DbUnavailable, Note, SiteDbError
from console.lab.site.errorlog import ErrorLog
from console.lab.site.mail import Mailer
from console.lab.site.rolewatch import RoleWatcher
from console.node_role import NodeRole, effective_mail

MAX_FORM_BYTES = 64 * 1024
HTML = "text/html; charset=utf-8"
_UNTIL_FORMATS = ("%Y-%m-%d %H:%M %Z", "%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%dT%H:%M:%S%z")


def retry_after(until: str, now: datetime) -> int:
    """Seconds for Retry-After: up to ``until`` when it parses and lies ahead, else 300."""
    for fmt in _UNTIL_FORMATS:
        try:
            end = datetime.strptime(until.strip(), fmt)
        except ValueError:
            continue
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)  # "%Z" only accepts UTC/GMT/local names
        seconds = int((end - now).total_seconds())
        if seconds > 0:
            return min(seconds, 24 * 3600)
    return 300


class SiteParts(Protocol):
    """What a request uses of the running site (app.Site is the one there is)."""

    node: str
    errlog: ErrorLog
    access: AccessLog
    roles: RoleWatcher
    db: Database
    mailer: Mailer

    def check_health(self) -> str | None:
        """None when the database primary answers in time, else the problem."""
        ...


class SiteHandler(BaseHTTPRequestHandler):
    """One request of the demo site; the Site lives on the server."""

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

    def _reply_read_only(self, role: NodeRole | None) -> None:
        message = role.read_only_message if role else ""
        until = role.read_only_until if role else ""
        seconds = retry_after(until, datetime.now(UTC))
        page = pages.read_only_page(message, until)
        self._reply(503, page, headers={"Retry-After": str(seconds)})

    def _reply_db_error(self, exc: SiteDbError, doing: str) -> None:
        """Log a database failure and give the visitor the matching friendly page."""
        self.site.errlog.error(f"{doing}: {exc}")
        if isinstance(exc, DbReadOnly):
            self._reply_read_only(None)
        elif isinstance(exc, DbUnavailable):
            self._reply(503, pages.unavailable_page(), headers={"Retry-After": "10"})
        else:
            self._reply(500, pages.message_page("Error", "Something went wrong on our side."))

    # --- routes ---------------------------------------------------------------
    def do_GET(self) -> None:
        """Serve /, /healthz, /notes.json and /role."""
        self._guarded(self._get)

    def do_HEAD(self) -> None:
        """Same as GET without the body (some balancers probe with HEAD)."""
        self._guarded(self._get)

    def do_POST(self) -> None:
        """Serve POST /notes."""
        self._guarded(self._post)

    def _guarded(self, route: Callable[[], None]) -> None:
        """Run a route; an unexpected error becomes a 500 page and one error-log line."""
        self._role = self.site.roles.current()
        try:
            route()
        except ConnectionError:
            self.close_connection = True  # the client went away; nothing to answer
        except Exception as exc:
            where = " | ".join(traceback.format_exc().strip().splitlines()[-3:])
            self.site.errlog.error(f"{self.command} {self.path!r} failed: {exc!r}: {where}")
            self.close_connection = True
            if self._status is None:
                self._reply(500, pages.message_page("Error", "Something went wrong on our side."))

    def _get(self) -> None:
        path = urlsplit(self.path).path
        role = self._role or NodeRole()
        if path == "/":
            try:
                notes = self.site.db.latest_notes()
            except SiteDbError as exc:
                self._reply_db_error(exc, "front page")
                return
            self._reply(200, pages.index_page(self.site.node, role, notes))
        elif path == "/healthz":
            problem = self.site.check_health()
            text = f"role={role.role} db=" + ("primary" if problem is None else "unavailable")
            if problem is None:
                self._reply(200, f"ok {text}\n", "text/plain; charset=utf-8")
            else:
                reason = problem if len(problem) <= 200 else problem[:199] + "…"
                self._reply(503, f"fail {text}: {reason}\n", "text/plain; charset=utf-8")
        elif path == "/notes.json":
            self._get_notes_json()
        elif path == "/role":
            flags = {"node": self.site.node, **asdict(role), "effective_mail": effective_mail(role)}
            self._reply_json(200, {**flags, "role_file_problem": self.site.roles.problem})
        elif path == "/notes":
            self._reply(
                405, pages.message_page("Not allowed", "Use POST."), headers={"Allow": "POST"}
            )
        else:
            self._reply(404, pages.message_page("Not found", f"No page at {path}."))

    def _get_notes_json(self) -> None:
        try:
            notes = self.site.db.latest_notes()
        except SiteDbError as exc:
            self.site.errlog.error(f"notes.json: {exc}")
            self._reply_json(503, {"error": "database unavailable"})
            return
        self._reply_json(200, {"node": self.site.node, "notes": [_note_json(n) for n in notes]})

    def _post(self) -> None:
        if urlsplit(self.path).path == "/hotspare-probe":
            self._write_probe()
            return
        if urlsplit(self.path).path != "/notes":
            self.close_connection = True  # the unread body must not pass for a next request
            self._reply(404, pages.message_page("Not found", "Notes are posted to /notes."))
            return
        form = self._read_form()
        if form is None:
            return
        role = self._role or NodeRole()
        if role.read_only:
            self._reply_read_only(role)
            return
        body = form.get("body", [""])[0].replace("\r\n", "\n").replace("\x00", "").strip()
        if not body or len(body) > pages.MAX_NOTE_CHARS:
            why = "The note is empty." if not body else "The note is too long (2000 characters)."
            self._reply(400, pages.message_page("Note not saved", why))
            return
        try:
            note = self.site.db.add_note(body, self.site.node)
        except SiteDbError as exc:
            self._reply_db_error(exc, "saving a note")
            return
        self._reply(303, "", headers={"Location": "/"})
        self.wfile.flush()
        # After the answer, so a slow mail relay never delays the visitor.
        self._notify(role, note)

    def _write_probe(self) -> None:
        """POST /hotspare-probe: a write on the primary, rolled back; 204 if it was taken.

        hotspare's checks through the balancer post here to prove the site
        writes again after a switchover, without leaving anything behind.
        """
        if self._read_form() is None:
            return
        try:
            self.site.db.write_probe()
        except SiteDbError as exc:
            self._reply_db_error(exc, "write probe")
            return
        self._reply(204, "")

    def _read_form(self) -> dict[str, list[str]] | None:
        """Read an urlencoded form body; answer the client and return None if unusable."""
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self.close_connection = True
            self._reply(411, pages.message_page("Length required", "Send a Content-Length."))
            return None
        length = int(length_text)
        if length > MAX_FORM_BYTES:
            self.close_connection = True
            self._reply(413, pages.message_page("Too large", "The form is too large."))
            return None
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        try:
            return parse_qs(raw, keep_blank_values=True, max_num_fields=20)
        except ValueError:
            self._reply(400, pages.message_page("Bad form", "The form could not be read."))
            return None

    def _notify(self, role: NodeRole, note: Note) -> None:
        subject = f"[hotspare demo] new note #{note.id} on {note.node}"
        text = f"A new note was added on {note.node} at {note.created_at:%Y-%m-%d %H:%M:%S %Z}:\n\n"
        self.site.mailer.send(role, subject, text + note.body + "\n")


def _note_json(note: Note) -> dict[str, object]:
    return {
        "id": note.id,
        "body": note.body,
        "node": note.node,
        "created_at": note.created_at.isoformat(),
    }
