"""Actions through a web node's process supervisor: restart its site, drained and proven."""

from console.actions.supervisor.restart import plan_restart, restart_steps

__all__ = ["plan_restart", "restart_steps"]
