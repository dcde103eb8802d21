"""The store interface, composed of one mixin per job in the spirit of Home Assistant's
recorder. Backends (ioc.store.sqlite, ioc.store.postgres) subclass Store and supply the
connections, bulk loads and every dialect difference.

To add a job, write a mixin of StoreCore in a module of its own and list it in Store's bases.
"""

from __future__ import annotations

from ioc.store.accounts import Accounts
from ioc.store.alarms import Alarms
from ioc.store.core import HIGH_SEVERITY, StoreCore, StoreError, Tx, where_clause
from ioc.store.events import Events
from ioc.store.health import Health
from ioc.store.kpi_queries import KpiQueries
from ioc.store.kpi_state import KpiState
from ioc.store.migration import Migrations
from ioc.store.register_reads import RegisterReads
from ioc.store.registers import RegisterQueries
from ioc.store.retention import Retention
from ioc.store.write import Write, dead_letter_key, latest_per_source

__all__ = [
    "HIGH_SEVERITY",
    "Store",
    "StoreError",
    "Tx",
    "dead_letter_key",
    "latest_per_source",
    "where_clause",
]


class Store(
    Migrations,
    Write,
    Events,
    Alarms,
    Accounts,
    Health,
    KpiState,
    KpiQueries,
    RegisterQueries,
    RegisterReads,
    Retention,
    StoreCore,
):
    """Everything the product keeps: events, devices, alarms, users, audit, KPI state, dead letters."""
