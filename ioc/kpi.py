"""KPIs for provincial leaders, each defined once: formula, unit, direction, source events.

The compute functions read only the KPI rollups and small indexed tables that the
ingest writer keeps (ioc/store/kpi_queries.py), never raw events. Values are per
province (national map) or per commune (one province's map).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ioc.events import CAMERA_HEALTH_KINDS, Event
from ioc.geo import geography
from ioc.store.kpi_queries import epoch, local_day, local_midnight

if TYPE_CHECKING:
    from ioc.store import Store

# --- what the ingest writer counts ------------------------------------------------------

INCIDENT_KINDS = (
    "security.intrusion",
    "security.crowd",
    "security.fighting",
    "security.fire",
    "security.line_crossing",
    "security.loitering",
    "security.traffic_violation",
)
ARRIVAL_METRIC = "transport.arrival"
ON_TIME_METRIC = "transport.on_time"
TRIP_METRIC = "transport.trip"
# On time: at most 1 minute early and 5 minutes late, the common bus punctuality window.
ON_TIME_EARLY_S = 60
ON_TIME_LATE_S = 300
TRANSPORT_ALARM_KINDS = ("transport.panic", "transport.overcrowding")
# Sources of these domains are cameras: fixed cameras send detections and health.
CAMERA_DOMAINS = ("camera", "security")
CAMERA_DOWN_KINDS = frozenset(CAMERA_HEALTH_KINDS)
VILLAGE_OUTAGE_KINDS: dict[str, tuple[str, bool]] = {
    "network.gap_opened": ("coverage", True),
    "network.gap_closed": ("coverage", False),
    "power.outage_started": ("power", True),
    "power.outage_restored": ("power", False),
}
# Longest normal silence per device domain (latest event's domain). Buses stand overnight,
# security cameras only speak on detections, meters report a few times a day.
EXPECTED_SILENCE_S = {
    "camera": 2 * 3600,
    "network": 2 * 3600,
    "power": 24 * 3600,
    "security": 24 * 3600,
    "sensor": 2 * 3600,
    "transport": 12 * 3600,
}

_INCIDENTS = frozenset(INCIDENT_KINDS)
# Issue 16: Vietnam reports traffic order apart from security and order, so the security KPI
# counts every incident kind but traffic violations, and traffic violations have their own.
TRAFFIC_ORDER_KINDS = ("security.traffic_violation",)
ORDER_INCIDENT_KINDS = tuple(k for k in INCIDENT_KINDS if k not in TRAFFIC_ORDER_KINDS)


def kpi_facts(e: Event) -> tuple[str, ...]:
    """The KPI metrics one stored event adds 1 to (trips are counted separately, once each)."""
    if e.kind in _INCIDENTS:
        return (e.kind,)
    if e.kind == "transport.stop_arrival":
        delay = e.attrs.get("delay_s")
        if delay is not None and -ON_TIME_EARLY_S <= int(delay) <= ON_TIME_LATE_S:
            return (ARRIVAL_METRIC, ON_TIME_METRIC)
        return (ARRIVAL_METRIC,)
    return ()


def trip_key(e: Event) -> str | None:
    """Identity of the trip a transport event belongs to: trip id (or vehicle and route) and local day."""
    vehicle = e.attrs.get("vehicle")
    if vehicle is None:
        return None
    # Timetable trip ids repeat every day, so the local service day is part of the key.
    trip = e.attrs.get("trip") or f"{vehicle}@{e.attrs.get('route', '')}"
    return f"{e.province}|{trip}|{local_day(e.ts).isoformat()}"


# --- definitions -----------------------------------------------------------------------

Direction = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class KpiDef:
    """One KPI: what it means, how it is computed, and which way is better."""

    id: str
    group: str
    name_vi: str
    name_en: str
    unit_vi: str
    unit_en: str
    formula_vi: str
    formula_en: str
    direction: Direction
    sources: tuple[str, ...]
    decimals: int = 1
    snapshot: bool = False
    has_trend: bool = True

    def name(self, lang: str = "vi") -> str:
        """Name in a language (vi or en)."""
        return self.name_vi if lang == "vi" else self.name_en

    def unit(self, lang: str = "vi") -> str:
        """Unit in a language."""
        return self.unit_vi if lang == "vi" else self.unit_en

    def formula(self, lang: str = "vi") -> str:
        """Formula text in a language."""
        return self.formula_vi if lang == "vi" else self.formula_en

    def better(self, lang: str = "vi") -> str:
        """Which direction is better, in words."""
        if lang == "vi":
            return "càng thấp càng tốt" if self.direction == "lower" else "càng cao càng tốt"
        return "lower is better" if self.direction == "lower" else "higher is better"

    def format(self, value: float | None, lang: str = "vi") -> str:
        """A value with the KPI's decimals and the language's separators, or an em dash."""
        return format_number(value, self.decimals, lang)


def format_number(value: float | None, decimals: int = 1, lang: str = "vi") -> str:
    """1.234,5 in Vietnamese, 1,234.5 in English; an em dash for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:,.{decimals}f}"
    if lang == "en":
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


