"""What every part of the store stands on: the transaction protocol, the backend
primitives each dialect supplies, and the small query helpers both dialects share.

The job modules (migration, write, events, alarms, accounts, health, kpi_state,
kpi_queries) are mixins of StoreCore; ioc.store.base composes them into Store, and the
dialect modules (sqlite, postgres) subclass Store. Every difference between the dialects
is a method or attribute of a dialect module, declared here; nothing else asks which
dialect it runs on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from datetime import date
from typing import Any, Protocol, Self

from ioc.events import Event

HIGH_SEVERITY = 3
# Rows per multi-row INSERT; keeps SQLite under its bound-parameter limit.
VALUES_CHUNK = 500

Columns = Sequence[tuple[str, str]]  # (name, PostgreSQL type) of each column
Rows = Sequence[Sequence[Any]]


class StoreError(Exception):
    """The store is unreachable or refused an operation; callers may retry."""


class Tx(Protocol):
    """A cursor inside one transaction."""

    def fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def execute(self, query: str, params: Sequence[Any] = ()) -> int: ...
    def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> None: ...


def where_clause(predicates: Iterable[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """' WHERE a AND b' from fixed (predicate, value) pairs whose value is not None.

    Only predicates written in the store's modules are composed; every value stays a parameter.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in predicates:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def record(cls: type, row: dict[str, Any]) -> Any:
    """A dataclass record from a row holding (at least) its fields."""
    return cls(**{f.name: row[f.name] for f in fields(cls)})


class StoreCore(ABC):
    """Backend primitives and dialect fragments; the base of every store mixin."""

    # The dialect's name: also the folder of its migrations.
    dialect: str = ""
    url: str = ""
    # A label for reports and benchmarks ("sqlite", "postgres").
    backend: str = ""
    # True when independent reads gain from running concurrently (pooled server
    # connections); False when they are better run one after the other.
    parallel_reads: bool = False

    # --- backend primitives (dialect modules) ------------------------------------------

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

    def replica_lag_s(self) -> float | None:
        """Seconds a read-only replica is behind its primary; None where there is no replica."""
        return None

    @abstractmethod
    def _run_script(self, tx: Tx, script: str) -> None:
        """Run one trusted migration script inside tx."""

    @abstractmethod
    def _has_table(self, tx: Tx, name: str) -> bool:
        """True when the table exists."""

    @abstractmethod
    def server_pids(self) -> list[int]:
        """Local pids of the server processes serving this database, besides this
        store's own connection (for CPU accounting); [] for an embedded store."""

    @abstractmethod
    def _serialise(self, tx: Tx, key: str) -> None:
        """Make concurrent transactions on the same key run one after another."""

    # --- dialect SQL fragments ---------------------------------------------------------

    @abstractmethod
    def _epoch(self, column: str) -> str:
        """SQL for a timestamp column (or %s) as float seconds since 1970."""

    @abstractmethod
    def _floor(self, expr: str) -> str:
        """SQL floor of a non-negative float expression, as an integer."""

    @abstractmethod
    def _insert_rows(self, tx: Tx, table: str, columns: Columns, rows: Rows, tail: str = "") -> Any:
        """INSERT rows (columns as (name, PostgreSQL type)) with an ON CONFLICT tail.

        Table, columns and tail are fixed strings of the store; values are parameters.
        Rows must not repeat a conflict key.
        """

    @abstractmethod
    def _values_source(self, columns: Columns, rows: Rows) -> tuple[str, list[Any]]:
        """The body of a CTE `v (columns) AS (body)` yielding rows, and its parameters.

        Rows must be adapted already (_to_db); at most VALUES_CHUNK of them.
        """

    @abstractmethod
    def _grouped_medians(
        self, facts: str, counts: str, names: dict[str, str], wanted: Collection[str]
    ) -> str:
        """SELECT unit, the counts and the medians over the rows of facts, grouped by unit.

        names maps m to the output name of the median of column f"{m}_s" of facts; those
        not in wanted are NULL columns (each median sorts every row of the period).
        """

    @abstractmethod
    def _prepare_sort(self, tx: Tx) -> None:
        """Set the transaction up for sorting large sets."""

    @staticmethod
    def _least(a: str, b: str) -> str:
        return f"(CASE WHEN {a} < {b} THEN {a} ELSE {b} END)"

    @staticmethod
    def _greatest(a: str, b: str) -> str:
        return f"(CASE WHEN {a} > {b} THEN {a} ELSE {b} END)"

    # --- shared helpers ------------------------------------------------------------------

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction(readonly=True) as tx:
            return [self._from_db(r) for r in tx.fetch(query, [self._to_db(p) for p in params])]

    def _fetch(self, query: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            return tx.fetch(query, [self._to_db(p) for p in params])

    @staticmethod
    def _in(values: Sequence[Any]) -> str:
        return ", ".join(["%s"] * len(values))

    @staticmethod
    def _day_value(value: Any) -> date:
        return date.fromisoformat(value) if isinstance(value, str) else value

    def _count_rows(self, names: Sequence[str]) -> dict[str, int]:
        # Fixed table names of the store's modules, not input.
        with self.transaction() as tx:
            return {
                name: int(tx.fetch(f"SELECT count(*) AS n FROM {name}")[0]["n"])  # noqa: S608
                for name in names
            }

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
