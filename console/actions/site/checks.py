"""The checks from outside that prove a site mode works as a visitor meets it.

Requests through the balancer (curl on the balancer's box, so it works from
a jump host too), each node's health URL from its own box, and a write in a
default transaction on the primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urljoin

from console.actions.context import Context
from console.actions.plan import Check, Step, poll
from console.actions.site.steps import SETTLE, UNSET, runtime_map
from console.errors import ActionError
from console.inventory import Balancer, Database, WebNode
from console.probes import http

HTTP_TIMEOUT = 5.0
WRITE_PROBE = "BEGIN; CREATE TABLE hotspare_write_probe (); ROLLBACK"
READ_ONLY_SQLSTATE = "25006"
PROBE_PATH = "hotspare-probe"  # a POST here does nothing on a site that takes it


def checked(
    title: str,
    where: str,
    command: str,
    expects: str,
    proves: str,
    probe: Callable[[Context], Awaitable[Check]],
    settle: float,
    every: float = 0.5,
) -> Step:
    """A step that only looks: it polls PROBE for up to SETTLE s and reports its last answer."""
    last: list[Check] = []

    async def act(ctx: Context) -> str:
        last[:] = [await poll(ctx, probe, settle, every=every)]
        return last[0].detail

    async def verify(ctx: Context) -> Check:
        return last[0]

    return Step(title, where, command, expects, proves, act, verify)


async def try_write(ctx: Context, db: Database) -> str | None:
    """The SQLSTATE a write in a default transaction gets on DB; None: taken (rolled back)."""
    try:
        await ctx.sql(db, WRITE_PROBE)
    except ActionError as exc:
        code = getattr(exc.__cause__, "sqlstate", None)
        if code is None:
            raise  # no answer from PostgreSQL at all: not a verdict on writes
        return str(code)
    return None


def write_probe(db: Database, blocked: bool) -> Step:
    """A write in a default transaction on the primary DB: refused with 25006, or taken."""

    async def still_primary(ctx: Context) -> Check:
        rows = await ctx.sql(db, "SELECT pg_is_in_recovery()")
        standby = bool(rows and rows[0][0])
        return Check(not standby, f"{db.name} is {'a standby now' if standby else 'the primary'}")

    async def probe(ctx: Context) -> Check:
        code = await try_write(ctx, db)
        if blocked:
            if code == READ_ONLY_SQLSTATE:
                return Check(True, f"{db.name} refused the write: SQLSTATE {code}")
            said = "took the write" if code is None else f"refused it with SQLSTATE {code}"
            return Check(False, f"{db.name} {said}, not SQLSTATE {READ_ONLY_SQLSTATE}")
        if code is None:
            return Check(True, f"{db.name} took the write (rolled back)")
        return Check(False, f"{db.name} refused the write: SQLSTATE {code}")

    step = checked(
        title=f"Probe a write on {db.name}",
        where=f"SQL on {db.name}",
        command=WRITE_PROBE,
        expects=f"{db.name} is the primary",
        proves=f"it is refused with SQLSTATE {READ_ONLY_SQLSTATE}"
        if blocked
        else "it is taken (and rolled back)",
        probe=probe,
        settle=SETTLE,
    )
    return replace(step, pre=still_primary)


async def fetch(ctx: Context, box: str, method: str, url: str) -> tuple[int, str]:
    """METHOD URL with curl on BOX: the status (0 for no answer) and the body.

    Raises:
        ActionError: curl is not on BOX, or the shell did not run it.
    """
    request = http.Request(method, url, HTTP_TIMEOUT, "" if method == "POST" else None)
    answer = await ctx.fetch(box, request)
    if answer.exit in (None, http.NOT_INSTALLED):
        raise ActionError(f"{box}: {answer.problem(url)}")
    return answer.status or 0, answer.body


def _page_problem(status: int, body: str, texts: tuple[str, ...]) -> str | None:
    if status != 503:
        return f"answered {status or 'nothing'}, not the 503 page"
    missing = [t for t in texts if t not in body]
    return f"503 without {' and '.join(repr(t) for t in missing)}" if missing else None


BACK_IN = 30.0  # seconds the balancer gets to take the nodes back after a change of primary


def check_site(balancer: Balancer, mode: str, settle: float = 3.0) -> Step:
    """What a visitor gets through the balancer in MODE (the page's texts come from the map).

    SETTLE: how long to keep asking; longer after an outage, while the
    balancer's health checks take the nodes back.
    """
    url = balancer.site_url or ""
    post_url = urljoin(url, PROBE_PATH)

    async def probe(ctx: Context) -> Check:
        flags = await runtime_map(ctx, balancer.flags_map)
        texts = tuple(flags[k] for k in ("message", "until") if flags.get(k, UNSET) != UNSET)
        (get, get_body), (post, post_body) = await asyncio.gather(
            fetch(ctx, balancer.box, "GET", url), fetch(ctx, balancer.box, "POST", post_url)
        )
        problems = []
        if mode == "maintenance":
            problems += [f"GET {p}" for p in [_page_problem(get, get_body, texts)] if p]
            problems += [f"POST {p}" for p in [_page_problem(post, post_body, texts)] if p]
        else:
            if get != 200:
                problems.append(f"GET answered {get or 'nothing'}, not 200")
            if mode == "read-only":
                problems += [f"POST {p}" for p in [_page_problem(post, post_body, texts)] if p]
            elif post in (0, 503) or (texts and all(t in post_body for t in texts)):
                problems.append(f"POST answered {post or 'nothing'}: it did not reach the site")
        said = f"GET {get}, POST {post}"
        if problems:
            return Check(False, f"{said}: {'; '.join(problems)}")
        shown = (
            f" with {' and '.join(repr(t) for t in texts)}" if texts and mode != "normal" else ""
        )
        return Check(True, f"{said}{shown}")

    proves = {
        "read-only": "GET is 200; POST is the 503 page with the message and the time",
        "maintenance": "GET and POST both get the 503 page with the message and the time",
        "normal": "GET is 200; POST reaches the site (not a 503)",
    }[mode]
    return checked(
        title="Check the site through the balancer",
        where=f"curl on {balancer.box}",
        command=f"curl {url}; curl -X POST {post_url}",
        expects=f"the balancer answers at {url}",
        proves=proves,
        probe=probe,
        settle=settle,
    )


def check_nodes(nodes: tuple[WebNode, ...]) -> Step:
    """Each node's health URL from its own box: still 200 while the balancer shows the page."""

    async def one(ctx: Context, node: WebNode) -> str | None:
        status, _ = await fetch(ctx, node.box, "GET", node.health_url)
        return None if status == 200 else f"{node.name} answered {status or 'nothing'}"

    async def probe(ctx: Context) -> Check:
        problems = [p for p in await asyncio.gather(*(one(ctx, n) for n in nodes)) if p]
        names = ", ".join(n.name for n in nodes)
        return Check(not problems, "; ".join(problems) or f"{names}: health 200")

    return checked(
        title="Check the nodes still answer directly",
        where="curl on each node's box",
        command="; ".join(f"curl {n.health_url}" for n in nodes) or "(no node answered before)",
        expects="the nodes were healthy before",
        proves="each node's health URL answers 200: they can be tested directly",
        probe=probe,
        settle=3.0,
    )
