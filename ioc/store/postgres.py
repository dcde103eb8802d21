"""PostgreSQL/TimescaleDB backend: psycopg 3 with a pool, binary COPY for ingest."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ioc.events import Event
from ioc.store.base import Store, StoreError, Tx

logger = logging.getLogger(__name__)

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
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.pool.connection(timeout=self.timeout) as conn, conn.transaction():
                with conn.cursor() as cur:
                    yield _PgTx(cur)
        except PoolTimeout as exc:
            raise StoreError(f"PostgreSQL unreachable at {self._safe_url()}: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

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
                        Jsonb(e.attrs),
                    )
                )
        cur.execute(
            sql.SQL(
                "INSERT INTO events ({cols}) SELECT {cols} FROM events_staging "
                "ON CONFLICT DO NOTHING RETURNING id, ts"
            ).format(cols=cols)
        )
        return [by_key[(r["id"], r["ts"])] for r in cur.fetchall()]

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
