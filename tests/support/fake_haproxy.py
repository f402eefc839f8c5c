"""A fake HAProxy 2.6 runtime API and a Context on it: balancer steps run without a lab.

The admin bits move as HAProxy 2.6's CLI moves them (src/server.c:
srv_adm_set_ready clears FMAINT and FDRAIN, set_drain sets FDRAIN and clears
FMAINT, set_maint sets FMAINT and clears FDRAIN); CMAINT, IMAINT and RMAINT
are never cleared from the CLI. The status word is HAProxy's: MAINT for any
of 0x23, DRAIN for 0x18, else UP (or DOWN when its check fails), as measured
on the lab's HAProxy 2.6.12.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.actions.context import Context
from console.actions.plan import Check, Step
from console.inventory import Inventory
from tests.support import verdict_parts as parts

HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port"
)
STAT = "# pxname,svname,scur,status,weight,check_status"
FMAINT, IMAINT, CMAINT, FDRAIN = 0x01, 0x02, 0x04, 0x08


@dataclass
class Srv:
    """One server as the fake HAProxy holds it."""

    bits: int = 0
    weight: int = 1
    sessions: int = 0
    healthy: bool = True
    backend: str = "site"

    @property
    def status(self) -> str:
        if self.bits & 0x23:
            return "MAINT"
        if self.bits & 0x18:
            return "DRAIN"
        return "UP" if self.healthy else "DOWN"


@dataclass
class FakeHAProxy:
    """Backend `site` with web1..web3 as the lab starts them (web3 `disabled`)."""

    servers: dict[str, Srv] = field(
        default_factory=lambda: {"web1": Srv(), "web2": Srv(), "web3": Srv(FMAINT | CMAINT)}
    )
    flags: dict[str, str] = field(
        default_factory=lambda: {"mode": "normal", "message": "-", "until": "-"}
    )
    changes: list[str] = field(default_factory=list)

    def answer(self, command: str) -> str:
        words = command.replace("\\ ", "\0").split()
        words = [w.replace("\0", " ") for w in words]
        if words[:2] == ["show", "map"]:
            return "".join(f"0x{n:x} {k} {v}\n" for n, (k, v) in enumerate(self.flags.items()))
        if words[1:2] == ["map"] and words[0] in ("set", "add"):
            self.changes.append(command)
            self.flags[words[3]] = words[4]
            return "\n"
        if command.startswith("show servers state"):
            rows = [
                f"3 {s.backend} {n} {name} 10.0.0.{n} {0 if s.status == 'MAINT' else 2} "
                f"{s.bits} {s.weight} 1 5 15 3 3 6 0 0 0 - 8000 - 0 0 - - 0"
                for n, (name, s) in enumerate(self.servers.items(), 1)
                if words[3:] in ([], [s.backend])
            ]
            return "\n".join(["1", HEADER, *rows]) + "\n\n"
        if command == "show stat":
            rows = [
                f"{s.backend},{name},{s.sessions},{s.status},{s.weight},L7OK"
                for name, s in self.servers.items()
            ]
            return "\n".join([STAT, "site,FRONTEND,0,OPEN,,", *rows]) + "\n\n"
        if words[:2] == ["set", "server"]:
            self.changes.append(command)
            server = self.servers[words[2].split("/")[1]]
            if words[3] == "weight":
                server.weight = int(words[4])
            elif words[4] == "ready":
                server.bits &= ~(FMAINT | FDRAIN)
            elif words[4] == "drain":
                server.bits = (server.bits | FDRAIN) & ~FMAINT
            elif words[4] == "maint":
                server.bits = (server.bits | FMAINT) & ~FDRAIN
            return "\n"
        return f"Unknown command: {command}\n"


@dataclass
class _Monitor:
    inv: Inventory
    links: dict[str, Any] = field(default_factory=dict)


class FakeContext(Context):
    """A Context whose balancer is FAKE and whose files are a dict; nothing else answers."""

    def __init__(self, fake: FakeHAProxy, inv: Inventory = parts.INV) -> None:
        super().__init__(_Monitor(inv))  # type: ignore[arg-type]
        self.fake = fake
        self.files: dict[tuple[str, str], str] = {}

    async def haproxy(self, command: str) -> str:
        return self.fake.answer(command)

    async def read_file(self, box: str, path: str) -> str:
        return self.files.get((box, path), "")

    async def write_file(self, box: str, path: str, text: str) -> None:
        self.files[(box, path)] = text


async def run_steps(steps: tuple[Step, ...], ctx: Context) -> list[tuple[str, Check, str]]:
    """Each step as the runner runs it (precondition, act, verify); stops at the first failure.

    Returns (title, check, answer) per step run; a failed precondition's check
    reads "precondition not met: ...", as the runner says it.
    """
    done = []
    for step in steps:
        if step.pre is not None:
            before = await step.pre(ctx)
            if not before.ok:
                refused = Check(False, f"precondition not met: {before.detail}")
                done.append((step.title, refused, ""))
                break
        answer = await step.act(ctx)
        check = await step.verify(ctx)
        done.append((step.title, check, answer))
        if not check.ok:
            break
    return done
