"""HTML pages of the demo site. Everything that came from outside goes through escape()."""

from __future__ import annotations

from html import escape

from console.lab.site.db import Note
from console.node_role import NodeRole

TITLE = "hotspare demo site"
MAX_NOTE_CHARS = 2000

_STYLE = (
    "body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}"
    ".banner{background:#fff3cd;border:1px solid #e0c060;padding:.6em 1em}"
    ".meta{color:#666;font-size:90%}"
    "li{margin:.4em 0;white-space:pre-wrap}"
)


def layout(heading: str, body_html: str) -> str:
    """Wrap page content (already escaped HTML) in the common page."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(TITLE)}</title><style>{_STYLE}</style></head>\n"
        f"<body><h1>{escape(heading)}</h1>\n{body_html}\n</body></html>\n"
    )


def read_only_banner(role: NodeRole) -> str:
    """The maintenance notice shown while the node is read-only (empty otherwise)."""
    if not role.read_only:
        return ""
    parts = ["<strong>The site is read-only for maintenance.</strong>"]
    if role.read_only_message:
        parts.append(escape(role.read_only_message))
    if role.read_only_until:
        parts.append(f"Read-only until {escape(role.read_only_until)}.")
    return f'<p class="banner">{" ".join(parts)}</p>'


def index_page(node: str, role: NodeRole, notes: list[Note], release: str | None = None) -> str:
    """The front page: who serves it, the latest notes and the form to add one."""
    items = "\n".join(
        f'<li>{escape(n.body)} <span class="meta">#{n.id} by {escape(n.node)}'
        f" at {escape(n.created_at.strftime('%Y-%m-%d %H:%M:%S %Z'))}"
        f"{'' if n.words is None else f' ({n.words} words)'}</span></li>"
        for n in notes
    )
    disabled = " disabled" if role.read_only else ""
    content = (
        f'<p class="meta">Served by node <b>{escape(node)}</b>'
        f"{'' if release is None else f', release <b>{escape(release)}</b>'}"
        f", role <b>{escape(role.role)}</b>"
        f"{', scheduler' if role.scheduler else ''}.</p>\n"
        f"{read_only_banner(role)}\n"
        f"<h2>Latest notes</h2>\n<ul>\n{items or '<li>No notes yet.</li>'}\n</ul>\n"
        f'<form method="post" action="/notes"><fieldset{disabled}>'
        f'<textarea name="body" rows="3" cols="60" maxlength="{MAX_NOTE_CHARS}" required>'
        '</textarea><br><button type="submit">Add note</button></fieldset></form>'
    )
    return layout(TITLE, content)


def read_only_page(message: str = "", until: str = "") -> str:
    """The friendly 503 page shown when a write meets a read-only site or database."""
    parts = ["<p><strong>The site is read-only for maintenance.</strong></p>"]
    if message:
        parts.append(f"<p>{escape(message)}</p>")
    if until:
        parts.append(f"<p>Read-only until {escape(until)}.</p>")
    parts.append('<p>Reading still works: <a href="/">back to the notes</a>.</p>')
    return layout("Read-only for maintenance", "\n".join(parts))


def unavailable_page() -> str:
    """The friendly 503 page shown when the database cannot be reached."""
    return layout(
        "Temporarily unavailable",
        "<p>The site is temporarily unavailable. Please try again in a minute.</p>",
    )


def message_page(heading: str, text: str) -> str:
    """A plain page for the other answers (bad input, not found, errors)."""
    return layout(heading, f"<p>{escape(text)}</p>")