_ALARM_KINDS = ("alarms (opened_at, acknowledged_at, resolved_at, severity)",)

KPIS: dict[str, KpiDef] = {
    k.id: k
    for k in (
        KpiDef(
            id="security_incidents",
            group="security",
            name_vi="Sự cố an ninh trên 10.000 dân",
            name_en="Security incidents per 10,000 residents",
            unit_vi="vụ/10.000 dân",
            unit_en="per 10,000 residents",
            formula_vi="số sự cố an ninh trật tự trong kỳ ÷ quy mô dân số × 10.000; theo loại: "
            "xâm nhập, tụ tập, đánh nhau, cháy, vượt tuyến, lảng vảng (vi phạm trật tự giao "
            "thông tính riêng)",
            formula_en="security and order incidents in the period ÷ population × 10,000; by "
            "type: intrusion, crowd, fighting, fire, line crossing, loitering (traffic order "
            "violations are counted apart)",
            direction="lower",
            sources=ORDER_INCIDENT_KINDS,
            decimals=2,
        ),
        KpiDef(
            id="traffic_violations",
            group="security",
            name_vi="Vi phạm trật tự giao thông trên 10.000 dân",
            name_en="Traffic order violations per 10,000 residents",
            unit_vi="vụ/10.000 dân",
            unit_en="per 10,000 residents",
            formula_vi="số vi phạm trật tự giao thông camera ghi nhận trong kỳ ÷ quy mô dân số "
            "× 10.000 (phụ thuộc số camera giao thông)",
            formula_en="traffic order violations recorded by cameras in the period ÷ population "
            "× 10,000 (depends on the number of traffic cameras)",
            direction="lower",
            sources=TRAFFIC_ORDER_KINDS,
            decimals=2,
        ),
        KpiDef(
            id="alarm_ack_median",
            group="alarms",
            name_vi="Thời gian xác nhận cảnh báo (trung vị)",
            name_en="Median time to acknowledge an alarm",
            unit_vi="phút",
            unit_en="min",
            formula_vi="trung vị của (lúc xác nhận − lúc mở) với các cảnh báo mở trong kỳ "
            "đã được xác nhận",
            formula_en="median of (acknowledged − opened) over alarms opened in the period "
            "that were acknowledged",
            direction="lower",
            sources=_ALARM_KINDS,
        ),
        KpiDef(
            id="alarm_resolve_median",
            group="alarms",
            name_vi="Thời gian xử lý xong cảnh báo (trung vị)",
            name_en="Median time to resolve an alarm",
            unit_vi="phút",
            unit_en="min",
            formula_vi="trung vị của (lúc xử lý xong − lúc mở) với các cảnh báo mở trong kỳ "
            "đã xử lý xong",
            formula_en="median of (resolved − opened) over alarms opened in the period that "
            "were resolved",
            direction="lower",
            sources=_ALARM_KINDS,
        ),
        KpiDef(
            id="alarm_sla",
            group="alarms",
            name_vi="Cảnh báo xử lý đúng hạn",
            name_en="Alarms handled within SLA",
            unit_vi="%",
            unit_en="%",
            formula_vi="cảnh báo được xác nhận và xử lý xong trong hạn theo mức độ ÷ "
            "(số đó + cảnh báo đã quá một trong hai hạn) × 100; cảnh báo còn trong hạn "
            "chưa tính",
            formula_en="alarms acknowledged and resolved within their severity's SLA ÷ "
            "(those + alarms past either deadline) × 100; alarms still within their SLA "
            "are not counted yet",
            direction="higher",
            sources=_ALARM_KINDS,
        ),
        KpiDef(
            id="camera_availability",
            group="cameras",
            name_vi="Camera hoạt động tốt",
            name_en="Camera availability",
            unit_vi="% thời gian",
            unit_en="% of camera-time",
            formula_vi="1 − (thời gian camera có sự cố: mất kết nối, đứng hình, bị che, "
            "quá sáng, mờ, lệch cảnh) ÷ (tổng thời gian theo dõi các camera) × 100",
            formula_en="1 − (camera-time with a health condition open: offline, frozen, "
            "covered, too bright, blurred, scene change) ÷ (camera-time watched) × 100",
            direction="higher",
            sources=(*CAMERA_HEALTH_KINDS, "camera.*", "security.*"),
            decimals=2,
        ),
        KpiDef(
            id="coverage_gap_villages",
            group="network",
            name_vi="Thôn đang mất sóng di động",
            name_en="Villages in a mobile-coverage gap now",
            unit_vi="thôn",
            unit_en="villages",
            formula_vi="số thôn có vùng lõm sóng đang mở ở cuối kỳ (mục tiêu: về 0)",
            formula_en="villages with a coverage gap open at the end of the period (target: zero)",
            direction="lower",
            sources=("network.gap_opened", "network.gap_closed"),
            decimals=0,
            snapshot=True,
        ),
        KpiDef(
            id="coverage_gap_population",
            group="network",
            name_vi="Dân số ở xã có thôn mất sóng",
            name_en="Population in communes with a coverage gap",
            unit_vi="% dân số",
            unit_en="% of population",
            formula_vi="dân số các xã có ít nhất một thôn mất sóng ở cuối kỳ ÷ dân số × 100",
            formula_en="population of communes with at least one village in a gap at the "
            "end of the period ÷ population × 100",
            direction="lower",
            sources=("network.gap_opened", "network.gap_closed"),
            snapshot=True,
        ),
        KpiDef(
            id="power_out_villages",
            group="power",
            name_vi="Thôn đang mất điện",
            name_en="Villages without power now",
            unit_vi="thôn",
            unit_en="villages",
            formula_vi="số thôn có sự cố mất điện chưa khôi phục ở cuối kỳ",
            formula_en="villages with a power outage not yet restored at the end of the period",
            direction="lower",
            sources=("power.outage_started", "power.outage_restored"),
            decimals=0,
            snapshot=True,
        ),
        KpiDef(
            id="transport_on_time",
            group="transport",
            name_vi="Xe buýt đến bến đúng giờ",
            name_en="Public transport on time",
            unit_vi="% lượt đến",
            unit_en="% of arrivals",
            formula_vi=f"lượt đến bến sớm không quá {ON_TIME_EARLY_S // 60} phút và trễ không "
            f"quá {ON_TIME_LATE_S // 60} phút ÷ tổng lượt đến bến × 100",
            formula_en=f"stop arrivals at most {ON_TIME_EARLY_S // 60} min early and "
            f"{ON_TIME_LATE_S // 60} min late ÷ all stop arrivals × 100",
            direction="higher",
            sources=("transport.stop_arrival",),
        ),
        KpiDef(
            id="transport_alarms",
            group="transport",
            name_vi="Cảnh báo khẩn cấp, xe quá đông trên 1.000 chuyến",
            name_en="Panic and overcrowding alarms per 1,000 trips",
            unit_vi="/1.000 chuyến",
            unit_en="per 1,000 trips",
            formula_vi="cảnh báo nút khẩn cấp và xe quá đông mở trong kỳ ÷ số chuyến xe trong kỳ "
            "× 1.000",
            formula_en="panic-button and overcrowding alarms opened in the period ÷ trips in "
            "the period × 1,000",
            direction="lower",
            sources=(*TRANSPORT_ALARM_KINDS, "transport.* (trips)"),
            decimals=2,
        ),
        KpiDef(
            id="silent_sources",
            group="data",
            name_vi="Nguồn không gửi dữ liệu quá hạn",
            name_en="Sources silent longer than expected",
            unit_vi="% nguồn",
            unit_en="% of sources",
            formula_vi="thiết bị không gửi dữ liệu lâu hơn mức bình thường của loại "
            "(camera, trạm đo sóng, cảm biến 2 giờ; xe 12 giờ; điện, camera an ninh 24 giờ) "
            "÷ tổng thiết bị × 100; chỉ tính ở hiện tại",
            formula_en="devices silent longer than normal for their kind (cameras, probes, "
            "sensors 2 h; vehicles 12 h; power, security cameras 24 h) ÷ all devices × 100; "
            "current state only",
            direction="lower",
            sources=("devices (last event, status)",),
            snapshot=True,
            has_trend=False,
        ),
    )
}


