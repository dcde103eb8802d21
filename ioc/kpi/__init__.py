"""KPIs for provincial leaders, each defined once: formula, unit, direction, source events.

The reads use only the KPI state that the ingest writer keeps (ioc/store/kpi_state.py,
queried through ioc/store/kpi_queries.py), never raw events. Values are per province
(national map) or per commune (one province's map). What the writer counts per event
lives below the store, in ioc.facts; it is re-exported here for callers of ioc.kpi.
"""

from __future__ import annotations

from ioc.facts import (
    ARRIVAL_METRIC,
    CAMERA_DOMAINS,
    CAMERA_DOWN_KINDS,
    INCIDENT_KINDS,
    ON_TIME_EARLY_S,
    ON_TIME_LATE_S,
    ON_TIME_METRIC,
    ORDER_INCIDENT_KINDS,
    TRAFFIC_ORDER_KINDS,
    TRIP_METRIC,
    VILLAGE_OUTAGE_KINDS,
    floor_hour,
    kpi_facts,
    trip_key,
)
from ioc.kpi.definitions import (
    EXPECTED_SILENCE_S,
    KPIS,
    TRANSPORT_ALARM_KINDS,
    WINDOW_KEYS,
    Direction,
    KpiDef,
    Point,
    Value,
    Window,
    format_number,
    kpi,
    make_window,
)
from ioc.kpi.reads import change, ranks, total_value, trend, unit_values

__all__ = [
    "ARRIVAL_METRIC",
    "CAMERA_DOMAINS",
    "CAMERA_DOWN_KINDS",
    "EXPECTED_SILENCE_S",
    "INCIDENT_KINDS",
    "ORDER_INCIDENT_KINDS",
    "TRAFFIC_ORDER_KINDS",
    "KPIS",
    "ON_TIME_EARLY_S",
    "ON_TIME_LATE_S",
    "ON_TIME_METRIC",
    "TRANSPORT_ALARM_KINDS",
    "TRIP_METRIC",
    "VILLAGE_OUTAGE_KINDS",
    "WINDOW_KEYS",
    "Direction",
    "KpiDef",
    "Point",
    "Value",
    "Window",
    "change",
    "floor_hour",
    "format_number",
    "kpi",
    "kpi_facts",
    "make_window",
    "ranks",
    "total_value",
    "trend",
    "trip_key",
    "unit_values",
]
