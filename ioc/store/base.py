"""The store interface. Backends supply connections, bulk loads and dialect quirks;
the queries both dialects share live here, written with %s placeholders."""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any, Protocol

from ioc.events import Event
from ioc.store.kpi_queries import KpiQueries
from ioc.store.models import (
    ALARM_ACTIONS,
    ROLES,
    Alarm,
    AlarmAction,
    AlarmTrigger,
    AuditEntry,
    DeadLetter,
    Device,
    RollupRow,
    User,
    WorkerHealth,
    WriteResult,
)
from ioc.store.security import SecurityQueries
from ioc.store.versions import VersionQueries

logger = logging.getLogger(__name__)

HIGH_SEVERITY = 3


class StoreError(Exception):
    """The store is unreachable or refused an operation; callers may retry."""


class Tx(Protocol):
    """A cursor inside one transaction."""

    def fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def execute(self, query: str, params: Sequence[Any] = ()) -> int: ...
    def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> None: ...


def hour_bucket(ts: datetime) -> datetime:
    """Start of the UTC hour holding ts."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_deltas(
    events: Iterable[tuple[datetime, str, str | None, str, int]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Aggregate (ts, province, ward, kind, severity) of newly stored events into upsert rows."""
    hourly: Counter[tuple[datetime, str, str]] = Counter()
    hourly_high: Counter[tuple[datetime, str, str]] = Counter()
    daily: Counter[tuple[date, str, str, str]] = Counter()
    daily_high: Counter[tuple[date, str, str, str]] = Counter()
    for ts, province, ward, kind, severity in events:
        h = (hour_bucket(ts), province, kind)
        d = (ts.astimezone(UTC).date(), province, ward or "", kind)
        hourly[h] += 1
        daily[d] += 1
        if severity >= HIGH_SEVERITY:
            hourly_high[h] += 1
            daily_high[d] += 1
    return (
        [(*k, n, hourly_high[k]) for k, n in hourly.items()],
        [(*k, n, daily_high[k]) for k, n in daily.items()],
    )


def latest_per_source(events: Iterable[Event]) -> list[Event]:
    """The newest event of each source in a batch."""
    latest: dict[str, Event] = {}
    for e in events:
        cur = latest.get(e.source)
        if cur is None or e.ts > cur.ts:
            latest[e.source] = e
    return list(latest.values())


