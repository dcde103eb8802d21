"""What callbacks need from the running app: settings and one shared store, opened on first use."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import flask

from dashboards.render_cache import RenderCache
from ioc.settings import Settings
from ioc.store import Store, open_store

EXTENSION = "ioc"


@dataclass
class Services:
    """Per-app state kept in flask.current_app.extensions; no data is read until asked for."""

    settings: Settings
    stale_after_s: int = 60
    _store: Store | None = None
    _reads: Store | None = None
    # Answers shared across sessions (render once, serve many) and sub-second lookups.
    render: RenderCache = field(default_factory=RenderCache)
    memo: RenderCache = field(default_factory=lambda: RenderCache(size=4096, ttl=1.0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on the first request that needs it."""
        return self._opened("_store", self.settings.db_url, migrate=True)

    @property
    def reads(self) -> Store:
        """Where dashboards read shared, lag-tolerant data: the replica (IOC_DB_READ_URL)
        when one is configured, else the store. Sessions, alarms and writes use `store`."""
        if not self.settings.db_read_url:
            return self.store
        return self._opened("_reads", self.settings.db_read_url, migrate=False)

    def _opened(self, attr: str, url: str, *, migrate: bool) -> Store:
        """The store kept in attr, opened once (under the lock) by the first caller."""
        store: Store | None = getattr(self, attr)
        if store is None:
            with self._lock:
                store = getattr(self, attr)
                if store is None:
                    store = _open(url, migrate=migrate)
                    setattr(self, attr, store)
        return store

    @property
    def snapshot_dir(self) -> Path:
        """Where camera adapters keep snapshot JPEGs; relative snapshot paths resolve here."""
        return self.settings.snapshot_root

    @property
    def replay_dir(self) -> Path:
        """Where the replay page keeps the state and logs of the replays it started."""
        return (self.settings.data_dir / "replays").resolve()

    def close(self) -> None:
        """Release the store (and the replica)."""
        if self._reads is not None:
            self._reads.close()
            self._reads = None
        if self._store is not None:
            self._store.close()
            self._store = None


def _open(url: str, *, migrate: bool) -> Store:
    # Under gunicorn, `ioc serve --workers` sizes each worker's pool to its threads
    # (IOC_WEB_POOL_SIZE), so no request thread queues for a connection.
    size = os.environ.get("IOC_WEB_POOL_SIZE")
    if size and url.startswith(("postgresql://", "postgres://")):
        from ioc.store.postgres import PostgresStore

        store: Store = PostgresStore(url, max_size=int(size))
        if migrate:
            store.migrate()
        return store
    return open_store(url, migrate=migrate)


def services() -> Services:
    """The services of the app serving the current request."""
    return flask.current_app.extensions[EXTENSION]
