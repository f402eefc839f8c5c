"""Actions on the whole site: read-only mode and the maintenance page."""

from console.actions.site.modes import (
    plan_maintenance_off,
    plan_maintenance_on,
    plan_read_only_off,
    plan_read_only_on,
)

__all__ = [
    "plan_maintenance_off",
    "plan_maintenance_on",
    "plan_read_only_off",
    "plan_read_only_on",
]
