"""The Event model and topic scheme: what is accepted, and why the rest is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ioc.events import (
    KIND_ATTRS,
    DeviceStatus,
    Event,
    InvalidMessage,
    is_status_topic,
    parse_event,
    parse_status,
)

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
GOOD = {
    "id": "cam-17:2026-11-20T03:00:00Z:intrusion",
    "ts": "2026-11-20T10:00:00+07:00",
    "source": "cam-17",
    "kind": "security.intrusion",
    "severity": 3,
    "province": "68",
    "lat": 11.94,
    "lon": 108.44,
    "attrs": {"camera": "cam-17", "confidence": 0.87, "zone": "Cổng chợ Đà Lạt"},
}
TOPIC = "ioc/v1/68/security/cam-17/intrusion"


def raw(**changes) -> bytes:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def test_valid_event_is_normalised():
    e = parse_event(raw(), TOPIC, now=NOW)
    assert e.ts == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    assert e.ward == "24781"  # derived from lat/lon: Phường Xuân Hương - Đà Lạt
    assert (e.domain, e.event_name, e.topic()) == ("security", "intrusion", TOPIC)
    assert parse_event(e.to_json(), TOPIC, now=NOW) == e
    assert e.attrs["zone"] == "Cổng chợ Đà Lạt"


def test_declared_ward_is_kept_and_checked():
    e = parse_event(raw(ward="24781", lat=..., lon=...), TOPIC, now=NOW)
    assert e.ward == "24781" and e.lat is None


@pytest.mark.parametrize(
    ("province", "lat", "lon", "ward"),
    [
        ("56", 8.645, 111.920, "22736"),  # Đảo Trường Sa Lớn
        ("56", 11.43, 114.33, "22736"),  # Đảo Song Tử Tây
        ("56", 9.88, 114.33, "22736"),  # Đảo Sinh Tồn
        ("48", 16.83, 112.34, "20333"),  # Đảo Phú Lâm
    ],
)
def test_camera_on_an_island_is_accepted(province, lat, lon, ward):
    topic = f"ioc/v1/{province}/security/cam-17/intrusion"
    e = parse_event(raw(province=province, lat=lat, lon=lon), topic, now=NOW)
    assert e.ward == ward


def test_every_kind_has_an_attrs_model_and_a_domain():
    assert len(KIND_ATTRS) >= 25
    assert {k.split(".")[0] for k in KIND_ATTRS} == {
        "security",
        "transport",
        "network",
        "power",
        "camera",
        "sensor",
    }


@pytest.mark.parametrize(
    ("payload", "topic", "reason"),
    [
        (b'{"id": "x", ', TOPIC, "malformed JSON"),
        (b"\xff\xfe{}", TOPIC, "not valid UTF-8"),
        (b"[1, 2]", TOPIC, "must be a JSON object"),
        (raw(severity=...), TOPIC, "severity: Field required"),
        (raw(colour="red"), TOPIC, "colour: Extra inputs are not permitted"),
        (raw(severity="high"), TOPIC, "severity: Input should be a valid integer"),
        (raw(severity=7), TOPIC, "severity: Input should be less than or equal to 4"),
        (raw(kind="security.alien"), TOPIC, "unknown kind 'security.alien'"),
        (raw(province="99"), TOPIC, "unknown province code '99'"),
        (raw(ward="99999", lat=..., lon=...), TOPIC, "unknown ward code '99999'"),
        (raw(ward="00004", lat=..., lon=...), TOPIC, "ward 00004 is not in province 68"),
        (raw(lat=13.75, lon=100.5), TOPIC, "outside Vietnam"),
        (
            raw(province="62"),
            "ioc/v1/62/security/cam-17/intrusion",
            "unknown province code '62': province 62 (Tỉnh Kon Tum) is a pre-2025 code:"
            " now 51 Tỉnh Quảng Ngãi",
        ),
        (
            raw(ward="24790", lat=..., lon=...),
            TOPIC,
            "unknown ward code '24790': ward 24790 (Phường 5, Thành phố Đà Lạt, Tỉnh Lâm Đồng)"
            " is a pre-2025 code: now 24787 Phường Cam Ly - Đà Lạt",
        ),
        (raw(lon=...), TOPIC, "lat and lon must be given together"),
        (raw(ts="2020-01-01T00:00:00Z"), TOPIC, "old"),
        (raw(ts="2026-11-21T00:00:00Z"), TOPIC, "ahead"),
        (raw(ts="2026-11-20T03:00:00"), TOPIC, "timezone"),
        (
            raw(attrs={"camera": "c", "confidence": 2}),
            TOPIC,
            "attrs (security.intrusion).confidence",
        ),
        (raw(attrs={"nonsense": 1}), TOPIC, "attrs (security.intrusion).nonsense: Extra"),
        (raw(source="a/b"), TOPIC, "source: String should match pattern"),
        (raw(lat=float("nan")), TOPIC, "lat: Input should be a finite number"),
        (
            raw(attrs={"camera": "c", "confidence": float("inf")}),
            TOPIC,
            "confidence: Input should be a finite number",
        ),
        (raw(), "ioc/v1/46/security/cam-17/intrusion", "contradicts payload"),
        (raw(), "ioc/v1/68/security/cam-18/intrusion", "contradicts payload"),
        (raw(), "ioc/v1/68/security/cam-17", "does not match"),
        (raw(), "other/68/security/cam-17/intrusion", "outside ioc/v1/"),
        (b'{"a": "' + b"x" * 70000 + b'"}', TOPIC, "exceeds the 65536-byte limit"),
    ],
)
def test_invalid_messages_say_why(payload, topic, reason):
    with pytest.raises(InvalidMessage) as info:
        parse_event(payload, topic, now=NOW)
    assert reason in info.value.reason


def test_time_window_only_applies_with_a_clock():
    old = parse_event(raw(ts="2020-01-01T00:00:00Z"), TOPIC)  # replaying history is allowed
    assert old.ts.year == 2020
    with pytest.raises(InvalidMessage, match="old"):
        parse_event(raw(ts="2026-01-01T00:00:00Z"), TOPIC, now=NOW, max_age=timedelta(days=30))


def test_status_topic_round_trip():
    st = DeviceStatus(source="cam-17", state="online", ts=NOW, domain="camera", name="Chợ Đà Lạt")
    topic = st.topic("68")
    assert topic == "ioc/v1/68/status/cam-17" and is_status_topic(topic)
    assert not is_status_topic(TOPIC)
    assert parse_status(st.model_dump_json().encode(), topic) == st
    with pytest.raises(InvalidMessage, match="contradicts"):
        parse_status(st.model_dump_json().encode(), "ioc/v1/68/status/cam-99")
    with pytest.raises(InvalidMessage, match="unknown province"):
        parse_status(st.model_dump_json().encode(), "ioc/v1/99/status/cam-17")
    with pytest.raises(InvalidMessage, match="state"):
        parse_status(
            b'{"source": "cam-17", "state": "sleepy", "ts": "2026-11-20T03:00:00Z"}', topic
        )


def test_event_is_immutable():
    e = Event.model_validate(GOOD)
    with pytest.raises(Exception, match="frozen"):
        e.severity = 0  # type: ignore[misc]