def kpi(kpi_id: str) -> KpiDef:
    """The KPI with this id (KeyError naming the valid ones otherwise)."""
    try:
        return KPIS[kpi_id]
    except KeyError:
        raise KeyError(f"unknown KPI {kpi_id!r}; expected one of {', '.join(KPIS)}") from None


# --- time windows ----------------------------------------------------------------------

WINDOW_KEYS = ("24h", "7d", "30d", "custom")
_WINDOW_DAYS = {"7d": 7, "30d": 30}


def floor_hour(ts: datetime) -> datetime:
    """Start of the UTC hour holding ts."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Window:
    """A period [since, until) on hour boundaries, with the clock it was asked at."""

    key: str
    since: datetime
    until: datetime
    now: datetime
    shift: timedelta

    @property
    def grain(self) -> Literal["hour", "day"]:
        """Trend buckets: hours for a day or two, local days beyond."""
        return "hour" if self.until - self.since <= timedelta(hours=48) else "day"

    @property
    def at(self) -> datetime:
        """When snapshot KPIs are read: now for a window reaching the present, else its end."""
        return self.now if self.until >= floor_hour(self.now) else self.until

    def previous(self) -> Window:
        """The comparison period: same length, one step (a day multiple for day windows) earlier."""
        return Window(
            self.key, self.since - self.shift, self.until - self.shift, self.now, self.shift
        )

    def buckets(self) -> list[tuple[datetime, datetime, bool]]:
        """Trend buckets (start, end, partial) covering [since, until)."""
        out = []
        if self.grain == "hour":
            t = self.since
            while t < self.until:
                out.append((t, t + timedelta(hours=1), False))
                t += timedelta(hours=1)
            return out
        day = local_day(self.since)
        while local_midnight(day) < self.until:
            lo, hi = local_midnight(day), local_midnight(day + timedelta(days=1))
            out.append(
                (max(lo, self.since), min(hi, self.until), lo < self.since or hi > self.until)
            )
            day += timedelta(days=1)
        return out


def make_window(
    key: str,
    now: datetime | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
) -> Window:
    """24h: the last 24 whole hours; 7d/30d: today so far and the days before; custom: local dates.

    7d and 30d compare with the same stretch N days earlier, up to the same clock hour, so a
    partial today is compared with an equally partial day.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    top = floor_hour(now)
    if key == "24h":
        return Window(key, top - timedelta(hours=24), top, now, timedelta(hours=24))
    if key in _WINDOW_DAYS:
        days = _WINDOW_DAYS[key]
        # At a local midnight "today so far" is empty: the window is then the N whole days.
        today = local_day(top - timedelta(microseconds=1))
        since = local_midnight(today - timedelta(days=days - 1))
        return Window(key, since, top, now, timedelta(days=days))
    if key == "custom":
        if start is None or end is None:
            raise ValueError("a custom window needs a start and an end date")
        if end < start:
            start, end = end, start
        since = local_midnight(start)
        until = min(local_midnight(end + timedelta(days=1)), top)
        if until <= since:
            raise ValueError(f"the period {start}..{end} has no whole hour before now")
        return Window(key, since, until, now, timedelta(days=(end - start).days + 1))
    raise ValueError(f"unknown window {key!r}; expected one of {', '.join(WINDOW_KEYS)}")


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """A KPI value for one unit, with what it was computed from."""

    value: float | None
    numerator: float = 0.0
    denominator: float | None = None
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Point:
    """One trend bucket."""

    start: datetime
    end: datetime
    value: float | None
    partial: bool = False


