"""PostgreSQL/TimescaleDB backend: psycopg 3 with a pool, binary COPY for ingest."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic_core import PydanticSerializationError, to_json

from ioc.events import Event
from ioc.facts import LOCAL_OFFSET_S
from ioc.store.base import Store
from ioc.store.core import Columns, Rows, StoreError, Tx
from ioc.store.kpi_state import FACT_GRAINS, upsert_add

logger = logging.getLogger(__name__)

# Same result as Write._apply_device_state (the newest event per source), computed by the
# server from exactly the rows inserted.
_INSERT_AND_DERIVE = sql.SQL(
    "WITH ins AS ("
    " INSERT INTO events ({cols}) SELECT {cols} FROM events_staging ON CONFLICT DO NOTHING"
    " RETURNING id, ts, source, kind, severity, province, ward, lat, lon, attrs"
    "), latest AS ("
    " INSERT INTO devices (source, province, ward, domain, lat, lon, last_ts, last_kind,"
    " last_severity, last_event_id, last_attrs)"
    " SELECT DISTINCT ON (source) source, province, ward, split_part(kind, '.', 1), lat, lon,"
    " ts, kind, severity, id, attrs FROM ins ORDER BY source, ts DESC"
    " ON CONFLICT (source) DO UPDATE SET province = excluded.province,"
    " ward = coalesce(excluded.ward, devices.ward), domain = excluded.domain,"
    " lat = coalesce(excluded.lat, devices.lat), lon = coalesce(excluded.lon, devices.lon),"
    " last_ts = excluded.last_ts, last_kind = excluded.last_kind,"
    " last_severity = excluded.last_severity, last_event_id = excluded.last_event_id,"
    " last_attrs = excluded.last_attrs"
    " WHERE devices.last_ts IS NULL OR devices.last_ts < excluded.last_ts"
    ") SELECT id, ts FROM ins"
)

EVENT_COLUMNS = (
    "id",
    "ts",
    "source",
    "kind",
    "severity",
    "province",
    "ward",
    "lat",
    "lon",
    "attrs",
)
EVENT_TYPES = (
    "text",
    "timestamptz",
    "text",
    "text",
    "int2",
    "text",
    "text",
    "float8",
    "float8",
    "jsonb",
)


def _attrs_json(attrs: dict[str, Any]) -> bytes | str:
    """JSON of validated attrs for jsonb: pydantic-core's serialiser (~0.6 us) rather than
    json.dumps (~3 us). A string it cannot encode (a lone surrogate) goes json.dumps' way,
    so PostgreSQL refuses it exactly as before and the writer dead-letters that event."""
    try:
        return to_json(attrs)
    except PydanticSerializationError:
        return json.dumps(attrs)


class _PgTx:
    def __init__(self, cur: psycopg.Cursor) -> None:
        self.cur = cur

    def fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cur.execute(sql.SQL(query), params)  # type: ignore[arg-type]
        return list(self.cur.fetchall()) if self.cur.description else []

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(sql.SQL(query), params)  # type: ignore[arg-type]
        return self.cur.rowcount

    def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.cur.executemany(sql.SQL(query), rows)  # type: ignore[arg-type]


def _configure(conn: psycopg.Connection) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PostgresStore(Store):
    """Store in PostgreSQL, using TimescaleDB hypertables when the server has them."""

    dialect = "postgres"
    backend = "postgres"
    # Pooled server connections: independent reads gain from running concurrently.
    parallel_reads = True

    def __init__(self, url: str, *, max_size: int = 8, timeout: float = 10.0) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)
        self.timeout = timeout
        self.pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "connect_timeout": 5},
            configure=_configure,
            check=ConnectionPool.check_connection,
            open=False,
            name="ioc-store",
        )
        self.pool.open(wait=False)

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Tx]:
        try:
            with self.pool.connection(timeout=self.timeout) as conn, conn.transaction():
                with conn.cursor() as cur:
                    yield _PgTx(cur)
        except PoolTimeout as exc:
            raise StoreError(f"PostgreSQL unreachable at {self._safe_url()}: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def server_pids(self) -> list[int]:
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        return [int(r["pid"]) for r in rows]

    def _safe_url(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        info.pop("password", None)
        return psycopg.conninfo.make_conninfo(**info)

    def _run_script(self, tx: Tx, script: str) -> None:
        assert isinstance(tx, _PgTx)
        # Migration files are trusted code shipped with the package, not input.
        tx.cur.execute(script.encode())

    def _has_table(self, tx: Tx, name: str) -> bool:
        return bool(tx.fetch("SELECT to_regclass(%s) IS NOT NULL AS ok", (name,))[0]["ok"])

    def _to_db(self, value: Any) -> Any:
        return Jsonb(value) if isinstance(value, dict) else value

    def _from_db(self, row: dict[str, Any]) -> dict[str, Any]:
        return row

    def _bulk_insert_events(self, tx: Tx, events: Sequence[Event]) -> list[Event]:
        assert isinstance(tx, _PgTx)
        cur = tx.cur
        by_key: dict[tuple[str, Any], Event] = {}
        for e in events:
            by_key.setdefault((e.id, e.ts), e)
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS events_staging "
            "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cols = sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS))
        with cur.copy(
            sql.SQL("COPY events_staging ({}) FROM STDIN (FORMAT BINARY)").format(cols)
        ) as copy:
            copy.set_types(list(EVENT_TYPES))
            for e in by_key.values():
                copy.write_row(
                    (
                        e.id,
                        e.ts,
                        e.source,
                        e.kind,
                        e.severity,
                        e.province,
                        e.ward,
                        e.lat,
                        e.lon,
                        Jsonb(e.attrs, dumps=_attrs_json),
                    )
                )
        # One statement inserts the new events and, from exactly those rows, updates the
        # latest state per device: Python never sends those rows one by one
        # (executemany cost ~20 us of client CPU per row, about half of a batch's).
        # Tuples, not the connection's dicts: a dict per returned row cost ~5 us of CPU.
        cur.row_factory = tuple_row
        try:
            cur.execute(_INSERT_AND_DERIVE.format(cols=cols))
            return [by_key[(r[0], r[1])] for r in cur.fetchall()]
        finally:
            cur.row_factory = dict_row

    def _apply_device_state(self, tx: Tx, latest: Sequence[Event]) -> None:
        """Done by _bulk_insert_events, in the statement that inserts the events."""

    # --- dialect fragments ----------------------------------------------------------------

    def _serialise(self, tx: Tx, key: str) -> None:
        # Held to the end of the transaction.
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    def _prepare_sort(self, tx: Tx) -> None:
        # Sorts of up to a month of alarms: keep them in memory, not on disk.
        tx.execute("SET LOCAL work_mem = '64MB'")

    def _epoch(self, column: str) -> str:
        return f"date_part('epoch', {column})"

    def _floor(self, expr: str) -> str:
        return f"floor({expr})::bigint"

    def _insert_rows(self, tx: Tx, table: str, columns: Columns, rows: Rows, tail: str = "") -> Any:
        # One statement with array parameters: a long VALUES list costs more to parse than to run.
        if not rows:
            return []
        names = ", ".join(c for c, _ in columns)
        arrays = ", ".join(f"%s::{t}[]" for _, t in columns)
        query = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}"  # noqa: S608
        return tx.fetch(query, [list(col) for col in zip(*rows, strict=True)])

    def _values_source(self, columns: Columns, rows: Rows) -> tuple[str, list[Any]]:
        arrays = ", ".join(f"%s::{t}[]" for _, t in columns)
        # Types are fixed strings of the store's modules; values are parameters.
        body = f"SELECT * FROM unnest({arrays})"  # noqa: S608
        return body, [list(col) for col in zip(*rows, strict=True)]

    def _upsert_facts(self, tx: Tx, facts: Counter[tuple[datetime, str, str, str]]) -> None:
        # One round trip and one set of arrays feed every grain of FACT_GRAINS; the server
        # groups. The local day is the UTC hour shifted by the local offset (no daylight saving).
        rows = [(*k, n) for k, n in facts.items()]
        arrays = [list(col) for col in zip(*rows, strict=True)]
        steps = []
        for table, columns, conflict in FACT_GRAINS:
            keys = ", ".join(c for c, _ in columns[:-1])
            steps.append(
                f"INSERT INTO {table} ({keys}, n) SELECT {keys}, sum(n) FROM f "  # noqa: S608
                f"GROUP BY {keys} {upsert_add(table, conflict)}"
            )
        ctes = ", ".join(f"g{i} AS ({q})" for i, q in enumerate(steps[:-1]))
        day = f"((bucket AT TIME ZONE 'UTC') + interval '{LOCAL_OFFSET_S} seconds')::date"
        arrays_in = "%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::int8[]"
        cols = "AS f(bucket, province, ward, metric, n)"
        f = f"SELECT *, {day} AS day FROM unnest({arrays_in}) {cols}"  # noqa: S608
        tx.fetch(f"WITH f AS ({f}), {ctes} {steps[-1]}", arrays)

    def _grouped_medians(
        self, facts: str, counts: str, names: dict[str, str], wanted: Collection[str]
    ) -> str:
        # An ordered-set aggregate sorts bare doubles: ~6x faster than window functions.
        cols = ", ".join(
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {m}_s) AS {name}"
            if m in wanted
            else f"NULL AS {name}"
            for m, name in names.items()
        )
        return f"SELECT unit, {counts}, {cols} FROM ({facts}) AS a GROUP BY unit"  # noqa: S608

    def replica_lag_s(self) -> float | None:
        """Seconds since the last transaction a standby replayed; None on a primary.

        An idle primary also makes this grow: read it with the newest event time.
        """
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                "SELECT CASE WHEN pg_is_in_recovery() THEN "
                "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag"
            )
        lag = rows[0]["lag"] if rows else None
        return None if lag is None else max(0.0, float(lag))

    def status(self) -> dict[str, Any]:
        with self.transaction() as tx:
            version = tx.fetch("SHOW server_version")[0]["server_version"]
            ext = tx.fetch("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            hyper = []
            if ext:
                hyper = tx.fetch(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables "
                    "ORDER BY hypertable_name"
                )
        return {
            "backend": "postgres",
            "url": self._safe_url(),
            "server_version": version,
            "schema_version": self.schema_version(),
            "latest_migration": self.migrations()[-1][0],
            "timescaledb": ext[0]["extversion"] if ext else None,
            "hypertables": [h["hypertable_name"] for h in hyper],
        }

    def close(self) -> None:
        self.pool.close()

    # --- retention (ioc/store/retention.py) -----------------------------------------------

    def _utc_day(self, column: str) -> str:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def _is_hypertable(self, tx: Tx) -> bool:
        return bool(
            tx.fetch("SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL AS ok")[
                0
            ]["ok"]
        ) and bool(
            tx.fetch(
                "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events'"
            )
        )

    def _chunks_before(self, tx: Tx, before: datetime) -> list[str] | None:
        if not self._is_hypertable(tx):
            return None
        rows = tx.fetch(
            "SELECT chunk_schema || '.' || chunk_name AS chunk FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'events' AND range_end <= %s ORDER BY range_start",
            (before,),
        )
        return [r["chunk"] for r in rows]

    def _lock_events_for_drop(self, tx: Tx) -> None:
        # Writers wait (readers do not) from the count of archived rows to the drop.
        tx.execute("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")

    def _drop_days_before(self, tx: Tx, before: datetime) -> int:
        dropped = 0
        if self._is_hypertable(tx):
            # Whole chunks: no dead rows, no vacuum. Chunks are one UTC day, so none straddles.
            dropped = len(
                tx.fetch("SELECT drop_chunks('events', older_than => %s::timestamptz)", (before,))
            )
        # Rows of a chunk straddling `before` (a changed chunk interval), or a plain table.
        tx.execute("DELETE FROM events WHERE ts < %s", (before,))
        return dropped

    def events_storage(self) -> dict[str, int]:
        with self.transaction(readonly=True) as tx:
            if self._is_hypertable(tx):
                r = tx.fetch(
                    "SELECT table_bytes + coalesce(toast_bytes, 0) AS t, index_bytes AS i "
                    "FROM hypertable_detailed_size('events')"
                )[0]
            else:
                r = tx.fetch("SELECT pg_table_size('events') AS t, pg_indexes_size('events') AS i")[
                    0
                ]
            rows = int(tx.fetch("SELECT count(*) AS n FROM events")[0]["n"])
        table, indexes = int(r["t"] or 0), int(r["i"] or 0)
        return {
            "rows": rows,
            "table_bytes": table,
            "index_bytes": indexes,
            "total_bytes": table + indexes,
        }


def create_database(url: str) -> bool:
    """Create the database named in url unless it exists; True if it was created.

    Connects to the server's `postgres` database with the same credentials.
    """
    info = psycopg.conninfo.conninfo_to_dict(url.replace("postgres://", "postgresql://", 1))
    name = info.get("dbname") or "postgres"
    admin = psycopg.conninfo.make_conninfo(**{**info, "dbname": "postgres"})
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.OperationalError as exc:
        raise StoreError(f"PostgreSQL: {exc}") from exc
