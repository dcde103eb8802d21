"""The ingest writer's batch transaction: events, device state, alarms, dead letters."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ioc.alarms import triggers_for
from ioc.events import Event
from ioc.store.core import StoreCore, Tx
from ioc.store.models import (
    DeadLetter,
    WriteResult,
)

DEAD_LETTER_COLUMNS = (
    ("received_at", "timestamptz"),
    ("topic", "text"),
    ("payload", "bytea"),
    ("reason", "text"),
    ("worker", "text"),
    ("dedup_key", "bytea"),
)


def latest_per_source(events: Iterable[Event]) -> list[Event]:
    """The newest event of each source in a batch."""
    latest: dict[str, Event] = {}
    for e in events:
        cur = latest.get(e.source)
        if cur is None or e.ts > cur.ts:
            latest[e.source] = e
    return list(latest.values())


def dead_letter_key(topic: str, payload: bytes) -> bytes:
    """The dedup key of a dead letter: sha256 of the topic, a NUL byte, and the raw payload."""
    # The NUL separates them so that ("a/b", b"c") and ("a/", b"bc") never share a key.
    return hashlib.sha256(topic.encode("utf-8", "surrogateescape") + b"\0" + payload).digest()


class Write(StoreCore):
    """write_batch and what it keeps besides the events; the ingest layouts and dead letters."""

    def write_batch(
        self,
        events: Sequence[Event],
        dead_letters: Sequence[DeadLetter] = (),
        statuses: Sequence[tuple[str, Any]] = (),
    ) -> WriteResult:
        """Store a batch in one transaction: new events, device state, KPI state, alarms, dead letters.

        statuses are (province, DeviceStatus) pairs from retained status topics.
        """
        with self.transaction() as tx:
            inserted = self._bulk_insert_events(tx, events) if events else []
            alarms_opened = 0
            if inserted:
                self._apply_kpi_state(tx, inserted)
                self._apply_device_state(tx, latest_per_source(inserted))
                self.apply_programme_events(tx, inserted)
                triggers = triggers_for(inserted)
                if triggers:
                    alarms_opened = self._open_or_merge_many(tx, triggers)
            for province, status in statuses:
                self._apply_status(tx, province, status)
            dead = self._insert_dead_letters(tx, dead_letters) if dead_letters else 0
        return WriteResult(
            inserted=len(inserted),
            duplicates=len(events) - len(inserted),
            dead_letters=dead,
            dead_letter_duplicates=len(dead_letters) - dead,
            statuses=len(statuses),
            alarms_opened=alarms_opened,
        )

    def _insert_dead_letters(self, tx: Tx, dead_letters: Sequence[DeadLetter]) -> int:
        # One row per (topic, payload) ever: a redelivery of a message already dead-lettered
        # (crash between commit and ack, broker restored from an older save) is skipped.
        now = self._to_db(datetime.now(UTC))
        rows = [
            (
                self._to_db(d.received_at) if d.received_at else now,
                d.topic,
                d.payload,
                d.reason,
                d.worker,
                dead_letter_key(d.topic, d.payload),
            )
            for d in dead_letters
        ]
        new = self._insert_rows(
            tx,
            "dead_letters",
            DEAD_LETTER_COLUMNS,
            rows,
            "ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        return len(new)

    def _apply_device_state(self, tx: Tx, latest: Sequence[Event]) -> None:
        """Keep each source's newest event on its device row."""
        tx.executemany(
            "INSERT INTO devices (source, province, ward, domain, lat, lon, last_ts, last_kind, "
            "last_severity, last_event_id, last_attrs) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (source) DO UPDATE SET province = excluded.province, "
            "ward = coalesce(excluded.ward, devices.ward), domain = excluded.domain, "
            "lat = coalesce(excluded.lat, devices.lat), lon = coalesce(excluded.lon, devices.lon), "
            "last_ts = excluded.last_ts, last_kind = excluded.last_kind, "
            "last_severity = excluded.last_severity, last_event_id = excluded.last_event_id, "
            "last_attrs = excluded.last_attrs "
            "WHERE devices.last_ts IS NULL OR devices.last_ts < excluded.last_ts",
            [
                (
                    e.source,
                    e.province,
                    e.ward,
                    e.domain,
                    e.lat,
                    e.lon,
                    self._to_db(e.ts),
                    e.kind,
                    e.severity,
                    e.id,
                    self._to_db(e.attrs),
                )
                for e in latest
            ],
        )

    def _apply_status(self, tx: Tx, province: str, status: Any) -> None:
        tx.execute(
            "INSERT INTO devices (source, province, domain, name, lat, lon, status, status_ts) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (source) DO UPDATE SET status = excluded.status, "
            "status_ts = excluded.status_ts, name = coalesce(excluded.name, devices.name), "
            "domain = coalesce(excluded.domain, devices.domain), "
            "lat = coalesce(excluded.lat, devices.lat), lon = coalesce(excluded.lon, devices.lon) "
            "WHERE devices.status_ts IS NULL OR devices.status_ts <= excluded.status_ts",
            (
                status.source,
                province,
                status.domain,
                status.name,
                status.lat,
                status.lon,
                status.state,
                self._to_db(status.ts),
            ),
        )

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """Newest dead letters first."""
        rows = self._rows("SELECT * FROM dead_letters ORDER BY id DESC LIMIT %s", (int(limit),))
        return [
            DeadLetter(
                topic=r["topic"],
                payload=bytes(r["payload"]),
                reason=r["reason"],
                worker=r["worker"],
                received_at=r["received_at"],
                id=r["id"],
            )
            for r in rows
        ]

    def count_dead_letters(self) -> int:
        """Number of dead letters kept."""
        return int(self._rows("SELECT count(*) AS n FROM dead_letters")[0]["n"])

    def ingest_layouts(self, name: str) -> list[int]:
        """Worker counts of the ingest layouts recorded under this client id prefix."""
        rows = self._rows(
            "SELECT workers FROM ingest_layouts WHERE name = %s ORDER BY workers", (name,)
        )
        return [int(r["workers"]) for r in rows]

    def record_ingest_layout(self, name: str, workers: int) -> None:
        """Remember that sessions of this layout exist (before they are created)."""
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO ingest_layouts (name, workers, recorded_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (name, workers) DO NOTHING",
                (name, int(workers), self._to_db(datetime.now(UTC))),
            )

    def forget_ingest_layout(self, name: str, workers: int) -> None:
        """Drop a layout whose sessions have all been drained and ended."""
        with self.transaction() as tx:
            tx.execute(
                "DELETE FROM ingest_layouts WHERE name = %s AND workers = %s", (name, int(workers))
            )
