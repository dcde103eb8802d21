"""Formatting for display: local time, durations, place names. Pure functions."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from ioc.geo import geography

SEVERITY_COLOURS = {
    0: "#7f8ea3",  # info: slate
    1: "#3fb68b",  # low: green
    2: "#e8c547",  # medium: amber
    3: "#f08a3c",  # high: orange
    4: "#ef4b4b",  # critical: red
}
DOMAIN_COLOURS = {
    "security": "#ef6b6b",
    "transport": "#4aa3ff",
    "network": "#b68cff",
    "power": "#f5c542",
    "camera": "#3fc7c7",
    "sensor": "#9ccc65",
}
HEALTH_COLOURS = {
    "ok": "#3fb68b",
    "fault": "#f0a030",
    "offline": "#ef4b4b",
    "unknown": "#7f8ea3",
}


@cache
def zone(name: str) -> ZoneInfo:
    """A cached time zone."""
    return ZoneInfo(name)


def local_time(ts: datetime, tz: str) -> datetime:
    """ts in the display time zone."""
    return ts.astimezone(zone(tz))


def fmt_time(ts: datetime | None, tz: str, *, date: bool = False, seconds: bool = True) -> str:
    """HH:MM:SS (or with DD/MM) in the display time zone; '—' for None."""
    if ts is None:
        return "—"
    local = local_time(ts, tz)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{local:%d/%m} {clock}" if date else clock


def fmt_datetime(ts: datetime | None, tz: str) -> str:
    """DD/MM/YYYY HH:MM:SS in the display time zone."""
    return "—" if ts is None else local_time(ts, tz).strftime("%d/%m/%Y %H:%M:%S")


def fmt_duration(seconds: float) -> str:
    """A compact duration: 45s, 12m05s, 3h07m, 2d04h."""
    s = int(abs(seconds))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{sign}{s // 86400}d{(s % 86400) // 3600:02d}h"


def fmt_age(start: datetime, end: datetime) -> str:
    """How long since start (never negative: clocks and rebased replays may disagree)."""
    return fmt_duration(max(0.0, (end - start).total_seconds()))


def epoch_ms(ts: datetime | None) -> int | None:
    """Milliseconds since the epoch, for the browser."""
    return None if ts is None else int(ts.timestamp() * 1000)


def province_name(code: str | None) -> str:
    """Short province name with diacritics ("Lâm Đồng"), or the code if unknown."""
    if not code:
        return "—"
    geo = geography()
    return geo.provinces[code].short_name if code in geo.provinces else code


def commune_name(code: str | None) -> str | None:
    """Commune name with its type ("Phường Xuân Hương - Đà Lạt"), None if unknown."""
    if not code:
        return None
    geo = geography()
    return geo.communes[code].name if code in geo.communes else None


def place_name(
    province: str | None, ward: str | None, lat: float | None = None, lon: float | None = None
) -> str:
    """Commune and province with diacritics, or just the province when the commune is unknown.

    Devices known only from their status message have a position but no ward: find it.
    """
    if ward is None and lat is not None and lon is not None:
        found = geography().locate(lat, lon)
        if found is not None and found.province_code == province:
            ward = found.code
    commune = commune_name(ward)
    prov = province_name(province)
    return f"{commune}, {prov}" if commune else prov
