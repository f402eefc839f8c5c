"""The steps that switch the site's modes, each with the check that proves it.

The balancer's flags map (at run time with `set map`, then in its file so a
reload keeps them), the nodes' role files, and each database member's
default_transaction_read_only. The checks from outside are in site_checks.

Each step first reads what it would change: what already holds is left as
it is, and the step says so. The balancer's mode is re-read just before it
is switched: it must still be the mode the plan saw, the one it lifts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from console import node_role
from console.actions.context import Context
from console.actions.plan import Check, Probe, Step, poll
from console.actions.roles.rolefile import fill_hook, read_role
from console.errors import ActionError
from console.inventory import Balancer, Database, WebNode
from console.probes.haproxy import BalancerProbeError, parse_map, site_flags

FLAG_KEYS = ("mode", "message", "until")
UNSET = "-"  # what haproxy.cfg's map() lookups and the console read as "no value"
SETTLE = 5.0  # a reload reaches each PostgreSQL backend at its next command
ALREADY = "already so: nothing changed"


@dataclass(frozen=True)
class Flags:
    """The site flags in the balancer's map: mode, message, until."""

    mode: str
    message: str = UNSET
    until: str = UNSET

    def items(self) -> list[tuple[str, str]]:
        """The entries in the order to set them: the page's text is in place before the page."""
        texts = [("message", self.message), ("until", self.until)]
        mode = [("mode", self.mode)]
        return mode + texts if self.mode == "normal" else texts + mode


Resolve = Callable[[Context], Awaitable[Flags]]


def map_command(verb: str, path: str, key: str, value: str) -> str:
    """A `set map`/`add map` line; the runtime API splits arguments on unescaped spaces."""
    return f"{verb} map {_escape(path)} {key} {_escape(value)}"


def _set_command(balancer: Balancer, flags: Flags) -> str:
    """The `set map` lines that switch the balancer to FLAGS, as a plan shows them."""
    return "; ".join(map_command("set", balancer.flags_map, k, v) for k, v in flags.items())


def _escape(word: str) -> str:
    return word.replace(" ", "\\ ")


def parse_map_file(text: str) -> dict[str, str]:
    """A map file's entries: the first word is the key, the rest of the line the value."""
    entries: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if parts and not parts[0].startswith("#"):
            entries.setdefault(parts[0], parts[1].strip() if len(parts) == 2 else "")
    return entries


def edit_map_file(text: str, values: dict[str, str]) -> str:
    """TEXT with the entries of VALUES replaced (or added); comments and other keys kept."""
    out, done = [], set()
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        key = parts[0] if parts else ""
        if key in values:
            if key not in done:  # a repeated key would shadow nothing useful: dropped
                out.append(f"{key} {values[key]}")
                done.add(key)
            continue
        out.append(line)
    out += [f"{key} {value}" for key, value in values.items() if key not in done]
    return "\n".join(out) + "\n"


async def runtime_map(ctx: Context, path: str) -> dict[str, str]:
    """The flags map as HAProxy has it now."""
    try:
        return parse_map(await ctx.haproxy(f"show map {path}"))
    except BalancerProbeError as exc:
        raise ActionError(f"{exc}; check balancer.flags_map in cluster.yaml") from exc


def _compare(wanted: dict[str, str], have: dict[str, str], where: str) -> Check:
    wrong = [f"{k}={have.get(k, '(none)')!r}" for k, v in wanted.items() if have.get(k) != v]
    if wrong:
        return Check(False, f"{where} has {', '.join(wrong)}")
    return Check(True, f"{where} has mode {wanted.get('mode', '?')}")


def mode_is(balancer: Balancer, was: str) -> Probe:
    """A precondition: the balancer's mode is still WAS, the one the plan saw (and lifts)."""

    async def pre(ctx: Context) -> Check:
        now = site_flags(await runtime_map(ctx, balancer.flags_map)).mode
        if now != was:
            return Check(False, f"the site is {now} now, not {was} as when planned: plan again")
        return Check(True, f"the site is {was}, as when planned")

    return pre


