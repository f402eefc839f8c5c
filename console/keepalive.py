"""Keepalive: which node's site to restart because it stopped answering, and when not to.

The thread's "tests each server for actual responsiveness and kills the
process if it becomes too unresponsive - crude but effective", with the
guards a tired operator would want: a node counts a miss only on a fresh
probe of its box (a box that does not answer is not its site's fault, and
nothing could reach it anyway), acts after `probes` misses in a row, one
node at a time, never the last node serving, at most once per node in
`min_interval`. Pure: the monitor (console/daemon/keepalive_run.py) feeds it
snapshots and carries out what it decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.inventory import Inventory, Keepalive
from console.state.model import ClusterState, NodeState


@dataclass(frozen=True)
class Decision:
    """Restart NODE's site now, because WHY."""

    node: str
    why: str


@dataclass
class Watch:
    """Keepalive's memory across snapshots: misses in a row, and when it last acted."""

    cfg: Keepalive
    misses: dict[str, int] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)
    acted_at: dict[str, float] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # node -> why not now (said once)
    busy: str | None = None  # the node being restarted

    def judge(self, inv: Inventory, state: ClusterState) -> tuple[Decision | None, list[str]]:
        """Note STATE; the restart due now, if any, and what is newly held back (to say once)."""
        for node in state.nodes:
            self._count(node, state)
        if not self.cfg.enabled or self.busy is not None:
            return None, []
        said: list[str] = []
        due = sorted(
            (n for n, missed in self.misses.items() if missed >= self.cfg.probes),
            key=lambda n: -self.misses[n],
        )
        for name in due:
            kind, why_not = self._why_not(inv, state, name)
            if why_not is None:
                self.held.pop(name, None)
                limit = f"{self.cfg.limit:g} s"
                return Decision(
                    name,
                    f"its health check has not answered within {limit} for "
                    f"{self.misses[name]} probes in a row",
                ), said
            if self.held.get(name) != kind:  # said once per reason, not every snapshot
                self.held[name] = kind
                said.append(f"keepalive holds back on {name}: {why_not}")
        return None, said

    def started(self, node: str, at: float) -> None:
        self.busy = node
        self.acted_at[node] = at

    def ended(self, node: str) -> None:
        self.busy = None
        self.misses[node] = 0

    def _count(self, node: NodeState, state: ClusterState) -> None:
        if not state.answers(node.box) or self.seen_at.get(node.name) == node.observed_at:
            return  # no new word from its box: nothing to count either way
        self.seen_at[node.name] = node.observed_at
        answered = (
            node.health_status == 200
            and node.health_latency_ms is not None
            and node.health_latency_ms <= self.cfg.limit * 1000
        )
        self.misses[node.name] = 0 if answered else self.misses.get(node.name, 0) + 1

    def _why_not(self, inv: Inventory, state: ClusterState, name: str) -> tuple[str, str | None]:
        """(the kind of reason, the reason in words), or ("", None) when it may go ahead."""
        node = inv.web_node(name)
        last = self.acted_at.get(name)
        if last is not None and state.taken_at - last < self.cfg.min_interval:
            again = last + self.cfg.min_interval - state.taken_at
            return (
                "rate",
                f"restarted {state.taken_at - last:.0f} s ago; not again for {again:.0f} s",
            )
        if node.supervisor is None and inv.hooks.restart is None:
            return "way", "cluster.yaml names no supervisor for it and no restart hook"
        if serving(state, exclude=node.server) == 0 and _serves(state, node.server):
            return "last", "no other node is ready and up on the balancer: it stays as it is"
        return "", None


def serving(state: ClusterState, exclude: str = "") -> int:
    """Servers READY and UP on the balancer, EXCLUDE's aside."""
    servers = state.balancer.servers if state.balancer else ()
    return sum(
        1
        for s in servers
        if s.name != exclude and s.admin == "ready" and s.operational.startswith("UP")
    )


def _serves(state: ClusterState, server: str) -> bool:
    servers = state.balancer.servers if state.balancer else ()
    return any(s.name == server and s.admin == "ready" for s in servers)
