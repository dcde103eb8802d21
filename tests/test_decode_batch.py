"""The cheaper validation path gives the very same events and the very same rejections.

parse_event tries pydantic's model_validate_json first and falls back to the step-by-step
parse, which alone words every rejection; `ioc ingest` derives wards from coordinates per
batch (locate_wards) instead of per message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bench.loadgen import make_events, to_wire
from ingest.decode import Decoder, finish_batch
from ioc.events import Event, InvalidMessage, _parse_event_slowly, parse_event
from ioc.geo import geography

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
BASE = {
    "id": "e1",
    "ts": "2026-12-03T07:00:00Z",
    "source": "cam-1",
    "kind": "security.intrusion",
    "severity": 2,
    "province": "68",
    "attrs": {"confidence": 0.5},
}


def _variants() -> list[bytes]:
    b = json.dumps(BASE)
    texts = [
        b,
        b.replace("0.5", "NaN"),
        b.replace("0.5", "Infinity"),
        b.replace("0.5", "1e400"),
        b.replace('"cam-1"', '"cam-1", "source": "cam-2"'),
        b.replace('"severity": 2', '"severity": 2, "severity": 9'),
        "\ufeff" + b,
        b.replace('"e1"', '"e\\ud800"'),
        b.replace('"severity": 2', '"severity": 2.0'),
        b.replace('"severity": 2', '"severity": "2"'),
        b.replace('"severity": 2', '"severity": 2.5'),
        b.replace('"2026-12-03T07:00:00Z"', "1764745200"),
        b.replace('"2026-12-03T07:00:00Z"', '"2026-12-03T07:00:00"'),
        b.replace('"province": "68"', '"province": 68'),
        b.replace('"attrs": {"confidence": 0.5}', '"lat": 11.9, "lon": 108.4, "attrs": {}'),
        b.replace('"attrs": {"confidence": 0.5}', '"lat": 11.9, "attrs": {}'),
        b + " ",
        b + "x",
        "[1, 2]",
        "",
    ]
    return [t.encode("utf-8", "surrogatepass") for t in texts] + [b"\xff" + b.encode()]


def _outcome(fn) -> tuple:
    try:
        return ("ok", fn().model_dump())
    except InvalidMessage as exc:
        return ("dead letter", exc.reason)


@pytest.mark.parametrize("payload", _variants())
def test_fast_path_accepts_and_rejects_as_the_step_by_step_parse(payload):
    context = {"now": NOW, "max_age": timedelta(days=400), "max_future": timedelta(minutes=10)}
    assert _outcome(lambda: parse_event(payload, now=NOW)) == _outcome(
        lambda: _parse_event_slowly(payload, context)
    )


def test_wards_per_batch_equal_wards_per_message():
    now = datetime.now(UTC)
    wire = to_wire(make_events(2000, now=now, window=timedelta(seconds=60)))
    # A vehicle just across a provincial border: the declared province wins, no ward.
    geo = geography()
    hanoi = geo.locate(21.0285, 105.8542)
    assert hanoi is not None
    other = next(c for c in sorted(geo.provinces) if c != hanoi.province_code)
    border = {
        **BASE,
        "id": "border-1",
        "ts": now.isoformat(),
        "source": "bus-9",
        "kind": "transport.position",
        "province": other,
        "lat": 21.0285,
        "lon": 105.8542,
        "attrs": {"vehicle": "bus-9", "speed_kmh": 10, "heading": 90},
    }
    wire.append((f"ioc/v1/{other}/transport/bus-9/position", json.dumps(border).encode()))
    limits = {"max_bytes": 65536, "max_age": timedelta(days=1), "max_future": timedelta(1)}
    one = Decoder(prefix="ioc/v1", **limits)
    deferring = Decoder(prefix="ioc/v1", defer_wards=True, **limits)
    expected = [one.decode(t.encode(), p, i, 0) for i, (t, p) in enumerate(wire)]
    batch = [deferring.decode(t.encode(), p, i, 0) for i, (t, p) in enumerate(wire)]
    assert sum(1 for r in batch if r.event and r.event.ward is None and r.event.lat) > 100
    finish_batch(batch)
    assert all(r.reason is None for r in expected)
    assert [r.event for r in batch] == [r.event for r in expected]
    assert batch[-1].event is not None and batch[-1].event.ward is None
    assert isinstance(batch[0].event, Event)
