"""Alarms from a node's supervisor: its site down, paused, or the supervisor unreachable. Pure."""

from __future__ import annotations

from console.state.model import Alarm, NodeState
from console.state.supervisor import duration
from console.state.wording import alarm


def supervisor_alarms(node: NodeState) -> list[Alarm]:
    """What NODE's supervisor view (when cluster.yaml names one) says is wrong."""
    sv = node.supervisor
    if sv is None:
        return []
    subject = [node.name]
    where = f"{sv.kind} ({sv.service})"
    if sv.state is None:
        message = f"{node.name}: {where} cannot be asked: {sv.problem or 'no answer'}"
        return [alarm("supervisor-unknown", "warning", subject, message)]
    if sv.state != "run" and sv.want_up:
        message = (
            f"{node.name}: {sv.kind} wants the site up but it is {sv.state} "
            f"for {duration(sv.state_s)}: its run script fails to start it (see its log)"
        )
        return [alarm("supervisor-down", "critical", subject, message)]
    if sv.state != "run":
        message = (
            f"{node.name}: {sv.kind} has the site down for {duration(sv.state_s)}; "
            f"`sv up {sv.service}` on {node.box} starts it, `hotspare restart {node.name}` too"
        )
        return [alarm("supervisor-down", "critical", subject, message)]
    if sv.paused:
        message = (
            f"{node.name}: the site is paused under {sv.kind} (sv pause): it runs but answers "
            f"nothing; `sv cont {sv.service}` resumes it"
        )
        return [alarm("supervisor-paused", "warning", subject, message)]
    return []