def set_flags(
    balancer: Balancer, flags: Flags | Resolve, was: str, shown: str | None = None
) -> Step:
    """Switch the site flags at run time; FLAGS may be found only when the step runs.

    WAS: the mode the plan saw; the step refuses if the site is in another now.
    SHOWN: the command as the plan shows it; needed only when FLAGS is found later.
    """
    if shown is None:
        assert isinstance(flags, Flags), "flags found when the step runs need SHOWN"
        shown = _set_command(balancer, flags)
    path = balancer.flags_map
    resolved: list[Flags] = []
    kept: list[bool] = []

    async def act(ctx: Context) -> str:
        wanted = flags if isinstance(flags, Flags) else await flags(ctx)
        resolved[:] = [wanted]
        present = await runtime_map(ctx, path)
        todo = [(key, value) for key, value in wanted.items() if present.get(key) != value]
        kept[:] = [not todo]
        said = f"mode {wanted.mode}, message {wanted.message!r}, until {wanted.until!r}"
        if not todo:
            return f"already {said}; nothing sent"
        for key, value in todo:
            command = map_command("set" if key in present else "add", path, key, value)
            await ctx.haproxy_change(command)
        return said

    async def verify(ctx: Context) -> Check:
        wanted = dict(resolved[0].items())
        check = _compare(wanted, await runtime_map(ctx, path), "HAProxy's map")
        return replace(check, detail=f"{check.detail}, {ALREADY}") if kept[0] else check

    return Step(
        title="Switch the site flags on the balancer",
        where=f"HAProxy runtime API on {balancer.box}",
        command=shown,
        expects=f"the site is {was}, as planned; the map is loaded by haproxy.cfg "
        "(its path is balancer.flags_map)",
        proves="`show map` reads back the mode, message and until (what already does is not sent)",
        act=act,
        verify=verify,
        pre=mode_is(balancer, was),
    )


def save_flags(balancer: Balancer, mode: str) -> Step:
    """Write the runtime flags into the map file, so a reload keeps them."""
    path, box = balancer.flags_map, balancer.box

    kept: list[bool] = []

    async def act(ctx: Context) -> str:
        runtime = await runtime_map(ctx, path)
        values: dict[str, str] = {k: runtime[k] for k in FLAG_KEYS if k in runtime}
        text = await ctx.read_file(box, path)
        saved = parse_map_file(text)
        kept[:] = [all(saved.get(k) == v for k, v in values.items())]
        if kept[0]:
            return f"{path} already holds them; left as it is"
        await ctx.write_file(box, path, edit_map_file(text, values))
        return f"{len(values)} entries written"

    async def verify(ctx: Context) -> Check:
        saved = parse_map_file(await ctx.read_file(box, path))
        runtime = await runtime_map(ctx, path)
        wanted = {k: runtime.get(k, UNSET) for k in ("message", "until")} | {"mode": mode}
        check = _compare(wanted, saved, path)
        return replace(check, detail=f"{check.detail}, {ALREADY}") if kept and kept[0] else check

    return Step(
        title="Save the site flags for a reload",
        where=f"HAProxy runtime API, then SFTP on {box}",
        command=f"show map {path} > {path} (mode, message and until; other lines kept)",
        expects="the file is the one haproxy.cfg loads",
        proves=f"the file holds what HAProxy has now, mode {mode}",
        act=act,
        verify=verify,
    )


