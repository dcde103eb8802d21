"""Retention: plan what the policy drops, archive it to Parquet, then drop it.

Only the events table is touched; KPI state (kpi_*), alarms, audit and users are not. Days
older than every kind's retention go whole (TimescaleDB: drop_chunks on the one-day chunks;
SQLite: DELETE); younger days lose only the kinds with a shorter retention, by DELETE in
hourly batches. Each delete checks that it removes exactly the rows it archived, so an event
arriving late for an old day is never dropped unarchived: it waits for the next run.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ioc.archive import ArchiveError, DayWriter, archive_lock, archive_path
from ioc.retention import DropUnit, RetentionPolicy, RetentionReport, day_start
from ioc.store.core import StoreCore, Tx

logger = logging.getLogger(__name__)

# Rows of one kind and day read at once; bigger days are read an hour at a time.
ROWS_PER_READ = 50_000
_ARCHIVED = "id, ts, source, kind, severity, province, ward, lat, lon, attrs, received_at"


def _aware(value: Any) -> datetime:
    # SQLite hands aggregates of ts back as its stored text.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class _Mismatch(Exception):
    """A delete would remove other rows than those archived; rolled back."""


class Retention(StoreCore):
    """retention_plan, apply_retention and the on-disk size of events."""

    # --- dialect (sqlite.py, postgres.py) ------------------------------------------------

    @abstractmethod
    def _utc_day(self, column: str) -> str:
        """SQL for the UTC date of a timestamp column as 'YYYY-MM-DD' text."""

    @abstractmethod
    def _chunks_before(self, tx: Tx, before: datetime) -> list[str] | None:
        """Names of the events chunks wholly before `before`; None when events has no chunks."""

    @abstractmethod
    def _drop_days_before(self, tx: Tx, before: datetime) -> int:
        """Drop every event before `before` (a UTC midnight); rows or chunks dropped."""

    @abstractmethod
    def _lock_events_for_drop(self, tx: Tx) -> None:
        """Keep writers out of events until the transaction ends."""

    @abstractmethod
    def events_storage(self) -> dict[str, int]:
        """Bytes on disk of the events table and of its indexes, and its row count."""

    # --- plan ------------------------------------------------------------------------------

    def retention_plan(
        self, policy: RetentionPolicy, now: datetime | None = None
    ) -> RetentionReport:
        """What apply_retention would drop now: per kind and UTC day, rows and time range."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        report = RetentionReport(policy=policy.describe(), now=now)
        kinds = {*policy.per_kind, None}
        latest = max(policy.cutoff(k, now) for k in kinds)
        whole = policy.cutoff(None, now)
        day = self._utc_day("ts")
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                f"SELECT kind, {day} AS day, count(*) AS n, min(ts) AS first_ts, "  # noqa: S608
                f"max(ts) AS last_ts FROM events WHERE ts < %s GROUP BY kind, {day} "
                "ORDER BY day, kind",
                (self._to_db(latest),),
            )
            chunks = self._chunks_before(tx, whole)
        for r in rows:
            r = self._from_db(r)
            d = self._day_value(r["day"])
            if day_start(d) >= policy.cutoff(r["kind"], now):
                continue
            how = "chunk" if chunks is not None and day_start(d) < whole else "delete"
            first, last = _aware(r["first_ts"]), _aware(r["last_ts"])
            report.units.append(DropUnit(r["kind"], d, int(r["n"]), first, last, how))
        report.chunks = chunks or []
        return report

    # --- apply -----------------------------------------------------------------------------

    def apply_retention(
        self, policy: RetentionPolicy, archive_dir: Path, now: datetime | None = None
    ) -> RetentionReport:
        """Archive what the plan drops to Parquet under archive_dir, then drop it.

        A unit whose archive cannot be written is not dropped; the report lists it as skipped.
        Running again is harmless: archives merge, and nothing already dropped is planned.
        Raises ArchiveBusy while another run holds the archive.
        """
        with archive_lock(archive_dir):
            return self._apply(policy, archive_dir, now)

    def _apply(
        self, policy: RetentionPolicy, archive_dir: Path, now: datetime | None
    ) -> RetentionReport:
        report = self.retention_plan(policy, now)
        report.applied = True
        whole = policy.cutoff(None, report.now)
        chunk_rows = 0
        chunks_ok = True
        for unit in report.units:
            try:
                hours = self._archive_unit(unit, archive_dir, report)
            except ArchiveError as exc:
                logger.error("retention: %s %s not dropped: %s", unit.kind, unit.day, exc)
                report.skipped.append(f"{unit.kind} {unit.day}: {exc}")
                chunks_ok = chunks_ok and unit.how != "chunk"
                continue
            if unit.how == "chunk":
                chunk_rows += sum(hours.values())
            else:
                report.dropped += self._delete_unit(unit, hours, report)
        if any(u.how == "chunk" for u in report.units):
            if chunks_ok:
                report.dropped += self._drop_whole_days(whole, chunk_rows, report)
            else:
                report.skipped.append(f"chunks before {whole.date()}: an archive failed")
        return report

    def _unit_range(self, unit: DropUnit) -> tuple[datetime, datetime]:
        start = day_start(unit.day)
        return start, start + timedelta(days=1)

    def _archive_unit(
        self, unit: DropUnit, archive_dir: Path, report: RetentionReport
    ) -> Counter[int]:
        """Write the unit's rows to its Parquet file; rows per UTC hour archived.

        A big day is read an hour at a time, so memory holds one hour of one kind.
        """
        start, end = self._unit_range(unit)
        step = end - start if unit.rows <= ROWS_PER_READ else timedelta(hours=1)
        path = archive_path(archive_dir, unit.kind, unit.day)
        writer = DayWriter(path)
        hours: Counter[int] = Counter()
        try:
            lo = start
            while lo < end:
                rows = self._rows(
                    f"SELECT {_ARCHIVED} FROM events WHERE kind = %s AND ts >= %s "  # noqa: S608
                    "AND ts < %s ORDER BY ts, id",
                    (unit.kind, lo, lo + step),
                )
                if rows:
                    writer.write(rows)
                    hours.update(r["ts"].astimezone(UTC).hour for r in rows)
                lo += step
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        report.archived.append(str(path))
        return hours

    def _delete_unit(self, unit: DropUnit, hours: Counter[int], report: RetentionReport) -> int:
        """Delete the unit hour by hour, each batch only if it removes exactly what was archived."""
        start, _ = self._unit_range(unit)
        dropped = 0
        for hour in sorted(hours):
            # Hours with nothing archived are left alone: a late event there waits for the next run.
            lo = start + timedelta(hours=hour)
            try:
                with self.transaction() as tx:
                    gone = tx.fetch(
                        "DELETE FROM events WHERE kind = %s AND ts >= %s AND ts < %s RETURNING id",
                        (unit.kind, self._to_db(lo), self._to_db(lo + timedelta(hours=1))),
                    )
                    if len(gone) != hours.get(hour, 0):
                        raise _Mismatch(f"{len(gone)} rows, {hours.get(hour, 0)} archived")
            except _Mismatch as exc:
                # An event arrived for this hour after the archive: the next run takes both.
                report.skipped.append(f"{unit.kind} {lo:%Y-%m-%d %H}h: {exc}")
                continue
            dropped += len(gone)
        return dropped

    def _drop_whole_days(self, before: datetime, archived: int, report: RetentionReport) -> int:
        """Drop everything before `before` if it is exactly the rows archived."""
        try:
            with self.transaction() as tx:
                self._lock_events_for_drop(tx)
                n = int(
                    tx.fetch(
                        "SELECT count(*) AS n FROM events WHERE ts < %s", (self._to_db(before),)
                    )[0]["n"]
                )
                if n != archived:
                    raise _Mismatch(f"{n} rows, {archived} archived")
                self._drop_days_before(tx, before)
        except _Mismatch as exc:
            report.skipped.append(f"days before {before.date()}: {exc}")
            return 0
        return n


def units_by_kind(units: Sequence[DropUnit]) -> dict[str, dict[str, Any]]:
    """Rows, days and time range per kind of a plan."""
    out: dict[str, dict[str, Any]] = {}
    for u in units:
        k = out.setdefault(
            u.kind, {"rows": 0, "days": 0, "first_ts": u.first_ts, "last_ts": u.last_ts}
        )
        k["rows"] += u.rows
        k["days"] += 1
        k["first_ts"] = min(k["first_ts"], u.first_ts)
        k["last_ts"] = max(k["last_ts"], u.last_ts)
    return out
