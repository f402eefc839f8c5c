"""Actions on the database members: promote (switchover), failover, rejoin, through Patroni too;
and Patroni's own: pause, resume, restart, reinit, a scheduled switchover and its cancel."""

from console.actions.database.failover import plan_failover
from console.actions.database.patroni_pause import plan_pause, plan_resume
from console.actions.database.patroni_reinit import plan_reinit
from console.actions.database.patroni_restart import plan_restart
from console.actions.database.patroni_schedule import (
    plan_cancel_switchover,
    plan_patroni_switchover,
)
from console.actions.database.promote import plan_promote
from console.actions.database.rejoin import plan_rejoin

__all__ = [
    "plan_cancel_switchover",
    "plan_failover",
    "plan_patroni_switchover",
    "plan_pause",
    "plan_promote",
    "plan_reinit",
    "plan_rejoin",
    "plan_restart",
    "plan_resume",
]
