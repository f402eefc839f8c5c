"""Patroni's REST API as curl on a database's box reaches it: the URL, TLS and the password.

Patroni can serve its REST API over https (restapi.certfile), verify its
clients' certificates (restapi.verify_client) and want a user and password
for its unsafe endpoints, POST, PUT, PATCH and DELETE (restapi.authentication).
cluster.yaml names the files on each database's box that curl needs for
that (patroni_cacert, patroni_cert, patroni_key, patroni_auth: never a
secret itself); `patroni_api` turns a Database into the one value every
Patroni request is built from, the monitor's reads and the actions alike:

    api = patroni_api(db)
    answer = await ctx.fetch(db.box, api.request("POST", "restart", 60.0, {"a": 1}))
    problem = api.problem(answer, api.at("restart"))  # None, or what to check

The password stays in its netrc file on the box: it is never on a command
line, in a plan, in the audit log or in a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from console.inventory import Database
from console.probes import http
from console.text import one_line

CHECK = "check patroni_url in cluster.yaml (Patroni's REST API, as seen from the box)"
KEYS = "patroni_"
"""The prefix of the cluster.yaml keys that name the files (patroni_cacert...)."""


@dataclass(frozen=True)
class PatroniApi:
    """One Patroni's REST API as curl on its database's box asks it.

    Attributes:
        url: the API's root (patroni_url, {host} filled in), without a trailing slash.
        access: the files curl is given on the box (CA bundle, client certificate
            and key, netrc file); none for a plain http:// Patroni.
    """

    url: str
    access: http.Access = field(default_factory=lambda: http.Access(keys=KEYS))

    def at(self, path: str) -> str:
        """The URL of PATH ("cluster", "/config") on this API."""
        return f"{self.url.rstrip('/')}/{path.lstrip('/')}"

    def request(
        self, method: str, path: str, max_time: float, body: Mapping[str, object] | None = None
    ) -> http.Request:
        """METHOD PATH as curl makes it, with BODY (if any) as compact JSON."""
        if body is None:
            return http.Request(method, self.at(path), max_time, access=self.access)
        payload = json.dumps(dict(body), separators=(",", ":"))
        return http.Request(method, self.at(path), max_time, payload, http.JSON, self.access)

    def problem(self, answer: http.Answer, url: str) -> str | None:
        """Why ANSWER from URL is no answer or a refusal, in an operator's words; else None.

        Covers what curl could not do (TLS, the files, nothing listening) and
        Patroni's 401 and 403; other statuses are the caller's to judge.
        """
        missing = answer.problem(url, "Patroni", CHECK, self.access)
        if missing is not None:
            return missing
        if answer.status in (401, 403):
            return refused(answer.status, one_line(answer.body, 80), url, self.access)
        return None


def refused(status: int, said: str, url: str, access: http.Access) -> str:
    """What Patroni's 401 or 403 (saying SAID) at URL means, and which key or setting to check."""
    answered = f"Patroni answered {status} at {url} ({said or 'no reason given'})"
    if status == 401 and access.netrc:
        return (
            f"{answered}: it does not take the user and password in {access.netrc} "
            "(patroni_auth): that netrc file needs a line 'machine HOST login USER password "
            "PASSWORD' for the host in patroni_url (or a 'default' line) with the user and "
            "password of restapi.authentication in Patroni's configuration"
        )
    if status == 401:
        return (
            f"{answered}: Patroni wants a user and password for this (restapi.authentication); "
            "set patroni_auth in cluster.yaml to a netrc file on the box that holds them"
        )
    if "certificate" in said.lower() and not access.cert:
        return (
            f"{answered}: Patroni wants a client certificate for this (restapi.verify_client); "
            "set patroni_cert and patroni_key in cluster.yaml to one on the box, signed by a CA "
            "in Patroni's restapi.cafile"
        )
    if "certificate" in said.lower():
        return (
            f"{answered}: Patroni did not take the client certificate {access.cert} "
            "(patroni_cert): is it signed by a CA in Patroni's restapi.cafile?"
        )
    return (
        f"{answered}: Patroni does not let the box's address in: its restapi.allowlist (or "
        "allowlist_include_members) must include the address curl on the box comes from"
    )


def patroni_api(db: Database) -> PatroniApi:
    """The REST API of DB's Patroni as curl on DB's box asks it (patroni_url and its files).

    Raises:
        ValueError: cluster.yaml gives DB no patroni_url (Patroni does not manage it).
    """
    if db.patroni_url is None:
        raise ValueError(f"cluster.yaml gives {db.name} no patroni_url")
    access = http.Access(db.patroni_cacert, db.patroni_cert, db.patroni_key, db.patroni_auth, KEYS)
    return PatroniApi(db.patroni_url.rstrip("/"), access)


def api_of(target: PatroniApi | str) -> PatroniApi:
    """TARGET as a PatroniApi: a bare URL is a Patroni asked with no files (plain http, or
    https checked against the box's own CAs)."""
    return target if isinstance(target, PatroniApi) else PatroniApi(target.rstrip("/"))
