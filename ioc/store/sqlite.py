"""SQLite backend: the embedded default. WAL mode, one connection per thread."""

from __future__ import annotations

import json
import queue
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ioc.events import Event
from ioc.store.base import Store
from ioc.store.core import VALUES_CHUNK, Columns, Rows, StoreError, Tx

TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f+00:00"
MAX_IDLE_CONNECTIONS = 8
TS_COLUMNS = frozenset(
    {
        "ts",
        "received_at",
        "bucket",
        "status_ts",
        "last_ts",
        "opened_at",
        "last_event_at",
        "acknowledged_at",
        "resolved_at",
        "created_at",
        "updated_at",
        "started_at",
        "heartbeat_at",
        "last_event_ts",
        "last_seen",
        "last_failure",
        "locked_until",
        "session_created",
        "session_seen",
    }
)
JSON_COLUMNS = frozenset({"attrs", "last_attrs", "details"})
BOOL_COLUMNS = frozenset({"disabled"})


def to_text(ts: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order."""
    return ts.astimezone(UTC).strftime(TS_FORMAT)


def from_text(value: str) -> datetime:
    """Parse what to_text wrote (or SQLite's own default timestamps)."""
    return datetime.fromisoformat(value).astimezone(UTC)


class _SqliteTx:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self.cur = cur

    def fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cur.execute(query.replace("%s", "?"), tuple(params))
        if self.cur.description is None:
            return []
        names = [d[0] for d in self.cur.description]
        return [dict(zip(names, row, strict=True)) for row in self.cur.fetchall()]

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(query.replace("%s", "?"), tuple(params))
        return self.cur.rowcount

    def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cur.executemany(query.replace("%s", "?"), rows)


class SqliteStore(Store):
    """Store in one SQLite file."""

    dialect = "sqlite"
    backend = "sqlite"
    # Connections are pooled per thread and reads are fast in sequence: no gain in parallel.
    parallel_reads = False

    def __init__(self, url: str) -> None:
        self.url = url
        if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
            raise ValueError(
                "sqlite URL needs a file path: sqlite:///relative.db or sqlite:////abs.db"
            )
        self.path = Path(url.removeprefix("sqlite:///"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A small pool rather than one connection per thread: web servers start a thread
        # per request, and per-thread connections would never be closed.
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only a power cut may lose
            # the last commits, which the broker then redelivers (acks follow commits).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        return conn

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        if self._closed or self._idle.qsize() >= MAX_IDLE_CONNECTIONS:
            conn.close()
        else:
            self._idle.put(conn)

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Tx]:
        conn = self._acquire()
        cur = conn.cursor()
        try:
            # Reads take no write lock, so dashboards never queue behind the ingest writer.
            cur.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
            yield _SqliteTx(cur)
            cur.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"SQLite: {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            cur.close()
            self._release(conn)

    def _run_script(self, tx: Tx, script: str) -> None:
        # executescript would COMMIT first; run statement by statement inside our transaction.
        assert isinstance(tx, _SqliteTx)
        buf = ""
        for line in script.splitlines(keepends=True):
            buf += line
            if sqlite3.complete_statement(buf):
                tx.cur.execute(buf)
                buf = ""
        if buf.strip() and not all(
            ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()
        ):
            raise ValueError(f"incomplete statement at end of migration: {buf[:80]!r}")

    def _has_table(self, tx: Tx, name: str) -> bool:
        rows = tx.fetch("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", (name,))
        return bool(rows)

    def _to_db(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return to_text(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return value

    def _from_db(self, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key, value in row.items():
            if value is None:
                continue
            if key in TS_COLUMNS:
                # Daily rollups keep a date ('YYYY-MM-DD'), like PostgreSQL's date column.
                out[key] = date.fromisoformat(value) if len(value) == 10 else from_text(value)
            elif key in JSON_COLUMNS:
                out[key] = json.loads(value)
            elif key in BOOL_COLUMNS:
                out[key] = bool(value)
        return out

    def _bulk_insert_events(self, tx: Tx, events: Sequence[Event]) -> list[Event]:
        assert isinstance(tx, _SqliteTx)
        # Multi-row INSERTs; RETURNING tells exactly which rows were new, so rollups count
        # each event once. The batch keeps its order.
        rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        for e in events:
            ts = to_text(e.ts)
            if (e.id, ts) not in rows:
                rows[(e.id, ts)] = (
                    e.id,
                    ts,
                    e.source,
                    e.kind,
                    e.severity,
                    e.province,
                    e.ward,
                    e.lat,
                    e.lon,
                    json.dumps(e.attrs, ensure_ascii=False, separators=(",", ":")),
                )
        unique = list(rows.values())
        new: set[tuple[str, str]] = set()
        for i in range(0, len(unique), VALUES_CHUNK):
            chunk = unique[i : i + VALUES_CHUNK]
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            tx.cur.execute(
                "INSERT INTO events (id, ts, source, kind, severity, province, ward, lat, lon, "  # noqa: S608
                f"attrs) VALUES {values} ON CONFLICT (id, ts) DO NOTHING RETURNING id, ts",
                [v for row in chunk for v in row],
            )
            new.update((r[0], r[1]) for r in tx.cur.fetchall())
        inserted = []
        for e in events:
            key = (e.id, to_text(e.ts))
            if key in new:
                new.discard(key)  # a repeat within the batch is not new twice
                inserted.append(e)
        return inserted

    def server_pids(self) -> list[int]:
        """None: SQLite runs inside the processes that open it."""
        return []

    # --- dialect fragments ----------------------------------------------------------------

    def _serialise(self, tx: Tx, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already serialises writers."""

    def _prepare_sort(self, tx: Tx) -> None:
        """Nothing to tune."""

    def _epoch(self, column: str) -> str:
        # Whole seconds (rounded) plus the text's fixed-width fraction: julianday() alone
        # blurs by tens of microseconds, enough to move a duration across an SLA boundary.
        return (
            f"(round((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400.0) "
            f"+ CAST(substr({column}, 20, 7) AS REAL))"
        )

    def _floor(self, expr: str) -> str:
        return f"CAST({expr} AS INTEGER)"

    def _insert_rows(self, tx: Tx, table: str, columns: Columns, rows: Rows, tail: str = "") -> Any:
        # Multi-row VALUES in chunks, under SQLite's bound-parameter limit.
        if not rows:
            return []
        names = ", ".join(c for c, _ in columns)
        out: list[dict[str, Any]] = []
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        # Rollup rows share few distinct hours and days: adapt each once.
        cache: dict[Any, Any] = {}

        def conv(v: Any) -> Any:
            if isinstance(v, date):
                if v not in cache:
                    cache[v] = self._to_db(v)
                return cache[v]
            return v

        for i in range(0, len(rows), VALUES_CHUNK):
            chunk = rows[i : i + VALUES_CHUNK]
            params = [conv(v) for row in chunk for v in row]
            values = ", ".join([one] * len(chunk))
            query = f"INSERT INTO {table} ({names}) VALUES {values} {tail}"  # noqa: S608
            out.extend(tx.fetch(query, params))
        return out

    def _values_source(self, columns: Columns, rows: Rows) -> tuple[str, list[Any]]:
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        return "VALUES " + ", ".join([one] * len(rows)), [v for row in rows for v in row]

    def _grouped_medians(
        self, facts: str, counts: str, names: dict[str, str], wanted: Collection[str]
    ) -> str:
        # SQLite has no percentile_cont: the middle row by row_number, or the mean of the
        # two middle rows, which is what percentile_cont(0.5) returns too.
        # Every fragment is fixed text of the store; values are parameters.
        ctes = [f"a AS ({facts})", f"s AS (SELECT unit, {counts} FROM a GROUP BY unit)"]  # noqa: S608
        joins, cols = [], []
        for m, name in names.items():
            if m not in wanted:
                cols.append(f"NULL AS {name}")
                continue
            ctes.append(
                f"r_{m} AS (SELECT unit, {m}_s AS v, "  # noqa: S608
                f"row_number() OVER (PARTITION BY unit ORDER BY {m}_s) AS rn, "
                f"count(*) OVER (PARTITION BY unit) AS c FROM a WHERE {m}_s IS NOT NULL)"
            )
            ctes.append(
                f"m_{m} AS (SELECT unit, avg(v) AS m FROM r_{m} "  # noqa: S608
                "WHERE rn IN ((c + 1) / 2, (c + 2) / 2) GROUP BY unit)"
            )
            joins.append(f"LEFT JOIN m_{m} ON m_{m}.unit = s.unit")
            cols.append(f"m_{m}.m AS {name}")
        return f"WITH {', '.join(ctes)} SELECT s.*, {', '.join(cols)} FROM s " + " ".join(joins)  # noqa: S608

    def status(self) -> dict[str, Any]:
        size = self.path.stat().st_size if self.path.exists() else 0
        with self.transaction() as tx:
            mode = tx.fetch("PRAGMA journal_mode")[0]["journal_mode"]
        return {
            "backend": "sqlite",
            "url": self.url,
            "server_version": sqlite3.sqlite_version,
            "journal_mode": mode,
            "file_bytes": size,
            "schema_version": self.schema_version(),
            "latest_migration": self.migrations()[-1][0],
            "timescaledb": None,
        }

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break

    # --- retention (ioc/store/retention.py) -----------------------------------------------

    def _utc_day(self, column: str) -> str:
        # Stored text starts with the UTC date.
        return f"substr({column}, 1, 10)"

    def _chunks_before(self, tx: Tx, before: datetime) -> list[str] | None:
        return None

    def _lock_events_for_drop(self, tx: Tx) -> None:
        """BEGIN IMMEDIATE already keeps every other writer out."""

    def _drop_days_before(self, tx: Tx, before: datetime) -> int:
        return tx.execute("DELETE FROM events WHERE ts < %s", (to_text(before),))

    def events_storage(self) -> dict[str, int]:
        with self.transaction(readonly=True) as tx:
            sizes = tx.fetch(
                "SELECT m.type AS type, sum(d.pgsize) AS bytes FROM dbstat AS d "
                "JOIN sqlite_master AS m ON m.name = d.name WHERE m.tbl_name = 'events' "
                "GROUP BY m.type"
            )
            rows = int(tx.fetch("SELECT count(*) AS n FROM events")[0]["n"])
        by = {r["type"]: int(r["bytes"] or 0) for r in sizes}
        table, indexes = by.get("table", 0), by.get("index", 0)
        return {
            "rows": rows,
            "table_bytes": table,
            "index_bytes": indexes,
            "total_bytes": table + indexes,
        }
