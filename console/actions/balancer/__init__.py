"""Actions on a node's place in the balancer: drain, ready, maint, weight."""

from console.actions.balancer.nodes import (
    DRAIN_TIMEOUT,
    plan_drain,
    plan_maint,
    plan_ready,
    plan_weight,
)

__all__ = ["DRAIN_TIMEOUT", "plan_drain", "plan_maint", "plan_ready", "plan_weight"]
