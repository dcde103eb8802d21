"""The archive of dropped events: one Parquet file per kind and UTC day.

<data_dir>/archive/<kind>/<YYYY-MM-DD>.parquet holds the event rows as the store had them
(attrs as JSON text). A file is written to a temporary name and renamed, so a reader sees
a whole file or none; writing a day again merges with what the file holds (by id and ts),
so a run interrupted between archiving and deleting repeats harmlessly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
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


def archive_path(root: Path, kind: str, day: date) -> Path:
    """Where the events of kind on day are archived."""
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


def write_day(path: Path, rows: Sequence[dict[str, Any]]) -> int:
    """Archive rows (store rows: id, ts, ..., attrs) into path, merged with its rows; total rows."""
    table = _table(rows)
    try:
        if path.exists():
            old = pq.read_table(path, schema=SCHEMA)
            keys = {
                (i, t) for i, t in zip(old["id"].to_pylist(), old["ts"].to_pylist(), strict=True)
            }
            fresh = [
                k not in keys
                for k in zip(table["id"].to_pylist(), table["ts"].to_pylist(), strict=True)
            ]
            table = pa.concat_tables([old, table.filter(pa.array(fresh, pa.bool_()))])
        table = table.sort_by([("ts", "ascending"), ("id", "ascending")])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"cannot archive to {path}: {exc}") from exc
    return table.num_rows


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
