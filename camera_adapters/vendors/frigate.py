"""Frigate NVR over MQTT: frigate/reviews, frigate/events, frigate/available, frigate/stats.

Frigate groups tracked objects into review items; an `alert` review (by default
a person or car in a required zone) is what an operator should look at, so each
alert review becomes one security.intrusion, chained by the review id. Tracked
objects (`frigate/events`) become security.plate_read once Frigate (0.16+)
recognises a plate. `frigate/available` (online/offline) is Frigate's own
liveness: offline opens camera.offline on the Frigate device, since none of its
cameras is analysed then. `frigate/stats` with `camera_fps` 0 opens
camera.offline for that camera.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from camera_adapters.site import clean_source
from camera_adapters.vendors import Translator, VendorSpec, register
from ioc.broker import BrokerUrl, connect_kwargs, mqtt_client
from ioc.events import Event

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "frigate"
MAX_REMEMBERED = 10_000
VEHICLES = {
    "car": "car",
    "motorcycle": "motorbike",
    "bicycle": "other",
    "truck": "truck",
    "bus": "bus",
}


def _epoch(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(float(value), UTC)
    return fallback


class FrigateTranslator(Translator):
    """(topic, payload) pairs from Frigate's MQTT to canonical events."""

    vendor = "frigate"

    def __init__(self, *args: Any, prefix: str = DEFAULT_PREFIX, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix = prefix.strip("/")
        self._alerted: set[str] = set()
        self._plates: set[tuple[str, str]] = set()

    def camera_source(self, camera: str) -> str:
        """Source id of a Frigate camera: mapped with --channel, else `{frigate id}-{camera}`."""
        if camera in self.site.channels:
            return self.site.channels[camera]
        return clean_source(f"{self.site.source}-{camera}")

    def feed(self, message: tuple[str, bytes | str], received_at: datetime) -> list[Event]:
        """One MQTT message."""
        topic, payload = message
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        self.stats.messages += 1
        self._last_seen = received_at
        sub = topic[len(self.prefix) + 1 :] if topic.startswith(self.prefix + "/") else topic
        if sub == "available":
            return self._available(text.strip().lower(), received_at)
        if sub not in ("events", "reviews", "stats"):
            self.stats.ignored[sub] += 1
            return []
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.stats.invalid.append(f"{topic}: malformed JSON: {exc.msg}")
            return []
        if not isinstance(data, dict):
            self.stats.invalid.append(f"{topic}: not a JSON object")
            return []
        if sub == "reviews":
            return self._review(data, received_at)
        if sub == "events":
            return self._tracked_object(data, received_at)
        return self._stats(data, received_at)

    def _available(self, state: str, received_at: datetime) -> list[Event]:
        if state not in ("online", "offline"):
            self.stats.ignored[f"available={state}"] += 1
            return []
        self.status(self.site.source, state, received_at)
        return self.condition(
            self.site.source,
            "camera.offline",
            state == "offline",
            received_at,
            received_at,
            "available/offline",
        )

    def _review(self, data: dict[str, Any], received_at: datetime) -> list[Event]:
        after = data.get("after") if isinstance(data.get("after"), dict) else {}
        review_id = str(after.get("id") or "")
        camera = after.get("camera")
        if not review_id or not isinstance(camera, str):
            self.stats.invalid.append("review without id or camera")
            return []
        if data.get("type") == "end":
            self._alerted.discard(review_id)
            return []
        if after.get("severity") != "alert":
            self.stats.ignored["review/detection"] += 1
            return []
        if len(self._alerted) > MAX_REMEMBERED:
            self._alerted.clear()  # reviews whose `end` we missed; a repeat is deduped downstream
        if review_id in self._alerted:
            return []  # an update of an alert already reported (more objects, a zone)
        self._alerted.add(review_id)
        details = after.get("data") if isinstance(after.get("data"), dict) else {}
        objects = [o for o in details.get("objects", []) if isinstance(o, str)]
        zones = [z for z in details.get("zones", []) if isinstance(z, str)]
        detections = details.get("detections") or []
        source = self.camera_source(camera)
        attrs = {
            "zone": zones[0][:128] if zones else None,
            "object_count": len(detections) if isinstance(detections, list) else None,
            "incident": f"frigate-review-{review_id}"[:128],
        }
        vendor_event = ("review/alert:" + ",".join(sorted(set(objects))))[:128]
        ts = _epoch(after.get("start_time"), received_at)
        return self.detection(
            source,
            "security.intrusion",
            ts,
            received_at,
            vendor_event,
            attrs,
            vendor_key=review_id,
            episode=False,
        )

    def _tracked_object(self, data: dict[str, Any], received_at: datetime) -> list[Event]:
        after = data.get("after") if isinstance(data.get("after"), dict) else {}
        object_id = str(after.get("id") or "")
        camera = after.get("camera")
        plate = after.get("recognized_license_plate")
        if not object_id or not isinstance(camera, str):
            self.stats.invalid.append("event without id or camera")
            return []
        if len(self._plates) > MAX_REMEMBERED:
            self._plates.clear()  # objects whose `end` we missed; a repeat is deduped downstream
        if after.get("false_positive") or not isinstance(plate, str) or len(plate.strip()) < 2:
            if data.get("type") == "end":
                self._plates = {p for p in self._plates if p[0] != object_id}
            self.stats.ignored[f"events/{data.get('type')}"] += 1
            return []
        plate = plate.strip()[:16]
        new = (object_id, plate) not in self._plates
        if data.get("type") == "end":
            self._plates = {p for p in self._plates if p[0] != object_id}
        else:
            self._plates.add((object_id, plate))
        if not new:
            return []
        score = after.get("recognized_license_plate_score")
        zones = after.get("current_zones") or after.get("entered_zones") or []
        attrs = {
            "plate": plate,
            "confidence": round(float(score), 3) if isinstance(score, int | float) else None,
            "vehicle_type": VEHICLES.get(str(after.get("label")), "other"),
            "direction": "unknown",
            "zone": zones[0][:128] if zones and isinstance(zones[0], str) else None,
        }
        ts = _epoch(after.get("frame_time") or after.get("start_time"), received_at)
        return self.detection(
            self.camera_source(camera),
            "security.plate_read",
            ts,
            received_at,
            f"events/{after.get('label', 'object')}",
            attrs,
            vendor_key=f"{object_id}-{plate}",
            episode=False,
        )

    def _stats(self, data: dict[str, Any], received_at: datetime) -> list[Event]:
        cameras = (
            data.get("cameras")
            if isinstance(data.get("cameras"), dict)
            else {k: v for k, v in data.items() if isinstance(v, dict) and "camera_fps" in v}
        )
        service = data.get("service") if isinstance(data.get("service"), dict) else {}
        ts = _epoch(service.get("last_updated"), received_at)
        out: list[Event] = []
        for camera, values in sorted(cameras.items()):
            fps = values.get("camera_fps") if isinstance(values, dict) else None
            if not isinstance(fps, int | float):
                continue
            out += self.condition(
                self.camera_source(camera),
                "camera.offline",
                fps <= 0,
                ts,
                received_at,
                "stats/camera_fps=0",
            )
        return out

    def tick(self, now: datetime) -> list[Event]:
        """Frigate states are explicit; nothing closes by silence."""
        return []


def read_file(path: Path) -> Iterator[tuple[tuple[str, bytes], datetime | None]]:
    """Recorded MQTT messages, one JSON object per line: {"topic": ..., "payload": ...}."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        payload = rec["payload"]
        body = payload if isinstance(payload, str) else json.dumps(payload)
        at = rec.get("received_at")
        yield (rec["topic"], body.encode()), (datetime.fromisoformat(at) if at else None)


def bridge(
    url: str,
    translator: Translator,
    sink: Any,
    *,
    user: str | None = None,
    password: str | None = None,
    stop: threading.Event | None = None,
    client_id: str | None = None,
    ready: threading.Event | None = None,
    **_: Any,
) -> Any:
    """Subscribe to Frigate's topics on its broker and publish canonical events."""
    from camera_adapters.bridge import BridgeRun

    broker = BrokerUrl.parse(url)
    if user:
        broker = replace(broker, username=user, password=password or broker.password)
    assert isinstance(translator, FrigateTranslator)
    prefix = translator.prefix
    run = BridgeRun(translator, sink, stop)
    client = mqtt_client(
        broker, client_id or f"ioc-frigate-bridge-{translator.site.source}", reconnect=(1, 60)
    )
    topics = [(f"{prefix}/{t}", 1) for t in ("events", "reviews", "available", "stats")]

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            run.disconnected(f"broker refused: {reason_code}")
            return
        c.subscribe(topics)
        run.connected()

    def on_subscribe(c, userdata, mid, reason_codes, properties) -> None:
        if ready is not None:
            ready.set()

    def on_message(c, userdata, msg) -> None:
        run.received((msg.topic, msg.payload))

    def on_disconnect(c, userdata, flags, reason_code, properties) -> None:
        if not run.stopped:
            run.disconnected(f"disconnected: {reason_code}")

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    with run:
        client.connect_async(**connect_kwargs(broker))
        client.loop_start()
        try:
            run.stop.wait()
        finally:
            client.disconnect()
            client.loop_stop()
    return run.stats


SPEC = register(
    VendorSpec(
        key="frigate",
        title="Frigate NVR (MQTT)",
        translator=FrigateTranslator,
        read_file=read_file,
        bridge=bridge,
        mapping=(
            ("frigate/reviews, severity alert (once per review)", "security.intrusion"),
            ("frigate/reviews, severity detection", "(ignored)"),
            ("frigate/events with recognized_license_plate", "security.plate_read"),
            ("frigate/available offline/online", "camera.offline on the Frigate device + status"),
            ("frigate/stats camera_fps 0 / > 0", "camera.offline opened/closed for that camera"),
        ),
    )
)
