"""HTTP request handling of the demo site: its routes."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from console.lab.site import pages
from console.lab.site.db import DbReadOnly, DbUnavailable, Note, SiteDbError
from console.lab.site.httpbase import TEXT, SiteParts, SiteRequestHandler
from console.node_role import NodeRole, effective_mail

__all__ = ["SiteHandler", "SiteParts", "retry_after"]

MAX_FORM_BYTES = 64 * 1024
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


class SiteHandler(SiteRequestHandler):
    """One request of the demo site; the Site lives on the server."""

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
        """Serve /, /healthz, /version, /notes.json and /role."""
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
            page = pages.index_page(self.site.node, role, notes, self.site.release.name)
            self._reply(200, page)
        elif path == "/healthz":
            self._get_health(role)
        elif path == "/version":
            self._get_version()
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

    def _get_health(self, role: NodeRole) -> None:
        """200 while the primary answers; 503 when it does not; 500 for a broken release."""
        broken = self.site.release.health_problem()
        if broken is not None:
            self._reply(500, f"fail role={role.role} release: {broken}\n", TEXT)
            return
        problem = self.site.check_health()
        text = f"role={role.role} db=" + ("primary" if problem is None else "unavailable")
        if problem is None:
            self._reply(200, f"ok {text}\n", TEXT)
        else:
            reason = problem if len(problem) <= 200 else problem[:199] + "…"
            self._reply(503, f"fail {text}: {reason}\n", TEXT)

    def _get_version(self) -> None:
        """The release this process was started from: what hotspare proves a restart by."""
        self._reply_json(
            200,
            {
                "release": self.site.release.name,
                "node": self.site.node,
                "pid": os.getpid(),
                "started": self.site.started,
            },
        )

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
    found: dict[str, object] = {
        "id": note.id,
        "body": note.body,
        "node": note.node,
        "created_at": note.created_at.isoformat(),
    }
    if note.words is not None:
        found["words"] = note.words
    return found
