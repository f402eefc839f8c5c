"""Outgoing mail of the site: real SMTP on a hot node that may mail, a mail log otherwise.

Nothing is lost: a message that is not sent, on purpose or because the
relay failed, is written to the node's mail log, one record per message.
"""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from console.lab.site.errorlog import ErrorLog
from console.lab.site.logfile import LineFile, expand
from console.node_role import NodeRole, effective_mail

MAIL_TO = "operators@hotspare.test"
SMTP_TIMEOUT = 3.0
RECORD_START = "=== mail"
RECORD_END = "=== end ==="


def build_message(node: str, subject: str, body: str, when: datetime) -> EmailMessage:
    """Compose a plain-text message from the site on ``node``."""
    msg = EmailMessage()
    msg["From"] = f"hotspare demo site <site@{node}.hotspare.test>"
    msg["To"] = MAIL_TO
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=f"{node}.hotspare.test")
    msg.set_content(body)
    return msg


def format_record(msg: EmailMessage, status: str, reason: str) -> str:
    """Return the mail log record of a message that was not sent by SMTP.

    The record opens with ``=== mail STATUS: reason ===``, then the headers
    From/To/Subject/Date, a blank line, the body and ``=== end ===``. Body
    lines that could pass for a record marker get a '>' (mboxrd quoting).
    """
    headers = [f"{name}: {msg.get(name, '')}" for name in ("From", "To", "Subject", "Date")]
    content = msg.get_content() if not msg.is_multipart() else "(multipart message)"
    body = [
        ">" + line if line.lstrip(">").startswith("===") else line
        for line in str(content).splitlines()
    ]
    reason_line = " ".join(reason.split())
    return "\n".join(
        [f"{RECORD_START} {status}: {reason_line} ===", *headers, "", *body, RECORD_END, ""]
    )


class Mailer:
    """Sends or logs the site's mail according to the node's role."""

    def __init__(self, node: str, smtp: tuple[str, int], log_pattern: str, errlog: ErrorLog):
        self._node = node
        self._smtp = smtp
        self._log_path = expand(log_pattern, node=node)
        self._log = LineFile()
        self._errlog = errlog

    def send(self, role: NodeRole, subject: str, body: str) -> str:
        """Deliver one message; return "sent", "logged" or "unsent"."""
        msg = build_message(self._node, subject, body, datetime.now().astimezone())
        if effective_mail(role) == "log":
            why = "mail=log" if role.mail == "log" else f"mail=real ignored on a {role.role} node"
            self._record(msg, "LOGGED", why)
            return "logged"
        host, port = self._smtp
        try:
            with smtplib.SMTP(
                host, port, timeout=SMTP_TIMEOUT, local_hostname=f"{self._node}.hotspare.test"
            ) as smtp:
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            reason = f"smtp {host}:{port} failed: {exc}"
            self._errlog.error(f"mail {msg['Subject']!r} not sent, kept in mail log: {reason}")
            self._record(msg, "UNSENT", reason)
            return "unsent"
        return "sent"

    def close(self) -> None:
        """Close the mail log."""
        self._log.close()

    def _record(self, msg: EmailMessage, status: str, reason: str) -> None:
        try:
            self._log.append(self._log_path, format_record(msg, status, reason))
        except OSError as exc:
            self._errlog.error(f"cannot write mail log {self._log_path}: {exc}")
