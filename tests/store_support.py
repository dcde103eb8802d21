"""Events for the store tests: validated like ingest does, with a fixed id per number."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ioc.events import Event

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
    lat, lon = kw.pop("at", DALAT if province == "68" else HUE)
    return Event.model_validate(
        {
            "id": f"e-{i}",
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
