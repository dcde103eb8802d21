"""Realistic valid events, and one message of every invalid kind, for the benchmark and tests.

The valid mix follows what a provincial IOC receives: mostly telemetry (vehicle
positions, signal samples, sensor readings, motion), some camera detections with
snapshot references, and about 2% of events that open or merge alarms.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ioc.events import TOPIC_PREFIX, DeviceStatus, Event
from ioc.geo import geography

# Provinces of the bench stream: the two big cities and a spread of others.
BENCH_PROVINCES = ("01", "79", "68", "48", "31", "92", "56", "38", "04", "96")

Wire = tuple[str, bytes]


def _pick_kind(r: float) -> str:
    for kind, cumulative in (
        ("transport.position", 0.30),
        ("network.signal_sample", 0.50),
        ("sensor.reading", 0.58),
        ("camera.motion", 0.73),
        ("security.plate_read", 0.86),
        ("security.intrusion", 0.99),
        ("camera.offline", 0.995),
    ):
        if r < cumulative:
            return kind
    return "security.fire"


def _snapshot(rnd: random.Random, province: str, ward: str, n: int) -> dict:
    host = f"10.{int(province)}.{int(ward) % 250}.{n % 250 + 1}"
    return {
        "path": f"snapshots/{province}/{ward}/{n:010d}.jpg",
        "url": f"http://{host}/ISAPI/Streaming/channels/101/picture?snapShotImageType=JPEG",
        "sha256": f"{rnd.getrandbits(256):064x}",
        "size": rnd.randrange(30_000, 250_000),
        "width": 1920,
        "height": 1080,
    }


def make_events(
    n: int,
    *,
    run_id: str = "bench",
    now: datetime | None = None,
    window: timedelta = timedelta(seconds=60),
    seed: int = 1,
    provinces: tuple[str, ...] = BENCH_PROVINCES,
) -> list[Event]:
    """n distinct valid events (ids `{run_id}-{i}-...`), timestamps spread over `window` before now."""
    geo = geography()
    rnd = random.Random(seed)
    now = now or datetime.now(UTC)
    communes = {p: geo.communes_of(p)[:60] for p in provinces}
    window_ms = max(1, int(window.total_seconds() * 1000))
    out = []
    for i in range(n):
        province = provinces[i % len(provinces)]
        commune = communes[province][rnd.randrange(len(communes[province]))]
        ward = commune.code
        lat, lon = round(commune.lat, 6), round(commune.lon, 6)
        ts = now - timedelta(milliseconds=rnd.randrange(window_ms))
        kind = _pick_kind(rnd.random())
        severity = 0
        place: dict = {"ward": ward, "lat": lat, "lon": lon}
        device = rnd.randrange(40)
        if kind == "transport.position":
            source = f"bus-{province}-{device:03d}"
            # Vehicles do not know their ward: the edge derives it from the position.
            place = {"lat": round(lat + rnd.uniform(-0.003, 0.003), 6), "lon": lon}
            attrs: dict = {
                "vehicle": f"{province}B-{device:05d}",
                "route": f"R{device % 12:02d}",
                "trip": f"trip-{ts:%Y%m%d}-{device:03d}-{i // 500:04d}",
                "speed_kmh": round(rnd.uniform(0, 60), 1),
                "heading": round(rnd.uniform(0, 359.9), 1),
                "occupancy": rnd.randrange(0, 70),
                "capacity": 80,
            }
        elif kind == "network.signal_sample":
            source = f"probe-{ward}"
            attrs = {
                "probe": source,
                "village": f"Thôn {rnd.choice(('Đông', 'Tây', 'Nam', 'Bắc'))} {device % 9 + 1}",
                "operator": rnd.choice(("Viettel", "VNPT", "MobiFone")),
                "technology": rnd.choice(("4G", "5G", "3G")),
                "rsrp_dbm": round(rnd.uniform(-125, -70), 1),
                "rsrq_db": round(rnd.uniform(-20, -3), 1),
                "sinr_db": round(rnd.uniform(-5, 25), 1),
            }
        elif kind == "sensor.reading":
            source = f"sensor-{ward}-{device % 4}"
            metric, unit, low, high = rnd.choice(
                (("pm25", "ug/m3", 5, 180), ("water_level", "cm", 0, 450), ("temp", "C", 12, 40))
            )
            attrs = {"metric": metric, "value": round(rnd.uniform(low, high), 2), "unit": unit}
        elif kind == "camera.motion":
            source = f"cam-{ward}-{device % 8}"
            attrs = {
                "area": round(rnd.uniform(0.01, 0.6), 3),
                "state": "opened",
                "vendor": "dahua",
                "vendor_event": "VideoMotion",
                "snapshot": _snapshot(rnd, province, ward, i),
            }
        elif kind == "security.plate_read":
            source = f"anpr-{ward}-{device % 4}"
            attrs = {
                "camera": source,
                "plate": f"{province}A-{rnd.randrange(10000, 99999)}",
                "vehicle_type": rnd.choice(("car", "motorbike", "truck")),
                "direction": rnd.choice(("in", "out")),
                "confidence": round(rnd.uniform(0.7, 1.0), 3),
                "vendor": "hikvision",
                "snapshot": _snapshot(rnd, province, ward, i),
            }
        elif kind == "camera.offline":
            source = f"cam-{ward}-{device % 8}"
            severity = 2
            attrs = {"state": "opened", "condition": f"offline-{source}", "vendor": "hikvision"}
        else:  # security.intrusion and security.fire
            source = f"cam-{ward}-{device % 8}"
            # One intrusion in fifteen is serious enough to open an alarm.
            severity = 3 if kind == "security.fire" or rnd.random() < 1 / 15 else rnd.randrange(3)
            attrs = {
                "camera": source,
                "confidence": round(rnd.uniform(0.5, 1.0), 3),
                "zone": rnd.choice(("cong-chinh", "kho-hang", "bai-xe", "hang-rao")),
                "object_count": rnd.randrange(1, 4),
                "vendor": "hikvision",
                "vendor_event": "fielddetection",
                "snapshot": _snapshot(rnd, province, ward, i),
            }
        out.append(
            Event(
                id=f"{run_id}-{i:09d}-{rnd.getrandbits(64):016x}",
                ts=ts,
                source=source,
                kind=kind,
                severity=severity,
                province=province,
                attrs=attrs,
                **place,
            )
        )
    return out


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
