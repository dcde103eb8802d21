"""Domain facts below the store: what the ingest writer derives from each stored event.

The KPI facts counted per event, trip identity, the kind groups the KPI state keeps, and
the local-day helpers (Asia/Ho_Chi_Minh, UTC+7, no daylight saving). The store imports
this module; it imports nothing of the store. KPI definitions and reads live in ioc.kpi.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ioc.events import CAMERA_HEALTH_KINDS, Event

LOCAL_OFFSET = timedelta(hours=7)
LOCAL_OFFSET_S = 7 * 3600

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
# Sources of these domains are cameras: fixed cameras send detections and health.
CAMERA_DOMAINS = ("camera", "security")
CAMERA_DOWN_KINDS = frozenset(CAMERA_HEALTH_KINDS)
VILLAGE_OUTAGE_KINDS: dict[str, tuple[str, bool]] = {
    "network.gap_opened": ("coverage", True),
    "network.gap_closed": ("coverage", False),
    "power.outage_started": ("power", True),
    "power.outage_restored": ("power", False),
}

_INCIDENTS = frozenset(INCIDENT_KINDS)
# Vietnam reports traffic order apart from security and order: the security KPI counts every
# incident kind but traffic violations, and traffic violations have a KPI of their own.
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


# --- time -------------------------------------------------------------------------------


def local_day(ts: datetime) -> date:
    """The Asia/Ho_Chi_Minh calendar date of an instant."""
    return (ts.astimezone(UTC) + LOCAL_OFFSET).date()


def local_midnight(day: date) -> datetime:
    """The UTC instant at which a local calendar day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - LOCAL_OFFSET


def epoch(ts: datetime) -> float:
    """Seconds since 1970 of an aware datetime."""
    return ts.timestamp()


def floor_hour(ts: datetime) -> datetime:
    """Start of the UTC hour holding ts."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def split_window(
    since: datetime, until: datetime
) -> tuple[list[tuple[datetime, datetime]], tuple[date, date] | None]:
    """[since, until) on hour boundaries as hour ranges at its edges and the whole local days between.

    Returns (hour ranges, (first day, day after the last) or None).
    """
    first = local_day(since)
    if local_midnight(first) < since:
        first += timedelta(days=1)
    end = local_day(until)
    if local_midnight(end) <= local_midnight(first) or local_midnight(first) >= until:
        return ([(since, until)] if since < until else []), None
    hours = []
    if since < local_midnight(first):
        hours.append((since, local_midnight(first)))
    if local_midnight(end) < until:
        hours.append((local_midnight(end), until))
    return hours, (first, end)