def tell_node(
    node: WebNode, read_only: bool, message: str, until: str, hook: str | None, address: str
) -> Step:
    """Set read_only (and its message and until) in NODE's role file; its other flags kept."""
    path = node.role_file
    fields = f"read_only={'yes' if read_only else 'no'}, message {message!r}, until {until!r}"

    kept: list[bool] = []

    async def act(ctx: Context) -> str:
        role = await read_role(ctx, node)
        new = replace(role, read_only=read_only, read_only_message=message, read_only_until=until)
        kept[:] = [new == role]
        if not kept[0]:
            await ctx.write_file(node.box, path, node_role.render(new))
        # The hook runs either way: a run that stopped at the hook left the file written.
        if hook:
            command = fill_hook(hook, node, new.role, address)
            result = await ctx.run(node.box, command)
            if result.exit_status != 0:
                err = (result.stderr.strip() or result.stdout.strip())[:200]
                raise ActionError(f"hook {command!r} exited {result.exit_status}: {err}")
        return ("already so; left as it is" if kept[0] else "written") + (
            ", hook ran" if hook else ""
        )

    async def verify(ctx: Context) -> Check:
        role = await read_role(ctx, node)
        have = (role.read_only, role.read_only_message, role.read_only_until)
        said = f"{node.name}'s role file reads read_only={'yes' if role.read_only else 'no'}"
        if have == (read_only, message, until):
            return Check(True, f"{said}, {ALREADY}" if kept and kept[0] else said)
        return Check(False, f"{said}, message {have[1]!r}, until {have[2]!r}")

    return Step(
        title=f"Tell {node.name}: read-only {'on' if read_only else 'off'}",
        where=f"SFTP on {node.box}" + (", then its after_role_change hook" if hook else ""),
        command=f"{path}: {fields} (other flags kept)" + (f"; {hook}" if hook else ""),
        expects=f"{path} parses as a role file",
        proves="the file reads back with those values (the site re-reads it on change)",
        act=act,
        verify=verify,
    )


def db_flag(db: Database, on: bool, standby: bool) -> Step:
    """default_transaction_read_only on (or back to the member's own config) on DB."""
    wanted = "on" if on else "off"
    statement = (
        "ALTER SYSTEM SET default_transaction_read_only = on"
        if on
        else "ALTER SYSTEM RESET default_transaction_read_only"
    )

    kept: list[bool] = []

    async def probe(ctx: Context) -> Check:
        rows = await ctx.sql(db, "SHOW default_transaction_read_only")
        now = str(rows[0][0]) if rows else "?"
        return Check(now == wanted, f"{db.name}: default_transaction_read_only is {now}")

    async def act(ctx: Context) -> str:
        kept[:] = [(await probe(ctx)).ok and await _set_as(ctx, db, on)]
        if kept[0]:
            return f"already {wanted}; nothing changed"
        await ctx.sql(db, statement)
        await ctx.sql(db, "SELECT pg_reload_conf()")
        return "set and reloaded"

    async def verify(ctx: Context) -> Check:
        check = await poll(ctx, probe, SETTLE)
        return replace(check, detail=f"{check.detail}, {ALREADY}") if kept[0] else check

    role = "standby" if standby else "primary"
    return Step(
        title=f"{'Make' if on else 'Stop making'} {db.name} read-only by default ({role})",
        where=f"SQL on {db.name}",
        command=f"{statement}; SELECT pg_reload_conf()",
        expects=f"{db.name} answers"
        + ("; ALTER SYSTEM works on a standby too, so a promotion keeps it" if standby else ""),
        proves=f"SHOW default_transaction_read_only reads {wanted} within {SETTLE:g} s",
        act=act,
        verify=verify,
    )


async def _set_as(ctx: Context, db: Database, on: bool) -> bool:
    """Whether DB's default_transaction_read_only comes from where ON puts it.

    On: set by ALTER SYSTEM (postgresql.auto.conf), so a restart keeps it.
    Off: not set by ALTER SYSTEM, so the member's own configuration rules.
    """
    rows = await ctx.sql(
        db, "SELECT sourcefile FROM pg_settings WHERE name = 'default_transaction_read_only'"
    )
    source = str(rows[0][0] or "") if rows else ""
    return source.endswith("postgresql.auto.conf") == on
