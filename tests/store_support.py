"""Events for the store tests: validated like ingest does, with a fixed id per number."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc.events import Event
from ioc.facts import kpi_facts
from ioc.store import Store

DALAT = (11.94, 108.44)
HUE = (16.46, 107.59)


def store_event(
    i: int,
    *,
    ts: datetime,
    kind: str = "security.intrusion",
    severity: int = 3,
    province: str = "68",
    source: str = "cam-1",
    **kw: Any,
) -> Event:
    """Event e-{i}; lat/lon in Đà Lạt for Lâm Đồng (68), else in Huế, unless `at` is given."""
    attrs = kw.pop("attrs", {"camera": source, "confidence": 0.9})
    at = kw.pop("at", None)
    return validated_event(
        f"e-{i}",
        ts,
        kind,
        source=source,
        severity=severity,
        province=province,
        at=at,
        attrs=attrs,
        **kw,
    )


def validated_event(
    event_id: str,
    ts: datetime,
    kind: str,
    *,
    source: str,
    severity: int,
    province: str,
    at: tuple[float, float] | None,
    attrs: dict[str, Any],
    **kw: Any,
) -> Event:
    """An event validated like ingest does; at None: Đà Lạt for Lâm Đồng (68), else Huế."""
    lat, lon = at or (DALAT if province == "68" else HUE)
    return Event.model_validate(
        {
            "id": event_id,
            "ts": ts.isoformat(),
            "source": source,
            "kind": kind,
            "severity": severity,
            "province": province,
            "lat": lat,
            "lon": lon,
            "attrs": attrs,
            **kw,
        }
    )


def rollup_total(store: Store) -> int:
    """Stored events if the KPI state derived at ingest counts each one's facts once, else -1."""
    now = datetime.now(UTC)
    since = (now - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    until = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    events = store.find_events(since=since, until=until, limit=1_000_000)
    expected = Counter(m for e in events for m in kpi_facts(e))
    got = store.kpi_counts(sorted(expected), since, until, group="total")
    return len(events) if {r["metric"]: r["n"] for r in got} == expected else -1
