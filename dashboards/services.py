"""What callbacks need from the running app: settings and one shared store, opened on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import flask

from ioc.settings import Settings
from ioc.store import Store, open_store

EXTENSION = "ioc"


@dataclass
class Services:
    """Per-app state kept in flask.current_app.extensions; no data is read until asked for."""

    settings: Settings
    stale_after_s: int = 60
    _store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on the first request that needs it."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.settings.db_url, migrate=True)
        return self._store

    @property
    def snapshot_dir(self) -> Path:
        """Where camera adapters keep snapshot JPEGs; relative snapshot paths resolve here."""
        return self.settings.snapshot_root

    @property
    def replay_dir(self) -> Path:
        """Where the replay page keeps the state and logs of the replays it started."""
        return (self.settings.data_dir / "replays").resolve()

    def close(self) -> None:
        """Release the store."""
        if self._store is not None:
            self._store.close()
            self._store = None


def services() -> Services:
    """The services of the app serving the current request."""
    return flask.current_app.extensions[EXTENSION]
