"""KPI definitions: formula, unit, direction and source events of each KPI, and time windows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ioc.events import CAMERA_HEALTH_KINDS
from ioc.facts import (
    ON_TIME_EARLY_S,
    ON_TIME_LATE_S,
    ORDER_INCIDENT_KINDS,
    TRAFFIC_ORDER_KINDS,
    floor_hour,
    local_day,
    local_midnight,
)

if TYPE_CHECKING:
    pass

TRANSPORT_ALARM_KINDS = ("transport.panic", "transport.overcrowding")
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
