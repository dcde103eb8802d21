"""Programme progress from the registers: counts by place, timelines, cameras, review moves.

Reads of the tables that ioc.store.registers loads and moves; %s placeholders work on both
dialects, and days are local dates (Asia/Ho_Chi_Minh) kept in *_on columns.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ioc.store.core import StoreCore
from ioc.store.registers import VILLAGE_COLUMNS, _day

SECURITY_TRAFFIC_KIND = "security.traffic_violation"
# Plate reads are observations, not incidents; neither order nor traffic violations.
SECURITY_NOT_INCIDENTS = ("security.plate_read",)

_PROGRESS_SELECT = (
    "sum(CASE WHEN in_signal THEN 1 ELSE 0 END) AS signal_target, "
    "sum(CASE WHEN in_signal AND signal_covered_on IS NOT NULL AND signal_covered_on <= %s "
    "THEN 1 ELSE 0 END) AS signal_done, "
    "sum(CASE WHEN in_signal AND (signal_covered_on IS NULL OR signal_covered_on > %s) "
    "THEN households ELSE 0 END) AS signal_households_left, "
    "sum(CASE WHEN in_power THEN 1 ELSE 0 END) AS power_target, "
    "sum(CASE WHEN in_power AND power_covered_on IS NOT NULL AND power_covered_on <= %s "
    "THEN 1 ELSE 0 END) AS power_done, "
    "sum(CASE WHEN in_power AND (power_covered_on IS NULL OR power_covered_on > %s) "
    "THEN households ELSE 0 END) AS power_households_left "
    # Only villages in a programme: a small share of the register, with a partial index.
    "FROM villages WHERE (in_signal OR in_power)"
)
_MOVES_WHERE = (
    " WHERE ((in_signal AND signal_covered_on > %s AND signal_covered_on <= %s) "
    "OR (in_power AND power_covered_on > %s AND power_covered_on <= %s))"
)
_MOVES_SELECT = (
    "sum(CASE WHEN in_signal AND signal_covered_on > %s AND signal_covered_on <= %s "
    "THEN 1 ELSE 0 END) AS signal, "
    "sum(CASE WHEN in_power AND power_covered_on > %s AND power_covered_on <= %s "
    "THEN 1 ELSE 0 END) AS power FROM villages" + _MOVES_WHERE
)
_CAMERA_GROUP = (
    "count(*) AS planned, "
    "sum(CASE WHEN integrated_on <= %s THEN 1 ELSE 0 END) AS integrated FROM camera_register"
)
_CAMERA_COVERAGE = (
    "SELECT count(DISTINCT ward) AS all_communes, "
    "count(DISTINCT CASE WHEN integrated_on <= %s THEN ward END) AS communes, "
    "count(DISTINCT route) AS all_routes, "
    "count(DISTINCT CASE WHEN integrated_on <= %s THEN route END) AS routes FROM camera_register"
)
# Queries by the column grouped on and whether scoped to a province; every name is fixed here.
_PROGRESS: dict[tuple[str, bool], str] = {}
_MOVES: dict[tuple[str, bool], str] = {}
_CAMERA_BY: dict[tuple[str, bool], str] = {}
for _col in ("province", "ward", "owner", "vendor"):
    for _scoped in (False, True):
        _and = " AND province = %s" if _scoped else ""
        _where = " WHERE province = %s" if _scoped else ""
        _PROGRESS[(_col, _scoped)] = (
            "SELECT " + _col + " AS key, " + _PROGRESS_SELECT + _and + " GROUP BY " + _col
        )
        _MOVES[(_col, _scoped)] = (
            "SELECT " + _col + " AS key, " + _MOVES_SELECT + _and + " GROUP BY " + _col
        )
        _CAMERA_BY[(_col, _scoped)] = (
            "SELECT " + _col + " AS key, " + _CAMERA_GROUP + _where + " GROUP BY " + _col
        )
_CAMERA_MOVES = {
    False: "SELECT province AS key, count(*) AS n FROM camera_register "
    "WHERE integrated_on > %s AND integrated_on <= %s GROUP BY province",
    True: "SELECT ward AS key, count(*) AS n FROM camera_register "
    "WHERE integrated_on > %s AND integrated_on <= %s AND province = %s GROUP BY ward",
}
_TIMELINE = {
    ("signal", False): "SELECT signal_covered_on AS day, count(*) AS n FROM villages "
    "WHERE in_signal AND signal_covered_on IS NOT NULL GROUP BY signal_covered_on",
    ("signal", True): "SELECT signal_covered_on AS day, count(*) AS n FROM villages "
    "WHERE in_signal AND signal_covered_on IS NOT NULL AND province = %s "
    "GROUP BY signal_covered_on",
    ("power", False): "SELECT power_covered_on AS day, count(*) AS n FROM villages "
    "WHERE in_power AND power_covered_on IS NOT NULL GROUP BY power_covered_on",
    ("power", True): "SELECT power_covered_on AS day, count(*) AS n FROM villages "
    "WHERE in_power AND power_covered_on IS NOT NULL AND province = %s "
    "GROUP BY power_covered_on",
    ("cameras", False): "SELECT integrated_on AS day, count(*) AS n FROM camera_register "
    "WHERE integrated_on IS NOT NULL GROUP BY integrated_on",
    ("cameras", True): "SELECT integrated_on AS day, count(*) AS n FROM camera_register "
    "WHERE integrated_on IS NOT NULL AND province = %s GROUP BY integrated_on",
}
_TARGET = {
    ("signal", False): "SELECT count(*) AS n FROM villages WHERE in_signal",
    ("signal", True): "SELECT count(*) AS n FROM villages WHERE in_signal AND province = %s",
    ("power", False): "SELECT count(*) AS n FROM villages WHERE in_power",
    ("power", True): "SELECT count(*) AS n FROM villages WHERE in_power AND province = %s",
    ("cameras", False): "SELECT count(*) AS n FROM camera_register",
    ("cameras", True): "SELECT count(*) AS n FROM camera_register WHERE province = %s",
}
_CAMERAS = {
    False: "SELECT province, ward, owner, vendor, route, count(*) AS planned, "
    "sum(CASE WHEN integrated_on IS NOT NULL AND integrated_on <= %s THEN 1 ELSE 0 END) "
    "AS integrated FROM camera_register GROUP BY province, ward, owner, vendor, route",
    True: "SELECT province, ward, owner, vendor, route, count(*) AS planned, "
    "sum(CASE WHEN integrated_on IS NOT NULL AND integrated_on <= %s THEN 1 ELSE 0 END) "
    "AS integrated FROM camera_register WHERE province = %s "
    "GROUP BY province, ward, owner, vendor, route",
}
_INCIDENTS = {
    False: "SELECT metric AS kind, sum(n) AS n FROM kpi_daily_province "
    "WHERE day >= %s AND day < %s AND metric LIKE 'security.%%' GROUP BY metric",
    True: "SELECT metric AS kind, sum(n) AS n FROM kpi_daily_province "
    "WHERE day >= %s AND day < %s AND metric LIKE 'security.%%' AND province = %s "
    "GROUP BY metric",
}


@dataclass(frozen=True, slots=True)
class ProgrammeCounts:
    """Villages of a place in the signal and power programmes, as of a day."""

    key: str
    signal_target: int
    signal_done: int
    signal_households_left: int
    power_target: int
    power_done: int
    power_households_left: int


@dataclass(frozen=True, slots=True)
class CameraCounts:
    """Cameras planned and integrated (as of a day) for one commune, owner, vendor and route."""

    province: str
    ward: str
    owner: str
    vendor: str
    route: str | None
    planned: int
    integrated: int


@dataclass(frozen=True, slots=True)
class CameraSummary:
    """Cameras planned and integrated (as of a day) by place, owner and vendor, and coverage."""

    # place (province, or commune of one province) / owner / vendor -> (planned, integrated)
    places: dict[str, tuple[int, int]]
    owners: dict[str, tuple[int, int]]
    vendors: dict[str, tuple[int, int]]
    # communes and bus routes with at least one integrated camera, and all planned ones
    coverage: dict[str, int]


class RegisterReads(StoreCore):
    """Programme progress, camera integration and review moves, read from the registers."""

    # --- reading ----------------------------------------------------------------------

    def villages(
        self, province: str | None = None, ward: str | None = None
    ) -> list[dict[str, Any]]:
        """Register rows of a province or commune (all if neither), by commune and name."""
        where, params = " WHERE TRUE", []
        if ward is not None:
            where, params = " WHERE ward = %s", [ward]
        elif province is not None:
            where, params = " WHERE province = %s", [province]
        query = "SELECT " + VILLAGE_COLUMNS + " FROM villages"  # noqa: S608 - fixed columns
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(query + where + " ORDER BY ward, name", params)
        for r in rows:
            r["in_signal"], r["in_power"] = bool(r["in_signal"]), bool(r["in_power"])
            r["operators"] = json.loads(r["operators"] or "{}")
            for k in ("signal_covered_on", "power_covered_on", "declared_on"):
                r[k] = _day(r[k])
        return rows

    def programme_counts(
        self, *, by: str = "province", province: str | None = None, on: date | None = None
    ) -> list[ProgrammeCounts]:
        """Signal and power programme targets and villages covered by the end of day `on`."""
        if by not in ("province", "ward"):
            raise ValueError(f"by must be 'province' or 'ward', not {by!r}")
        day = self._to_db(on or date.max)
        params: list[Any] = [day] * 4 + ([province] if province else [])
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(_PROGRESS[(by, province is not None)], params)
        return [
            ProgrammeCounts(
                key=r["key"],
                **{k: int(r[k] or 0) for k in ProgrammeCounts.__slots__ if k != "key"},
            )
            for r in rows
        ]

    def programme_timeline(
        self, programme: str, province: str | None = None
    ) -> tuple[int, list[tuple[date, int]]]:
        """The target of a programme ('signal', 'power', 'cameras') and items done per local day."""
        key = (programme, province is not None)
        if key not in _TIMELINE:
            raise ValueError(f"unknown programme {programme!r}")
        params = [province] if province else []
        with self.transaction(readonly=True) as tx:
            target = int(tx.fetch(_TARGET[key], params)[0]["n"] or 0)
            rows = tx.fetch(_TIMELINE[key], params)
        done = sorted((_day(r["day"]), int(r["n"])) for r in rows)
        return target, done  # type: ignore[return-value]

    def camera_counts(
        self, province: str | None = None, on: date | None = None
    ) -> list[CameraCounts]:
        """Planned cameras and those integrated by the end of day `on`, per commune/owner/vendor/route."""
        params: list[Any] = [self._to_db(on or date.max)] + ([province] if province else [])
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(_CAMERAS[province is not None], params)
        return [
            CameraCounts(
                r["province"],
                r["ward"],
                r["owner"],
                r["vendor"],
                r["route"],
                int(r["planned"]),
                int(r["integrated"] or 0),
            )
            for r in rows
        ]

    def camera_summary(self, province: str | None = None, on: date | None = None) -> CameraSummary:
        """Cameras planned and integrated by the end of day `on`, by place, owner and vendor."""
        day = self._to_db(on or date.max)
        scoped = province is not None
        where = [province] if scoped else []
        out: dict[str, dict[str, tuple[int, int]]] = {}
        with self.transaction(readonly=True) as tx:
            for name, col in (("places", "ward" if scoped else "province"), ("owners", "owner"),
                              ("vendors", "vendor")):  # fmt: skip
                rows = tx.fetch(_CAMERA_BY[(col, scoped)], [day, *where])
                out[name] = {r["key"]: (int(r["planned"]), int(r["integrated"] or 0)) for r in rows}
            query = _CAMERA_COVERAGE + (" WHERE province = %s" if scoped else "")
            cov = tx.fetch(query, [day, day, *where])[0]
        return CameraSummary(
            out["places"], out["owners"], out["vendors"], {k: int(v or 0) for k, v in cov.items()}
        )

    def register_moves(
        self, since: date, until: date, province: str | None = None
    ) -> dict[str, tuple[int, int, int]]:
        """Per province (or commune of one province): villages covered by 4G, connected to the
        grid and cameras integrated after the end of day `since` up to the end of `until`."""
        scoped = province is not None
        a, b = self._to_db(since), self._to_db(until)
        where = [province] if scoped else []
        moves: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        with self.transaction(readonly=True) as tx:
            key = "ward" if scoped else "province"
            for r in tx.fetch(_MOVES[(key, scoped)], [a, b] * 4 + where):
                moves[r["key"]][0] += int(r["signal"] or 0)
                moves[r["key"]][1] += int(r["power"] or 0)
            for r in tx.fetch(_CAMERA_MOVES[scoped], [a, b, *where]):
                moves[r["key"]][2] += int(r["n"])
        return {k: (v[0], v[1], v[2]) for k, v in moves.items()}

    def security_incident_counts(
        self, since: date, until: date, province: str | None = None
    ) -> dict[str, int]:
        """Security-domain events per kind over local days [since, until), from the KPI state's daily counts."""
        params: list[Any] = [self._to_db(since), self._to_db(until)] + (
            [province] if province else []
        )
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(_INCIDENTS[province is not None], params)
        return {r["kind"]: int(r["n"]) for r in rows}


def split_incidents(by_kind: Iterable[tuple[str, int]]) -> tuple[int, int]:
    """(security and order incidents, traffic order violations) from per-kind counts.

    Vietnam reports traffic order separately from security and order; plate reads are
    observations and count as neither.
    """
    order = traffic = 0
    for kind, n in by_kind:
        if kind == SECURITY_TRAFFIC_KIND:
            traffic += n
        elif kind.startswith("security.") and kind not in SECURITY_NOT_INCIDENTS:
            order += n
    return order, traffic
