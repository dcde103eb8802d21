"""The archive of dropped events: one Parquet file per kind and UTC day.

<data_dir>/archive/<kind>/<YYYY-MM-DD>.parquet holds the event rows as the store had them
(attrs as JSON text). A file is written to a temporary name and renamed, so a reader sees
a whole file or none; writing a day again merges with what the file holds (by id and ts),
so a run interrupted between archiving and deleting repeats harmlessly.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ("id", "ts", "source", "kind", "severity", "province", "ward", "lat", "lon", "attrs")
SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("severity", pa.int16(), nullable=False),
        pa.field("province", pa.string(), nullable=False),
        pa.field("ward", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("attrs", pa.string(), nullable=False),  # JSON text
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


class ArchiveError(Exception):
    """An archive file could not be written or read; nothing was deleted for it."""


class ArchiveBusy(ArchiveError):
    """Another retention run holds the archive; this one does nothing."""


@contextmanager
def archive_lock(root: Path) -> Iterator[None]:
    """Hold root/.lock: one retention run at a time per archive (the ingest job, the CLI)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        f = open(root / ".lock", "a+b")
    except OSError as exc:
        raise ArchiveError(f"cannot open the archive {root}: {exc}") from exc
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveBusy(f"another retention run is using {root}") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


_KIND = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


def archive_path(root: Path, kind: str, day: date) -> Path:
    """Where the events of kind on day are archived.

    The kind comes from stored rows: it names a folder only if it has the shape of an
    event kind (ingest accepts known kinds only; this holds for rows written otherwise).
    """
    if not _KIND.fullmatch(kind):
        raise ValueError(f"not an event kind, refused as an archive folder: {kind!r}")
    return root / kind / f"{day.isoformat()}.parquet"


def _table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    cols: dict[str, list[Any]] = {f.name: [] for f in SCHEMA}
    for r in rows:
        for name in cols:
            value = r.get(name)
            if name == "attrs" and not isinstance(value, str):
                value = json.dumps(value or {}, ensure_ascii=False, separators=(",", ":"))
            cols[name].append(value)
    return pa.table(cols, schema=SCHEMA)


class DayWriter:
    """Writes one archive file batch by batch; commit() puts it in place, abort() drops it.

    Batches must come in (ts, id) order. An existing file is merged: its rows are kept, new
    rows with the same (id, ts) are skipped, and the whole is sorted again (only then is the
    day held in memory: after an interrupted run or for events that arrived late).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self._merged: list[pa.Table] = []
        self._keys: set[tuple[Any, Any]] | None = None
        try:
            if path.exists():
                old = pq.read_table(path, schema=SCHEMA)
                self._merged.append(old)
                self._keys = set(zip(old["id"].to_pylist(), old["ts"].to_pylist(), strict=True))
            path.parent.mkdir(parents=True, exist_ok=True)
        except (OSError, pa.ArrowException) as exc:
            raise ArchiveError(f"cannot archive to {path}: {exc}") from exc

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows (store rows: id, ts, ..., attrs)."""
        table = _table(rows)
        try:
            if self._keys is not None:
                keys = zip(table["id"].to_pylist(), table["ts"].to_pylist(), strict=True)
                fresh = pa.array([k not in self._keys for k in keys], pa.bool_())
                self._merged.append(table.filter(fresh))
                return
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, SCHEMA, compression="zstd")
            self._writer.write_table(table)
        except (OSError, pa.ArrowException) as exc:
            self.abort()
            raise ArchiveError(f"cannot archive to {self.path}: {exc}") from exc

    def commit(self) -> int:
        """Close, fsync and rename into place; the rows the file now holds."""
        try:
            if self._merged:
                table = pa.concat_tables(self._merged).sort_by(
                    [("ts", "ascending"), ("id", "ascending")]
                )
                pq.write_table(table, self.tmp, compression="zstd")
            elif self._writer is None:
                pq.write_table(SCHEMA.empty_table(), self.tmp, compression="zstd")
            else:
                self._writer.close()
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
            return pq.ParquetFile(self.path).metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            self.abort()
            raise ArchiveError(f"cannot archive to {self.path}: {exc}") from exc

    def abort(self) -> None:
        """Forget what was written; the file in place (if any) is unchanged."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
            self._writer = None
        self.tmp.unlink(missing_ok=True)


def write_day(path: Path, rows: Sequence[dict[str, Any]]) -> int:
    """Archive rows in (ts, id) order into path, merged with its rows; total rows."""
    writer = DayWriter(path)
    writer.write(rows)
    return writer.commit()


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The archived rows of a file in time order, attrs decoded, ts as aware UTC datetimes."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"cannot read archive {path}: {exc}") from exc
    for batch in table.to_batches():
        for r in batch.to_pylist():
            r["attrs"] = json.loads(r["attrs"]) if r.get("attrs") else {}
            for name in ("ts", "received_at"):
                if isinstance(r.get(name), datetime):
                    r[name] = r[name].astimezone(UTC)
            yield r


def count_rows(paths: Iterable[Path]) -> int:
    """Rows in archive files (from their footers)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
