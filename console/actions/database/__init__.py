"""Actions on the database members: promote (switchover), failover, rejoin, through Patroni too."""

from console.actions.database.failover import plan_failover
from console.actions.database.promote import plan_promote
from console.actions.database.rejoin import plan_rejoin

__all__ = ["plan_failover", "plan_promote", "plan_rejoin"]
