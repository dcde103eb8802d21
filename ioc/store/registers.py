"""Programme registers: villages with signal and power status, and the cameras to integrate.

Mixed into Store. Queries use %s placeholders that work on both dialects. Days are local
dates in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), kept in *_on columns so that both
dialects group by them the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ioc.facts import local_day
from ioc.registers.models import (
    COVERED_AFTER_DAYS,
    COVERED_SIGNAL,
    CameraRow,
    VillageRow,
    village_id,
)
from ioc.store.core import StoreCore, Tx

if TYPE_CHECKING:
    from ioc.events import Event

# A load this big refreshes the tables' planner statistics straight away.
ANALYZE_AFTER_ROWS = 10_000

VILLAGE_COLUMNS = (
    "id, province, ward, name, kind, lat, lon, households, residents, signal, signal_source, "
    "power, in_signal, in_power, signal_covered_on, power_covered_on, declared_on, operators"
)
_UPSERT_VILLAGE = (
    "INSERT INTO villages (" + VILLAGE_COLUMNS + ") VALUES "  # noqa: S608 - fixed columns
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
class RegisterLoad:
    """What a register load changed."""

    villages_added: int
    villages_updated: int
    villages_stale: int
    cameras: int


class RegisterQueries(StoreCore):
    """Village and camera registers: loading them, and the ingest hook that moves their states."""

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