def where_clause(predicates: Iterable[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """' WHERE a AND b' from fixed (predicate, value) pairs whose value is not None.

    Only predicates written in this module are composed; every value stays a parameter.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in predicates:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def dead_letter_key(topic: str, payload: bytes) -> bytes:
    """The dedup key of a dead letter: sha256 of the topic, a NUL byte, and the raw payload."""
    # The NUL separates them so that ("a/b", b"c") and ("a/", b"bc") never share a key.
    return hashlib.sha256(topic.encode("utf-8", "surrogateescape") + b"\0" + payload).digest()


def _record(cls: type, row: dict[str, Any]) -> Any:
    return cls(**{f.name: row[f.name] for f in fields(cls)})


class Store(KpiQueries, SecurityQueries, VersionQueries, ABC):
    """Everything the product keeps: events, rollups, devices, alarms, users, audit, dead letters."""

    dialect: str = ""
    url: str = ""

    # --- backend primitives -----------------------------------------------------

    @abstractmethod
    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Tx]:
        """A transaction that commits on success and rolls back on error.

        readonly=True promises no writes, so a backend may skip write locks.
        """

    @abstractmethod
    def _bulk_insert_events(self, tx: Tx, events: Sequence[Event]) -> list[Event]:
        """Insert events skipping existing (id, ts); return the ones actually inserted."""

    @abstractmethod
    def _from_db(self, row: dict[str, Any]) -> dict[str, Any]:
        """Turn a row's stored timestamps and JSON into Python values."""

    @abstractmethod
    def _to_db(self, value: Any) -> Any:
        """Adapt one parameter (datetime, date, dict) for this backend."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Backend, server version, schema version, row counts, extension state."""

    def ping(self) -> bool:
        """True when the store answers a trivial query (for health probes)."""
        try:
            return self._rows("SELECT 1 AS ok")[0]["ok"] == 1
        except Exception:  # any failure means "not ready"; the probe never sees why
            return False

    # --- schema -------------------------------------------------------------------

    def migrations(self) -> list[tuple[int, str, str]]:
        """(version, name, sql) of every migration shipped for this dialect, in order."""
        folder = resources.files("ioc.store") / "migrations" / self.dialect
        out = []
        for item in folder.iterdir():
            if item.name.endswith(".sql"):
                version, _, name = item.name.removesuffix(".sql").partition("_")
                out.append((int(version), name, item.read_text(encoding="utf-8")))
        return sorted(out)

    def schema_version(self) -> int:
        """Highest applied migration, 0 for an empty database."""
        with self.transaction() as tx:
            if not self._has_table(tx, "schema_migrations"):
                return 0
            rows = tx.fetch("SELECT max(version) AS v FROM schema_migrations")
        return int(rows[0]["v"] or 0)

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied."""
        applied = []
        with self.transaction() as tx:
            # Checked first: the application role (no CREATE on the schema) may then call
            # migrate() on an up-to-date store as a no-op.
            if not self._has_table(tx, "schema_migrations"):
                tx.execute(
                    "CREATE TABLE schema_migrations "
                    "(version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)"
                )
        with self.transaction(readonly=True) as tx:
            done = {int(r["version"]) for r in tx.fetch("SELECT version FROM schema_migrations")}
        for version, name, script in self.migrations():
            # By set, not by the highest version: migrations are numbered per branch, so one
            # merged after a higher-numbered one (0005 after 0006) must still be applied.
            if version in done:
                continue
            with self.transaction() as tx:
                self._run_script(tx, script)
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (version, name, datetime.now(UTC).isoformat()),
                )
            logger.info("applied migration %04d_%s on %s", version, name, self.dialect)
            applied.append(version)
        return applied

    @abstractmethod
    def _run_script(self, tx: Tx, script: str) -> None: ...

    @abstractmethod
    def _has_table(self, tx: Tx, name: str) -> bool: ...

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction(readonly=True) as tx:
            return [self._from_db(r) for r in tx.fetch(query, [self._to_db(p) for p in params])]

    # --- ingest -------------------------------------------------------------------

    def write_batch(
        self,
        events: Sequence[Event],
        dead_letters: Sequence[DeadLetter] = (),
        statuses: Sequence[tuple[str, Any]] = (),
    ) -> WriteResult:
        """Store a batch in one transaction: new events, rollups, device state, alarms, dead letters.

        statuses are (province, DeviceStatus) pairs from retained status topics.
        """
        with self.transaction() as tx:
            inserted = self._bulk_insert_events(tx, events) if events else []
            alarms_opened = 0
            if inserted:
                self._apply_rollups(tx, inserted)
                self._apply_kpi_state(tx, inserted)
                self._apply_device_state(tx, latest_per_source(inserted))
                from ioc.alarms import triggers_for  # ioc.alarms imports the store's models

                for trigger in triggers_for(inserted):
                    alarms_opened += self._open_or_merge(tx, trigger)[1]
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
        now = datetime.now(UTC)
        inserted = 0
        for d in dead_letters:
            rows = tx.fetch(
                "INSERT INTO dead_letters (received_at, topic, payload, reason, worker, dedup_key) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                (
                    self._to_db(d.received_at or now),
                    d.topic,
                    d.payload,
                    d.reason,
                    d.worker,
                    dead_letter_key(d.topic, d.payload),
                ),
            )
            inserted += len(rows)
        return inserted

    def _apply_rollups(self, tx: Tx, inserted: Sequence[Event]) -> None:
        hourly, daily = rollup_deltas(
            (e.ts, e.province, e.ward, e.kind, e.severity) for e in inserted
        )
        tx.executemany(
            "INSERT INTO rollup_hourly (bucket, province, kind, n, n_high) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (bucket, province, kind) DO UPDATE "
            "SET n = rollup_hourly.n + excluded.n, n_high = rollup_hourly.n_high + excluded.n_high",
            [(self._to_db(b), p, k, n, h) for b, p, k, n, h in hourly],
        )
        tx.executemany(
            "INSERT INTO rollup_daily_ward (day, province, ward, kind, n, n_high) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (province, day, ward, kind) DO UPDATE "
            "SET n = rollup_daily_ward.n + excluded.n, "
            "n_high = rollup_daily_ward.n_high + excluded.n_high",
            [(self._to_db(d), p, w, k, n, h) for d, p, w, k, n, h in daily],
        )

    def _apply_device_state(self, tx: Tx, latest: Sequence[Event]) -> None:
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

    # --- events ---------------------------------------------------------------------

    def _event(self, row: dict[str, Any]) -> Event:
        row = self._from_db(row)
        return Event.model_construct(
            id=row["id"],
            ts=row["ts"],
            source=row["source"],
            kind=row["kind"],
            severity=row["severity"],
            province=row["province"],
            ward=row["ward"],
            lat=row["lat"],
            lon=row["lon"],
            attrs=row["attrs"],
        )

    def count_events(
        self,
        *,
        province: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Number of stored events, optionally for one province and time range."""
        where, params = self._where(province=province, since=since, until=until)
        rows = self._rows(f"SELECT count(*) AS n FROM events{where}", params)  # noqa: S608
        return int(rows[0]["n"])

    def recent_events(
        self,
        *,
        province: str | None = None,
        ward: str | None = None,
        domain: str | None = None,
        min_severity: int = 0,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Newest events first, filtered."""
        where, params = self._where(
            province=province, ward=ward, domain=domain, min_severity=min_severity, since=since
        )
        query = f"SELECT * FROM events{where} ORDER BY ts DESC, id LIMIT %s"  # noqa: S608
        with self.transaction() as tx:
            rows = tx.fetch(query, [self._to_db(p) for p in params] + [int(limit)])
        return [self._event(r) for r in rows]

    def get_event(self, event_id: str) -> Event | None:
        """One event by id."""
        with self.transaction() as tx:
            rows = tx.fetch("SELECT * FROM events WHERE id = %s LIMIT 1", (event_id,))
        return self._event(rows[0]) if rows else None

    @staticmethod
    def _where(
        *,
        province: str | None = None,
        ward: str | None = None,
        domain: str | None = None,
        min_severity: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[str, list[Any]]:
        return where_clause(
            (
                ("province = %s", province),
                ("ward = %s", ward),
                ("kind LIKE %s", f"{domain}.%" if domain else None),
                ("severity >= %s", min_severity or None),
                ("ts >= %s", since),
                ("ts < %s", until),
            )
        )

    # --- rollups --------------------------------------------------------------------

    def hourly_counts(
        self, since: datetime, until: datetime, *, province: str | None = None
    ) -> list[RollupRow]:
        """Hour x province x kind counts in [since, until)."""
        query = (
            "SELECT bucket, province, kind, n, n_high FROM rollup_hourly "
            "WHERE bucket >= %s AND bucket < %s"
        )
        params: list[Any] = [since, until]
        if province is not None:
            query += " AND province = %s"
            params.append(province)
        rows = self._rows(query + " ORDER BY bucket, province, kind", params)
        return [RollupRow(**r) for r in rows]

    def daily_ward_counts(
        self, since: date, until: date, *, province: str | None = None
    ) -> list[RollupRow]:
        """Day x ward x kind counts for days in [since, until)."""
        query = (
            "SELECT day AS bucket, province, ward, kind, n, n_high FROM rollup_daily_ward "
            "WHERE day >= %s AND day < %s"
        )
        params: list[Any] = [since, until]
        if province is not None:
            query += " AND province = %s"
            params.append(province)
        rows = self._rows(query + " ORDER BY day, province, ward, kind", params)
        return [RollupRow(**r) for r in rows]

    # --- devices and dead letters -------------------------------------------------

    def devices(self, *, province: str | None = None, domain: str | None = None) -> list[Device]:
        """Latest state of every known device."""
        where, params = where_clause((("province = %s", province), ("domain = %s", domain)))
        query = f"SELECT * FROM devices{where} ORDER BY source"  # noqa: S608
        return [_record(Device, r) for r in self._rows(query, params)]

    def get_device(self, source: str) -> Device | None:
        """One device's latest state by its source id."""
        rows = self._rows("SELECT * FROM devices WHERE source = %s", (source,))
        return _record(Device, rows[0]) if rows else None

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

    def count_dead_letters(self) -> int:
        """Number of dead letters kept."""
        return int(self._rows("SELECT count(*) AS n FROM dead_letters")[0]["n"])

    # --- alarms ----------------------------------------------------------------------

    def open_or_merge_alarm(self, trigger: AlarmTrigger) -> tuple[Alarm, bool]:
        """Open an alarm for a trigger, or merge it into the active one with the same key.

        Returns the alarm and True when it was newly opened.
        """
        with self.transaction() as tx:
            return self._open_or_merge(tx, trigger)

    def _open_or_merge(self, tx: Tx, trigger: AlarmTrigger) -> tuple[Alarm, bool]:
        rows = tx.fetch(
            "UPDATE alarms SET event_count = event_count + 1, last_event_id = %s, "
            "last_event_at = CASE WHEN last_event_at < %s THEN %s ELSE last_event_at END, "
            "severity = CASE WHEN severity < %s THEN %s ELSE severity END "
            "WHERE dedup_key = %s AND state <> 'resolved' RETURNING *",
            (
                trigger.event_id,
                self._to_db(trigger.ts),
                self._to_db(trigger.ts),
                trigger.severity,
                trigger.severity,
                trigger.dedup_key,
            ),
        )
        opened = not rows
        if opened:
            rows = tx.fetch(
                "INSERT INTO alarms (rule, dedup_key, source, kind, province, ward, severity, "
                "title, state, opened_at, last_event_at, event_count, first_event_id, "
                "last_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, 1, "
                "%s, %s) RETURNING *",
                (
                    trigger.rule,
                    trigger.dedup_key,
                    trigger.source,
                    trigger.kind,
                    trigger.province,
                    trigger.ward,
                    trigger.severity,
                    trigger.title,
                    self._to_db(trigger.ts),
                    self._to_db(trigger.ts),
                    trigger.event_id,
                    trigger.event_id,
                ),
            )
        alarm = _record(Alarm, self._from_db(rows[0]))
        tx.execute(
            "INSERT INTO alarm_actions (alarm_id, ts, actor, action, note) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                alarm.id,
                self._to_db(datetime.now(UTC)),
                "system",
                "opened" if opened else "merged",
                trigger.event_id,
            ),
        )
        return alarm, opened

    def alarm_action(
        self,
        alarm_id: int,
        *,
        actor: str,
        action: str,
        note: str | None = None,
        assigned_to: str | None = None,
    ) -> Alarm:
        """Acknowledge, assign, comment on or resolve an alarm, logging who and when."""
        if action not in ALARM_ACTIONS or action in ("opened", "merged"):
            raise ValueError(f"unknown alarm action {action!r}")
        if action == "resolve" and not (note and note.strip()):
            raise ValueError("resolving an alarm needs a resolution note")
        if action == "assign" and not (assigned_to and assigned_to.strip()):
            raise ValueError("assigning an alarm needs an assignee")
        now = self._to_db(datetime.now(UTC))
        updates = {
            "acknowledge": (
                "UPDATE alarms SET state = 'acknowledged', acknowledged_at = %s, "
                "acknowledged_by = %s WHERE id = %s AND state = 'open' RETURNING *",
                (now, actor, alarm_id),
            ),
            "assign": (
                "UPDATE alarms SET assigned_to = %s WHERE id = %s AND state <> 'resolved' "
                "RETURNING *",
                (assigned_to, alarm_id),
            ),
            "resolve": (
                "UPDATE alarms SET state = 'resolved', resolved_at = %s, resolved_by = %s, "
                "resolution = %s, acknowledged_at = coalesce(acknowledged_at, %s), "
                "acknowledged_by = coalesce(acknowledged_by, %s) "
                "WHERE id = %s AND state <> 'resolved' RETURNING *",
                (now, actor, note, now, actor, alarm_id),
            ),
            "comment": ("SELECT * FROM alarms WHERE id = %s", (alarm_id,)),
        }
        query, params = updates[action]
        with self.transaction() as tx:
            rows = tx.fetch(query, params)
            if not rows:
                current = tx.fetch("SELECT state FROM alarms WHERE id = %s", (alarm_id,))
                if not current:
                    raise KeyError(f"no alarm {alarm_id}")
                raise ValueError(f"cannot {action} alarm {alarm_id}: it is {current[0]['state']}")
            tx.execute(
                "INSERT INTO alarm_actions (alarm_id, ts, actor, action, note, assigned_to) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (alarm_id, now, actor, action, note, assigned_to),
            )
            # The audit trail gets the same action in the same transaction, whoever the caller.
            tx.execute(
                "INSERT INTO audit_log (ts, actor, action, target, province, details) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    now,
                    actor,
                    f"alarm_{action}",
                    f"alarm:{alarm_id}",
                    rows[0]["province"],
                    self._to_db(
                        {
                            "province": rows[0]["province"],
                            "state": rows[0]["state"],
                            "note": note,
                            "assigned_to": assigned_to,
                        }
                    ),
                ),
            )
        return _record(Alarm, self._from_db(rows[0]))

    def alarms(
        self,
        *,
        province: str | None = None,
        states: Sequence[str] = ("open", "acknowledged"),
        limit: int = 200,
    ) -> list[Alarm]:
        """Alarms in the given states, newest first."""
        placeholders = ", ".join(["%s"] * len(states))
        query = f"SELECT * FROM alarms WHERE state IN ({placeholders})"  # noqa: S608
        params: list[Any] = list(states)
        if province is not None:
            query += " AND province = %s"
            params.append(province)
        rows = self._rows(query + " ORDER BY opened_at DESC, id DESC LIMIT %s", [*params, limit])
        return [_record(Alarm, r) for r in rows]

    def get_alarm(self, alarm_id: int) -> Alarm | None:
        """One alarm by id."""
        rows = self._rows("SELECT * FROM alarms WHERE id = %s", (alarm_id,))
        return _record(Alarm, rows[0]) if rows else None

    def alarm_actions(self, alarm_id: int) -> list[AlarmAction]:
        """The action log of one alarm, oldest first."""
        rows = self._rows(
            "SELECT * FROM alarm_actions WHERE alarm_id = %s ORDER BY id", (alarm_id,)
        )
        return [_record(AlarmAction, r) for r in rows]

    # --- users and audit --------------------------------------------------------------

    def add_user(
        self, username: str, password_hash: str, role: str, province: str | None = None
    ) -> User:
        """Create an account; raises ValueError if the name is taken or the role unknown."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if self.get_user(username) is not None:
            raise ValueError(f"user {username!r} already exists")
        now = self._to_db(datetime.now(UTC))
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO users (username, password_hash, role, province, disabled, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (username, password_hash, role, province, False, now, now),
            )
        user = self.get_user(username)
        assert user is not None
        return user

    def get_user(self, username: str) -> User | None:
        """One account by name."""
        rows = self._rows("SELECT * FROM users WHERE username = %s", (username,))
        return _record(User, rows[0]) if rows else None

    def list_users(self) -> list[User]:
        """All accounts by name."""
        return [_record(User, r) for r in self._rows("SELECT * FROM users ORDER BY username")]

    def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        disabled: bool | None = None,
        role: str | None = None,
        province: str | None = None,
        national: bool = False,
    ) -> User:
        """Change a password hash, the disabled flag, the role or the province scope.

        Any change ends every web session of the user in the same transaction: a new
        password, a disable or a narrower role must not leave an old cookie working.
        """
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if national and province is not None:
            raise ValueError("a user is either national or scoped to one province")
        with self.transaction() as tx:
            n = tx.execute(
                "UPDATE users SET password_hash = coalesce(%s, password_hash), "
                "disabled = coalesce(%s, disabled), role = coalesce(%s, role), "
                "province = CASE WHEN %s THEN NULL ELSE coalesce(%s, province) END, "
                "updated_at = %s WHERE username = %s",
                (
                    password_hash,
                    disabled,
                    role,
                    national,
                    province,
                    self._to_db(datetime.now(UTC)),
                    username,
                ),
            )
            if n:
                tx.execute("DELETE FROM web_sessions WHERE username = %s", (username,))
        if n == 0:
            raise KeyError(f"no user {username!r}")
        user = self.get_user(username)
        assert user is not None
        return user

    def append_audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        details: dict | None = None,
        *,
        province: str | None = None,
    ) -> int:
        """Append one audit record about a province (None: national) and return its id."""
        with self.transaction() as tx:
            rows = tx.fetch(
                "INSERT INTO audit_log (ts, actor, action, target, province, details) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    self._to_db(datetime.now(UTC)),
                    actor,
                    action,
                    target,
                    province,
                    self._to_db(details or {}),
                ),
            )
        return int(rows[0]["id"])

    def audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        province: str | None = None,
        limit: int = 500,
    ) -> list[AuditEntry]:
        """Audit records, newest first, filtered; province keeps only rows about that province."""
        where, params = where_clause(
            (
                ("actor = %s", actor),
                ("action = %s", action),
                ("ts >= %s", since),
                ("province = %s", province),
            )
        )
        query = f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT %s"  # noqa: S608
        rows = self._rows(query, [*params, limit])
        return [_record(AuditEntry, r) for r in rows]

    # --- ingest health ------------------------------------------------------------------

    def heartbeat(self, health: WorkerHealth) -> None:
        """Record an ingest worker's counters (one row per worker, overwritten)."""
        cols = [f.name for f in fields(WorkerHealth)]
        values = [self._to_db(getattr(health, c)) for c in cols]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        with self.transaction() as tx:
            tx.execute(
                f"INSERT INTO ingest_workers ({', '.join(cols)}) "  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(cols))}) "
                f"ON CONFLICT (worker_id) DO UPDATE SET {updates}",
                values,
            )

    def workers(self, *, stale_after: timedelta | None = None) -> list[WorkerHealth]:
        """Reported ingest workers, optionally only those seen recently."""
        query, params = "SELECT * FROM ingest_workers", []
        if stale_after is not None:
            query += " WHERE heartbeat_at >= %s"
            params.append(datetime.now(UTC) - stale_after)
        return [_record(WorkerHealth, r) for r in self._rows(query + " ORDER BY worker_id", params)]

    def newest_event_ts(self, *, province: str | None = None) -> datetime | None:
        """Time of the newest stored event (of one province), for the freshness indicator."""
        if province is None:
            rows = self._rows("SELECT max(ts) AS ts FROM events")
        else:
            rows = self._rows("SELECT max(ts) AS ts FROM events WHERE province = %s", (province,))
        return rows[0]["ts"] if rows else None

    def table_counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        names = (
            "events",
            "rollup_hourly",
            "rollup_daily_ward",
            "devices",
            "alarms",
            "alarm_actions",
            "users",
            "audit_log",
            "dead_letters",
            "ingest_workers",
        )
        out = {}
        with self.transaction() as tx:
            for name in names:  # fixed names from the list above, not input
                out[name] = int(tx.fetch(f"SELECT count(*) AS n FROM {name}")[0]["n"])  # noqa: S608
        return out

    # --- dashboard queries ------------------------------------------------------------

    def find_events(
        self,
        *,
        province: str | None = None,
        ward: str | None = None,
        domain: str | None = None,
        source: str | None = None,
        kinds: Sequence[str] | None = None,
        exclude_kinds: Sequence[str] = (),
        min_severity: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        oldest_first: bool = False,
    ) -> list[Event]:
        """Events filtered by place, source, kinds and time; newest first unless oldest_first."""
        where, params = self._where(
            province=province,
            ward=ward,
            domain=domain,
            min_severity=min_severity,
            since=since,
            until=until,
        )
        clauses = [where.removeprefix(" WHERE ")] if where else []
        if source is not None:
            clauses.append("source = %s")
            params.append(source)
        if kinds is not None:
            if not kinds:
                return []
            clauses.append(f"kind IN ({', '.join(['%s'] * len(kinds))})")
            params.extend(kinds)
        if exclude_kinds:
            clauses.append(f"kind NOT IN ({', '.join(['%s'] * len(exclude_kinds))})")
            params.extend(exclude_kinds)
        order = "ASC" if oldest_first else "DESC"
        query = (
            "SELECT * FROM events"  # noqa: S608 - fixed clauses, values are parameters
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" ORDER BY ts {order}, id LIMIT %s"
        )
        with self.transaction() as tx:
            rows = tx.fetch(query, [self._to_db(p) for p in params] + [int(limit)])
        return [self._event(r) for r in rows]

    def event_counts_by_ward(
        self,
        *,
        since: datetime,
        province: str | None = None,
        domain: str | None = None,
        min_severity: int = 0,
        exclude_kinds: Sequence[str] = (),
    ) -> list[tuple[str, str | None, int, int]]:
        """(province, ward, events, highest severity) since a time, for map aggregation."""
        where, params = self._where(
            province=province, domain=domain, min_severity=min_severity, since=since
        )
        if exclude_kinds:
            where += f" AND kind NOT IN ({', '.join(['%s'] * len(exclude_kinds))})"
            params.extend(exclude_kinds)
        rows = self._rows(
            "SELECT province, ward, count(*) AS n, max(severity) AS top FROM events"  # noqa: S608
            + where
            + " GROUP BY province, ward ORDER BY province, ward",
            params,
        )
        return [(r["province"], r["ward"], int(r["n"]), int(r["top"])) for r in rows]

    def events_per_minute(
        self,
        *,
        minutes: int = 15,
        province: str | None = None,
        now: datetime | None = None,
    ) -> list[tuple[datetime, str, int]]:
        """(minute start UTC, kind, events) for the last `minutes` minutes, the current one included."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        current = now.replace(second=0, microsecond=0)
        starts = [current - timedelta(minutes=i) for i in range(max(1, int(minutes)))]
        # One range scan; the CASE numbers each row's minute, portable across both dialects.
        case = " ".join("WHEN ts >= %s THEN " + str(i) for i in range(len(starts)))
        params: list[Any] = [*starts, starts[-1]]
        query = f"SELECT CASE {case} END AS m, kind, count(*) AS n FROM events WHERE ts >= %s"  # noqa: S608
        if province is not None:
            query += " AND province = %s"
            params.append(province)
        rows = self._rows(query + " GROUP BY 1, 2 ORDER BY 1 DESC, 2", params)
        return [(starts[int(r["m"])], r["kind"], int(r["n"])) for r in rows]

    def latest_per_source(
        self,
        sources: Sequence[str],
        *,
        kinds: Sequence[str],
        since: datetime | None = None,
        per_source: int = 1,
    ) -> dict[str, list[Event]]:
        """The newest events of the given kinds for each source, e.g. each camera's snapshots."""
        out: dict[str, list[Event]] = {}
        if not sources or not kinds:
            return out
        query = (
            "SELECT * FROM events WHERE source = %s "  # noqa: S608 - placeholders only
            f"AND kind IN ({', '.join(['%s'] * len(kinds))})"
            + (" AND ts >= %s" if since is not None else "")
            + " ORDER BY ts DESC, id LIMIT %s"
        )
        tail = ([self._to_db(since)] if since is not None else []) + [int(per_source)]
        # One transaction, one indexed (source, ts) probe per source.
        with self.transaction() as tx:
            for source in sources:
                rows = tx.fetch(query, [source, *kinds, *tail])
                if rows:
                    out[source] = [self._event(r) for r in rows]
        return out

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