def _ratio(num: float, den: float | None, scale: float) -> float | None:
    return num / den * scale if den else None


def _population(unit: str) -> int | None:
    g = geography()
    if unit == "":
        return sum(p.population or 0 for p in g.provinces.values())
    if len(unit) == 2:
        return g.province(unit).population
    return g.commune(unit).population


def _units(province: str | None) -> list[str]:
    g = geography()
    if province is None:
        return list(g.provinces)
    return [c.code for c in g.communes_of(province)]


def _scope(province: str | None, ward: str | None) -> tuple[str, str | None, str | None]:
    """(unit code for totals, province filter, ward filter); '' is the nation."""
    if ward is not None:
        return ward, geography().commune(ward).province_code, ward
    return province or "", province, None


class _Family:
    """How one kind of KPI is computed per unit, in total and as a trend."""

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        raise NotImplementedError

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        raise NotImplementedError

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        raise NotImplementedError


def _group(province: str | None) -> Literal["province", "ward"]:
    return "province" if province is None else "ward"


class _CountShare(_Family):
    """Counts of KPI facts turned into a rate or a share: value = f(counts by metric, unit)."""

    def __init__(
        self,
        metrics: Sequence[str],
        value: Callable[[dict[str, float], str], Value],
    ) -> None:
        self.metrics = tuple(metrics)
        self.value = value

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        counts: dict[str, dict[str, float]] = defaultdict(dict)
        for r in store.kpi_counts(
            self.metrics, w.since, w.until, group=_group(province), province=province
        ):
            counts[r["unit"]][r["metric"]] = r["n"]
        return {u: self.value(counts.get(u, {}), u) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        unit, p, wd = _scope(province, ward)
        rows = store.kpi_counts(self.metrics, w.since, w.until, group="total", province=p, ward=wd)
        return self.value({r["metric"]: r["n"] for r in rows}, unit)

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        unit, p, wd = _scope(province, ward)
        rows = store.kpi_count_series(self.metrics, w.since, w.until, w.grain, province=p, ward=wd)
        by_bucket: dict[Any, dict[str, float]] = defaultdict(dict)
        for r in rows:
            by_bucket[r["bucket"]][r["metric"]] = r["n"]
        out = []
        for lo, hi, partial in w.buckets():
            key = lo if w.grain == "hour" else local_day(lo)
            out.append(Point(lo, hi, self.value(by_bucket.get(key, {}), unit).value, partial))
        return out


def _per_10k(counts: dict[str, float], unit: str) -> Value:
    n = float(sum(counts.values()))
    pop = _population(unit)
    return Value(_ratio(n, pop, 10_000), n, pop, dict(counts))


def _on_time(counts: dict[str, float], unit: str) -> Value:
    arrivals = counts.get(ARRIVAL_METRIC, 0.0)
    on_time = counts.get(ON_TIME_METRIC, 0.0)
    return Value(_ratio(on_time, arrivals, 100), on_time, arrivals)


class _TransportAlarms(_Family):
    """Panic and overcrowding alarms (alarms table) per 1,000 trips (trip rollup)."""

    @staticmethod
    def _value(alarms: dict[str, float], trips: float) -> Value:
        n = float(sum(alarms.values()))
        return Value(_ratio(n, trips, 1000), n, trips, dict(alarms))

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        g = _group(province)
        trips = {
            r["unit"]: r["n"]
            for r in store.kpi_counts([TRIP_METRIC], w.since, w.until, group=g, province=province)
        }
        alarms: dict[str, dict[str, float]] = defaultdict(dict)
        for r in store.alarm_counts(
            TRANSPORT_ALARM_KINDS, w.since, w.until, group=g, province=province
        ):
            alarms[r["unit"]][r["kind"]] = r["n"]
        return {u: self._value(alarms.get(u, {}), trips.get(u, 0)) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        _, p, wd = _scope(province, ward)
        trips = store.kpi_counts(
            [TRIP_METRIC], w.since, w.until, group="total", province=p, ward=wd
        )
        alarms = store.alarm_counts(
            TRANSPORT_ALARM_KINDS, w.since, w.until, group="total", province=p, ward=wd
        )
        return self._value({r["kind"]: r["n"] for r in alarms}, sum(r["n"] for r in trips))

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        _, p, wd = _scope(province, ward)
        trips: dict[Any, float] = defaultdict(float)
        for r in store.kpi_count_series(
            [TRIP_METRIC], w.since, w.until, w.grain, province=p, ward=wd
        ):
            trips[r["bucket"]] += r["n"]
        alarms: dict[Any, dict[str, float]] = defaultdict(dict)
        for r in store.alarm_counts(
            TRANSPORT_ALARM_KINDS, w.since, w.until, group=w.grain, province=p, ward=wd
        ):
            alarms[r["unit"]][r["kind"]] = r["n"]
        out = []
        for lo, hi, partial in w.buckets():
            key = lo if w.grain == "hour" else local_day(lo)
            out.append(
                Point(lo, hi, self._value(alarms.get(key, {}), trips.get(key, 0)).value, partial)
            )
        return out


class _AlarmHandling(_Family):
    """Medians and SLA share from the alarms opened in the period."""

    def __init__(self, pick: Callable[[dict[str, Any]], Value], medians: tuple[str, ...]) -> None:
        self.pick = pick
        self.medians = medians

    def _rows(self, store: Store, w: Window, **kw: Any) -> list[dict[str, Any]]:
        # Imported here: ioc.alarms and ioc.store import each other at load time.
        from ioc.alarms import ACK_SLA_S, RESOLVE_SLA_S

        return store.alarm_handling(
            w.since, w.until, w.now, ACK_SLA_S, RESOLVE_SLA_S, medians=self.medians, **kw
        )

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        rows = {
            r["unit"]: r for r in self._rows(store, w, group=_group(province), province=province)
        }
        return {u: self.pick(rows.get(u, {})) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        _, p, wd = _scope(province, ward)
        rows = self._rows(store, w, group="total", province=p, ward=wd)
        return self.pick(rows[0] if rows else {})

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        _, p, wd = _scope(province, ward)
        rows = {r["unit"]: r for r in self._rows(store, w, group=w.grain, province=p, ward=wd)}
        out = []
        for lo, hi, partial in w.buckets():
            key = lo if w.grain == "hour" else local_day(lo)
            out.append(Point(lo, hi, self.pick(rows.get(key, {})).value, partial))
        return out


def _ack_median(r: dict[str, Any]) -> Value:
    m = r.get("ack_median_s")
    return Value(None if m is None else m / 60, float(r.get("n_ack", 0)), float(r.get("n", 0)))


def _resolve_median(r: dict[str, Any]) -> Value:
    m = r.get("resolve_median_s")
    return Value(None if m is None else m / 60, float(r.get("n_resolved", 0)), float(r.get("n", 0)))


def _sla_share(r: dict[str, Any]) -> Value:
    met, missed = float(r.get("sla_met", 0)), float(r.get("sla_missed", 0))
    pending = float(r.get("n", 0)) - met - missed
    return Value(
        _ratio(met, met + missed, 100),
        met,
        met + missed,
        {"met": met, "missed": missed, "pending": pending},
    )


class _Cameras(_Family):
    """Share of camera-time without an open health condition."""

    @staticmethod
    def _value(camera_s: float, down_s: float, cameras: float = 0) -> Value:
        return Value(
            _ratio(camera_s - down_s, camera_s, 100),
            camera_s - down_s,
            camera_s,
            {"cameras": cameras, "down_hours": down_s / 3600},
        )

    @staticmethod
    def _end(w: Window) -> datetime:
        return min(w.until, w.now)

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        rows = {
            r["unit"]: r
            for r in store.camera_time(
                w.since, self._end(w), group=_group(province), province=province
            )
        }
        out = {}
        for u in _units(province):
            r = rows.get(u)
            out[u] = self._value(r["camera_s"], r["down_s"], r["cameras"]) if r else Value(None)
        return out

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        _, p, wd = _scope(province, ward)
        rows = store.camera_time(w.since, self._end(w), group="total", province=p, ward=wd)
        return (
            self._value(rows[0]["camera_s"], rows[0]["down_s"], rows[0]["cameras"])
            if rows
            else Value(None)
        )

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        _, p, wd = _scope(province, ward)
        end = self._end(w)
        first_seen, down = store.camera_intervals(w.since, end, province=p, ward=wd)
        seen = np.asarray(first_seen, dtype=float)
        starts = np.asarray([s for s, _ in down], dtype=float)
        now_s = epoch(end)
        ends = np.asarray([now_s if e is None else e for _, e in down], dtype=float)
        out = []
        for lo, hi, partial in w.buckets():
            a, b = epoch(lo), min(epoch(hi), now_s)
            if b <= a:
                out.append(Point(lo, hi, None, partial))
                continue
            camera_s = float(np.clip(b - np.maximum(seen, a), 0, None).sum())
            down_s = float(np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0, None).sum())
            out.append(Point(lo, hi, self._value(camera_s, down_s).value, partial))
        return out


class _Villages(_Family):
    """Villages with an open gap or outage at a moment; optionally the population share."""

    def __init__(self, service: str, population_share: bool = False) -> None:
        self.service = service
        self.population_share = population_share

    def _value(self, villages: float, affected: set[str], unit_communes: Sequence[str]) -> Value:
        if not self.population_share:
            return Value(villages, villages, None, {"communes": float(len(affected))})
        g = geography()
        pops = {c: g.commune(c).population or 0 for c in unit_communes}
        total = float(sum(pops.values()))
        hit = float(sum(pops.get(c, 0) for c in affected))
        return Value(_ratio(hit, total, 100), hit, total, {"communes": float(len(affected))})

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        villages: dict[str, float] = defaultdict(float)
        affected: dict[str, set[str]] = defaultdict(set)
        for r in store.villages_out(self.service, w.at, group=_group(province), province=province):
            villages[r["unit"]] += r["villages"]
            if r["ward"]:
                affected[r["unit"]].add(r["ward"])
        g = geography()
        out = {}
        for u in _units(province):
            communes = [c.code for c in g.communes_of(u)] if province is None else [u]
            out[u] = self._value(villages.get(u, 0.0), affected.get(u, set()), communes)
        return out

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        unit, p, wd = _scope(province, ward)
        rows = store.villages_out(self.service, w.at, group="total", province=p, ward=wd)
        affected = {r["ward"] for r in rows if r["ward"]}
        return self._value(sum(r["villages"] for r in rows), affected, _communes_in(unit))

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        unit, p, wd = _scope(province, ward)
        rows = store.village_intervals(self.service, w.since, w.at, province=p, ward=wd)
        starts = np.asarray([r["start_s"] for r in rows], dtype=float)
        ends = np.asarray([np.inf if r["end_s"] is None else r["end_s"] for r in rows], dtype=float)
        keys = [(r["ward"], r["village"]) for r in rows]
        communes = _communes_in(unit)
        out = []
        for lo, hi, partial in w.buckets():
            t = min(hi, w.at)
            if t <= lo:
                out.append(Point(lo, hi, None, partial))
                continue
            ts = epoch(t)
            open_ = np.nonzero((starts <= ts) & (ends > ts))[0]
            villages = {keys[i] for i in open_}
            affected = {wd_ for wd_, _ in villages if wd_}
            out.append(Point(lo, hi, self._value(len(villages), affected, communes).value, partial))
        return out


def _communes_in(unit: str) -> list[str]:
    g = geography()
    if unit == "":
        return list(g.communes)
    if len(unit) == 2:
        return [c.code for c in g.communes_of(unit)]
    return [unit]


class _Silent(_Family):
    """Devices silent longer than their domain's normal gap, at the current moment only."""

    @staticmethod
    def _value(rows: Sequence[dict[str, Any]]) -> Value:
        sources = float(sum(r["sources"] for r in rows))
        silent = float(sum(r["silent"] for r in rows))
        by_domain: dict[str, float] = defaultdict(float)
        for r in rows:
            by_domain[r["domain"]] += r["silent"]
        return Value(_ratio(silent, sources, 100), silent, sources, dict(by_domain))

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        if w.at < floor_hour(w.now):
            return {u: Value(None) for u in _units(province)}
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in store.silent_sources(
            w.now, EXPECTED_SILENCE_S, group=_group(province), province=province
        ):
            grouped[r["unit"]].append(r)
        return {u: self._value(grouped.get(u, [])) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        if w.at < floor_hour(w.now):
            return Value(None)
        _, p, wd = _scope(province, ward)
        return self._value(
            store.silent_sources(w.now, EXPECTED_SILENCE_S, group="total", province=p, ward=wd)
        )

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        return []


_FAMILIES: dict[str, _Family] = {
    "security_incidents": _CountShare(ORDER_INCIDENT_KINDS, _per_10k),
    "traffic_violations": _CountShare(TRAFFIC_ORDER_KINDS, _per_10k),
    "alarm_ack_median": _AlarmHandling(_ack_median, ("ack",)),
    "alarm_resolve_median": _AlarmHandling(_resolve_median, ("res",)),
    "alarm_sla": _AlarmHandling(_sla_share, ()),
    "camera_availability": _Cameras(),
    "coverage_gap_villages": _Villages("coverage"),
    "coverage_gap_population": _Villages("coverage", population_share=True),
    "power_out_villages": _Villages("power"),
    "transport_on_time": _CountShare((ARRIVAL_METRIC, ON_TIME_METRIC), _on_time),
    "transport_alarms": _TransportAlarms(),
    "silent_sources": _Silent(),
}
assert set(_FAMILIES) == set(KPIS)


def unit_values(
    store: Store, kpi_id: str, window: Window, *, province: str | None = None
) -> dict[str, Value]:
    """The KPI for every province (province=None) or every commune of one province."""
    return _FAMILIES[kpi_id].units(store, kpi(kpi_id), window, province)


def total_value(
    store: Store,
    kpi_id: str,
    window: Window,
    *,
    province: str | None = None,
    ward: str | None = None,
) -> Value:
    """The KPI for the nation, one province or one commune."""
    return _FAMILIES[kpi_id].total(store, kpi(kpi_id), window, province, ward)


def trend(
    store: Store,
    kpi_id: str,
    window: Window,
    *,
    province: str | None = None,
    ward: str | None = None,
) -> list[Point]:
    """The KPI per trend bucket (hours or local days) for the nation, a province or a commune."""
    return _FAMILIES[kpi_id].series(store, kpi(kpi_id), window, province, ward)


def ranks(values: dict[str, Value], kpi_id: str) -> dict[str, int]:
    """Rank of each unit, 1 = best for the KPI's direction; ties share a rank; no value, no rank."""
    k = kpi(kpi_id)
    have = [(u, v.value) for u, v in values.items() if v.value is not None]
    have.sort(key=lambda item: item[1], reverse=k.direction == "higher")
    out: dict[str, int] = {}
    prev: float | None = None
    rank = 0
    for i, (unit, value) in enumerate(have, start=1):
        if prev is None or not math.isclose(value, prev, rel_tol=1e-9, abs_tol=1e-12):
            rank = i
        out[unit] = rank
        prev = value
    return out


def change(current: float | None, previous: float | None, kpi_id: str) -> tuple[float | None, str]:
    """Difference to the previous period and whether it is 'better', 'worse' or 'same'."""
    if current is None or previous is None:
        return None, "none"
    delta = current - previous
    if math.isclose(delta, 0.0, abs_tol=1e-9):
        return 0.0, "same"
    improving = delta < 0 if kpi(kpi_id).direction == "lower" else delta > 0
    return delta, "better" if improving else "worse"
