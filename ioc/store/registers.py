"""Programme registers: villages with signal and power status, and the cameras to integrate.

Mixed into Store. Queries use %s placeholders that work on both dialects. Days are local
dates in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), kept in *_on columns so that both
dialects group by them the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ioc.registers.models import (
    COVERED_AFTER_DAYS,
    COVERED_SIGNAL,
    CameraRow,
    VillageRow,
    village_id,
)

if TYPE_CHECKING:
    from ioc.events import Event
    from ioc.store.base import Tx

LOCAL_OFFSET = timedelta(hours=7)
# A load this big refreshes the tables' planner statistics straight away.
ANALYZE_AFTER_ROWS = 10_000
SECURITY_TRAFFIC_KIND = "security.traffic_violation"
# Plate reads are observations, not incidents; neither order nor traffic violations.
SECURITY_NOT_INCIDENTS = ("security.plate_read",)

_VILLAGE_COLUMNS = (
    "id, province, ward, name, kind, lat, lon, households, residents, signal, signal_source, "
    "power, in_signal, in_power, signal_covered_on, power_covered_on, declared_on, operators"
)
_UPSERT_VILLAGE = (
    "INSERT INTO villages (" + _VILLAGE_COLUMNS + ") VALUES "  # noqa: S608 - fixed columns
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, lat = excluded.lat, "
    "lon = excluded.lon, households = excluded.households, residents = excluded.residents, "
    "signal = excluded.signal, signal_source = excluded.signal_source, power = excluded.power, "
    "signal_covered_on = excluded.signal_covered_on, "
    "power_covered_on = excluded.power_covered_on, declared_on = excluded.declared_on, "
    "operators = excluded.operators"
)
_UPSERT_CAMERA = (
    "INSERT INTO camera_register (id, province, ward, owner, vendor, route, planned_on, "
    "integrated_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
    "province = excluded.province, ward = excluded.ward, owner = excluded.owner, "
    "vendor = excluded.vendor, route = excluded.route, planned_on = excluded.planned_on, "
    "integrated_on = COALESCE(camera_register.integrated_on, excluded.integrated_on)"
)
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
    False: "SELECT kind, sum(n) AS n FROM rollup_daily_ward "
    "WHERE day >= %s AND day < %s AND kind LIKE 'security.%%' GROUP BY kind",
    True: "SELECT kind, sum(n) AS n FROM rollup_daily_ward "
    "WHERE day >= %s AND day < %s AND kind LIKE 'security.%%' AND province = %s GROUP BY kind",
}


def local_day(ts: datetime) -> date:
    """The Asia/Ho_Chi_Minh calendar date of an instant."""
    return (ts.astimezone(UTC) + LOCAL_OFFSET).date()


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _village_name(attr: str) -> str:
    # Probes name the village with its commune ("Thôn 3, xã Lạc Dương"); the register without.
    return " ".join(attr.split(",", 1)[0].split())


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


@dataclass(frozen=True, slots=True)
class RegisterLoad:
    """What a register load changed."""

    villages_added: int
    villages_updated: int
    villages_stale: int
    cameras: int


class RegisterQueries:
    """Village and camera registers, their programme progress, and the ingest hook."""

    dialect: str

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    def _to_db(self, value: Any) -> Any:
        raise NotImplementedError

    # --- loading ----------------------------------------------------------------------

    def load_register(
        self, villages: Sequence[VillageRow] = (), cameras: Sequence[CameraRow] = ()
    ) -> RegisterLoad:
        """Add or update villages and cameras in one transaction (all or nothing).

        A village keeps the programme baseline it entered with: in the signal programme when
        first declared below 4G, in the power programme when first declared not connected.
        A later declaration (declared_on not older than the stored one) that reaches 4G or the
        grid marks it covered on that day; one that falls back uncovers it. Older declarations
        are counted as stale and ignored.
        """
        added = updated = stale = 0
        with self.transaction() as tx:
            existing: dict[str, dict[str, Any]] = {}
            ids = [v.id for v in villages]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ", ".join(["%s"] * len(part))
                for r in tx.fetch(
                    "SELECT id, signal, power, in_signal, in_power, signal_covered_on, "  # noqa: S608
                    "power_covered_on, declared_on FROM villages WHERE id IN (" + marks + ")",
                    part,
                ):
                    existing[r["id"]] = r
            rows = []
            for v in sorted(villages, key=lambda v: v.declared_on):
                old = existing.get(v.id)
                covered_signal = v.signal in COVERED_SIGNAL
                covered_power = v.power == "connected"
                if old is None:
                    in_signal, in_power = not covered_signal, not covered_power
                    signal_on = power_on = None
                    added += 1
                else:
                    if _day(old["declared_on"]) > v.declared_on:
                        stale += 1
                        continue
                    in_signal, in_power = bool(old["in_signal"]), bool(old["in_power"])
                    signal_on = _day(old["signal_covered_on"])
                    power_on = _day(old["power_covered_on"])
                    if in_signal:
                        signal_on = (signal_on or v.declared_on) if covered_signal else None
                    if in_power:
                        power_on = (power_on or v.declared_on) if covered_power else None
                    updated += 1
                # Rows repeated within one load: the newest one wins, as in the table.
                existing[v.id] = {
                    "declared_on": v.declared_on,
                    "in_signal": in_signal,
                    "in_power": in_power,
                    "signal_covered_on": signal_on,
                    "power_covered_on": power_on,
                }
                rows.append(
                    (
                        v.id,
                        v.province,
                        v.ward,
                        v.name,
                        v.kind,
                        v.lat,
                        v.lon,
                        v.households,
                        v.residents,
                        v.signal,
                        "declared",
                        v.power,
                        in_signal,
                        in_power,
                        self._to_db(signal_on),
                        self._to_db(power_on),
                        self._to_db(v.declared_on),
                        json.dumps(v.operators, sort_keys=True),
                    )
                )
            if rows:
                tx.executemany(_UPSERT_VILLAGE, rows)
            if cameras:
                tx.executemany(
                    _UPSERT_CAMERA,
                    [
                        (
                            c.id,
                            c.province,
                            c.ward,
                            c.owner,
                            c.vendor,
                            c.route,
                            self._to_db(c.planned_on),
                            self._to_db(c.integrated_on),
                        )
                        for c in cameras
                    ],
                )
        if len(villages) + len(cameras) >= ANALYZE_AFTER_ROWS:
            # Fresh planner statistics: without them the first national views plan badly.
            with self.transaction() as tx:
                tx.execute("ANALYZE villages")
                tx.execute("ANALYZE camera_register")
        return RegisterLoad(added, updated, stale, len(cameras))

    # --- ingest hook ------------------------------------------------------------------

    def apply_programme_events(self, tx: Tx, inserted: Sequence[Event]) -> None:
        """Move registered villages and cameras between states from newly stored events.

        A signal sample at 4G or better extends that operator's run in the village; a weaker
        one ends it. A run of COVERED_AFTER_DAYS days covers a village of the signal
        programme (source 'probe'). Any event from a registered camera integrates it.
        """
        samples: dict[tuple[str, str], list[tuple[datetime, bool]]] = defaultdict(list)
        first_from: dict[str, datetime] = {}
        for e in inserted:
            if e.kind == "network.signal_sample" and e.ward and e.attrs.get("village"):
                vid = village_id(e.ward, _village_name(e.attrs["village"]))
                good = e.attrs.get("technology") in COVERED_SIGNAL
                samples[(vid, e.attrs["operator"])].append((e.ts, good))
            cur = first_from.get(e.source)
            if cur is None or e.ts < cur:
                first_from[e.source] = e.ts
        if first_from:
            sources = list(first_from)
            for chunk in range(0, len(sources), 500):
                part = sources[chunk : chunk + 500]
                marks = ", ".join(["%s"] * len(part))
                found = tx.fetch(
                    "SELECT id FROM camera_register WHERE integrated_on IS NULL AND id IN ("  # noqa: S608
                    + marks
                    + ")",
                    part,
                )
                if found:
                    tx.executemany(
                        "UPDATE camera_register SET integrated_at = %s, integrated_on = %s "
                        "WHERE id = %s AND integrated_on IS NULL",
                        [
                            (
                                self._to_db(first_from[r["id"]]),
                                self._to_db(local_day(first_from[r["id"]])),
                                r["id"],
                            )
                            for r in found
                        ],
                    )
        if not samples:
            return
        vids = sorted({vid for vid, _ in samples})
        known: set[str] = set()
        for chunk in range(0, len(vids), 500):
            part = vids[chunk : chunk + 500]
            marks = ", ".join(["%s"] * len(part))
            known.update(
                r["id"]
                for r in tx.fetch(
                    "SELECT id FROM villages WHERE in_signal AND signal_covered_on IS NULL "  # noqa: S608
                    "AND id IN (" + marks + ")",
                    part,
                )
            )
        if not known:
            return
        touched: set[str] = set()
        for (vid, operator), seen in samples.items():
            if vid not in known:
                continue
            run = tx.fetch(
                "SELECT first_seen, last_seen FROM village_signal_runs "
                "WHERE village = %s AND operator = %s",
                (vid, operator),
            )
            first = _ts(run[0]["first_seen"]) if run else None
            last = _ts(run[0]["last_seen"]) if run else None
            for ts, good in sorted(seen):
                if last is not None and ts < last:
                    continue  # late samples do not rewrite a run
                if good:
                    first = first or ts
                    last = ts
                else:
                    first = last = None
            if first is None:
                tx.execute(
                    "DELETE FROM village_signal_runs WHERE village = %s AND operator = %s",
                    (vid, operator),
                )
                continue
            tx.execute(
                "INSERT INTO village_signal_runs (village, operator, first_seen, last_seen) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (village, operator) DO UPDATE SET "
                "first_seen = excluded.first_seen, last_seen = excluded.last_seen",
                (vid, operator, self._to_db(first), self._to_db(last)),
            )
            assert last is not None
            if last - first >= timedelta(days=COVERED_AFTER_DAYS):
                touched.add(vid)
                ops = json.loads(
                    tx.fetch("SELECT operators FROM villages WHERE id = %s", (vid,))[0]["operators"]
                    or "{}"
                )
                ops[operator] = "4G"
                tx.execute(
                    "UPDATE villages SET signal = %s, signal_source = 'probe', operators = %s, "
                    "signal_covered_on = %s WHERE id = %s AND signal_covered_on IS NULL",
                    (
                        "4G",
                        json.dumps(ops, sort_keys=True),
                        self._to_db(local_day(first + timedelta(days=COVERED_AFTER_DAYS))),
                        vid,
                    ),
                )

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
        query = "SELECT " + _VILLAGE_COLUMNS + " FROM villages"  # noqa: S608 - fixed columns
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
        """Security-domain events per kind over local days [since, until), from daily rollups."""
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
