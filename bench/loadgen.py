"""Realistic valid events, and one message of every invalid kind, for the benchmark and tests.

The valid events are the synthetic world's (sample_feeds.generator.bulk) over the last
minute, with the kind mix of a live stream: mostly telemetry (vehicle positions, signal
samples, sensor readings, motion), some camera detections with snapshot references, and
about 2% of events that open or merge alarms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ioc.events import TOPIC_PREFIX, DeviceStatus, Event
from sample_feeds.generator.bulk import BulkWorld

# Provinces of the bench stream: the two big cities and a spread of others.
BENCH_PROVINCES = ("01", "79", "68", "48", "31", "92", "56", "38", "04", "96")
# A live minute as the ingest edge sees it: telemetry, camera detections with their
# snapshots, and about 2% of events that open or merge alarms.
LIVE_MIX: dict[str, float] = {
    "transport.position": 0.30,
    "network.signal_sample": 0.20,
    "sensor.reading": 0.08,
    "camera.motion": 0.15,
    "security.plate_read": 0.13,
    "security.intrusion": 0.13,
    "camera.offline": 0.005,
    "security.fire": 0.005,
}

Wire = tuple[str, bytes]


def make_events(
    n: int,
    *,
    run_id: str = "bench",
    now: datetime | None = None,
    window: timedelta = timedelta(seconds=60),
    seed: int = 1,
    provinces: tuple[str, ...] = BENCH_PROVINCES,
) -> list[Event]:
    """n distinct valid events of the synthetic world (ids `{run_id}-...`) in the `window` before
    now, in time order."""
    now = now or datetime.now(UTC)
    world = BulkWorld(
        n, now - window, now, seed, provinces=provinces, mix=LIVE_MIX, snapshots=True,
        id_prefix=run_id,
    )  # fmt: skip
    # Vehicles do not know their ward: the edge derives it from the position (see to_wire).
    return [
        Event.model_validate(e.model_dump(exclude={"ward"})) if e.domain == "transport" else e
        for e in world.events()
    ]


def to_wire(events: list[Event], prefix: str = TOPIC_PREFIX) -> list[Wire]:
    """(topic, payload) of each event, as a device would publish it (vehicles send no ward)."""
    return [
        (
            e.topic(prefix),
            e.model_dump_json(exclude_none=True, exclude={"ward"}).encode()
            if e.domain == "transport"
            else e.to_json(),
        )
        for e in events
    ]


@dataclass(frozen=True, slots=True)
class InvalidCase:
    """A message that must be dead-lettered, and a fragment its reason must contain."""

    name: str
    topic: str
    payload: bytes
    reason: str


def invalid_messages(
    *,
    run_id: str = "bad",
    now: datetime | None = None,
    prefix: str = TOPIC_PREFIX,
    max_bytes: int = 64 * 1024,
) -> list[InvalidCase]:
    """One message of every invalid kind the edge must dead-letter, with its expected reason."""
    now = now or datetime.now(UTC)
    good = make_events(1, run_id=f"{run_id}-template", now=now)[0]
    base = json.loads(good.to_json())
    topic = good.topic(prefix)

    def variant(name: str, reason: str, topic_: str = topic, **changes: object) -> InvalidCase:
        data = dict(base, id=f"{run_id}-{name}")
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return InvalidCase(name, topic_, json.dumps(data, ensure_ascii=False).encode(), reason)

    src, prov = good.source, good.province
    cases = [
        InvalidCase("malformed_json", topic, b'{"id": "x", "ts": ', "malformed JSON"),
        InvalidCase("invalid_utf8", topic, b'{"id": "\xff\xfe"}', "not valid UTF-8"),
        InvalidCase("not_an_object", topic, b"[1, 2, 3]", "must be a JSON object"),
        variant("missing_field", "severity", severity=None),
        variant("extra_field", "Extra inputs", colour="red"),
        variant("wrong_type", "severity", severity="high"),
        variant("unknown_kind", "unknown kind", kind="security.alien_landing"),
        variant(
            "unknown_province",
            "unknown province",
            province="99",
            topic_=f"{prefix}/99/{good.domain}/{src}/{good.event_name}",
        ),
        variant("unknown_ward", "unknown ward", ward="99999"),
        variant("outside_vietnam", "outside Vietnam", lat=48.8566, lon=2.3522, ward=None),
        variant("too_old", "old", ts=(now - timedelta(days=3650)).isoformat()),
        variant("future", "ahead", ts=(now + timedelta(days=2)).isoformat()),
        variant("bad_attrs", "attrs", attrs={"speed_kmh": -5}),
        InvalidCase(
            "oversized",
            topic,
            json.dumps(dict(base, id=f"{run_id}-oversized", pad="x" * max_bytes)).encode(),
            "exceeds",
        ),
        variant(
            "topic_contradicts",
            "contradicts",
            topic_=f"{prefix}/{prov}/{good.domain}/other-device/{good.event_name}",
        ),
        InvalidCase("topic_shape", f"{prefix}/{prov}/too/short", good.to_json(), "does not match"),
        InvalidCase(
            "bad_status",
            f"{prefix}/{prov}/status/{src}",
            json.dumps({"source": src, "state": "sleeping", "ts": now.isoformat()}).encode(),
            "state",
        ),
    ]
    return cases


def status_message(
    source: str,
    province: str,
    state: str = "online",
    *,
    now: datetime | None = None,
    prefix: str = TOPIC_PREFIX,
) -> Wire:
    """A retained-style device status (topic, payload)."""
    status = DeviceStatus(source=source, state=state, ts=now or datetime.now(UTC))
    return status.topic(province, prefix), status.model_dump_json(exclude_none=True).encode()
