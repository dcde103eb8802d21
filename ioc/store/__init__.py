"""The store: one interface, a backend chosen by URL (sqlite:/// or postgresql://)."""

from __future__ import annotations

from ioc.store.base import Store
from ioc.store.core import StoreError
from ioc.store.models import (
    Alarm,
    AlarmAction,
    AlarmTrigger,
    AuditEntry,
    DeadLetter,
    Device,
    User,
    WorkerHealth,
    WriteResult,
)

__all__ = [
    "Alarm",
    "AlarmAction",
    "AlarmTrigger",
    "AuditEntry",
    "DeadLetter",
    "Device",
    "Store",
    "StoreError",
    "User",
    "WorkerHealth",
    "WriteResult",
    "open_store",
]


def open_store(url: str, *, migrate: bool = False, timeout: float | None = None) -> Store:
    """Open the store at url; with migrate=True bring its schema up to date first.

    timeout: seconds a PostgreSQL transaction waits for a connection (default 10).
    """
    if url.startswith("sqlite:"):
        from ioc.store.sqlite import SqliteStore

        store: Store = SqliteStore(url)
    elif url.startswith(("postgresql://", "postgres://")):
        from ioc.store.postgres import PostgresStore

        store = PostgresStore(url) if timeout is None else PostgresStore(url, timeout=timeout)
    else:
        raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path or postgresql://...")
    if migrate:
        store.migrate()
    return store
