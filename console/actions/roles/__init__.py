"""Actions on a node's role: hot, warm, and the one scheduler."""

from console.actions.roles.hot_warm import plan_hot, plan_warm
from console.actions.roles.scheduler import plan_move_scheduler

__all__ = ["plan_hot", "plan_move_scheduler", "plan_warm"]
