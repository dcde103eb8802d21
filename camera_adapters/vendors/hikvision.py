"""Hikvision ISAPI: EventNotificationAlert XML from /ISAPI/Event/notification/alertStream.

The alertStream is `multipart/mixed; boundary=boundary`; each part is one
EventNotificationAlert (application/xml), and picture events (ANPR) are followed
by their JPEG parts. Devices repeat `active` about once a second while a
condition lasts and some never send `inactive` for motion, so conditions also
close after a quiet period. `videoloss` + `inactive` doubles as the stream's
heartbeat (every 10 s on firmware >= 5.5), and newer firmware sends
`heartBeat`.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from camera_adapters.multipart import MultipartReader, Part
from camera_adapters.vendors import Translator, VendorSpec, register
from ioc.events import Event

logger = logging.getLogger(__name__)

ALERT_STREAM_PATH = "/ISAPI/Event/notification/alertStream"

# eventType (lower case) -> (canonical kind, stateful condition?)
CONDITIONS = {
    "vmd": "camera.motion",
    "videoloss": "camera.offline",
    "shelteralarm": "camera.covered",
    "defocus": "camera.blurred",
    "scenechangedetection": "camera.scene_change",
}
DETECTIONS = {
    "linedetection": "security.line_crossing",
    "fielddetection": "security.intrusion",
    "regionentrance": "security.intrusion",
}
PLATE_EVENT = "anpr"
HEARTBEAT = "heartbeat"
PICTURE_WAIT = timedelta(seconds=2)
NO_PLATE = {"", "unknown", "无车牌", "none", "noplate"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _strip_ns(root: ET.Element) -> ET.Element:
    """Drop namespaces: devices use ver10, ver20, isapi.org and std-cgi.org variants."""
    for el in root.iter():
        el.tag = _local(el.tag)
    return root


def _text(el: ET.Element | None, path: str) -> str | None:
    found = el.find(path) if el is not None else None
    return found.text.strip() if found is not None and found.text else None


def _vehicle_type(text: str | None) -> str | None:
    t = (text or "").lower()
    if not t:
        return None
    if "motor" in t or "bike" in t:
        return "motorbike"
    if "truck" in t or "van" in t or "lorry" in t:
        return "truck"
    if "bus" in t:
        return "bus"
    if any(k in t for k in ("car", "vehicle", "suv", "mpv", "sedan", "pickup")):
        return "car"
    return "other"


class HikvisionTranslator(Translator):
    """EventNotificationAlert parts (and the pictures after them) to canonical events."""

    vendor = "hikvision"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, Any] | None = None  # an ANPR alert waiting for its pictures

    def feed(self, message: Part | bytes, received_at: datetime) -> list[Event]:
        """One multipart part (or a bare XML document)."""
        part = (
            message
            if isinstance(message, Part)
            else Part({"content-type": "application/xml"}, message)
        )
        self.stats.messages += 1
        if part.content_type.startswith("image/"):
            return self._picture(part)
        out = self._flush_pending()
        body = part.body.strip()
        if not body.startswith(b"<"):
            self.stats.ignored["not xml"] += 1
            return out
        try:
            root = _strip_ns(ET.fromstring(body))
        except ET.ParseError as exc:
            self.stats.invalid.append(f"bad XML: {exc}")
            return out
        if root.tag != "EventNotificationAlert":
            self.stats.ignored[root.tag] += 1
            return out
        return out + self._alert(root, received_at)

    def _alert(self, root: ET.Element, received_at: datetime) -> list[Event]:
        event_type = (_text(root, "eventType") or "").strip()
        key = event_type.lower()
        state = (_text(root, "eventState") or "active").lower()
        ts = self.device_time(_text(root, "dateTime"), received_at)
        channel = _text(root, "channelID") or _text(root, "dynChannelID")
        source = self.site.source_for(channel)
        self._last_seen = received_at
        if key == HEARTBEAT:
            self.stats.heartbeats += 1
            return []
        if key in CONDITIONS:
            kind = CONDITIONS[key]
            if key == "videoloss" and state == "inactive" and not self._is_open(source, kind):
                self.stats.heartbeats += 1  # the documented heartbeat form
                return []
            return self.condition(source, kind, state == "active", ts, received_at, event_type)
        if key in DETECTIONS:
            region = _text(root, "DetectionRegionList/DetectionRegionEntry/regionID") or ""
            if state != "active":
                self.end_detection(source, DETECTIONS[key], region)
                return []
            target = _text(
                root, "DetectionRegionList/DetectionRegionEntry/detectionTarget"
            ) or _text(root, "targetType")
            attrs = {"zone": f"region {region}" if region else None}
            if target:
                attrs["vendor_event"] = f"{event_type}/{target}"
            uuid = _text(root, "UUID")
            return self.detection(
                source,
                DETECTIONS[key],
                ts,
                received_at,
                attrs.pop("vendor_event", event_type),
                attrs,
                key=region,
                vendor_key=uuid,
            )
        if key == PLATE_EVENT:
            return self._plate(root, source, ts, event_type, received_at)
        self.stats.ignored[event_type or "no eventType"] += 1
        return []

    def _is_open(self, source: str, kind: str) -> bool:
        return (source, kind, "") in self._episodes

    def _plate(
        self, root: ET.Element, source: str, ts: datetime, event_type: str, received_at: datetime
    ) -> list[Event]:
        anpr = root.find("ANPR")
        plate = (_text(anpr, "licensePlate") or "").strip()
        if plate.lower() in NO_PLATE:
            self.stats.ignored["ANPR without plate"] += 1
            return []
        conf = _text(anpr, "confidenceLevel")
        direction = (_text(anpr, "direction") or "").lower()
        listed = " ".join(
            filter(None, [_text(anpr, "vehicleListName"), _text(anpr, "listType")])
        ).lower()
        vtype = _text(anpr, "vehicleInfo/vehicleType") or _text(anpr, "vehicleType")
        pics = _text(root, "picNum") or _text(anpr, "picNum")
        self._pending = {
            "seen_at": received_at,
            "source": source,
            "ts": ts,
            "event_type": event_type,
            "uuid": _text(root, "UUID"),
            "pictures": [],
            "expect": int(pics) if pics and pics.isdigit() else None,
            "attrs": {
                "plate": plate[:16],
                "confidence": round(int(conf) / 100, 2) if conf and conf.isdigit() else None,
                "direction": {"forward": "in", "reverse": "out"}.get(direction, "unknown"),
                "vehicle_type": _vehicle_type(vtype),
                "watchlist": "black" in listed or "block" in listed,
            },
        }
        if self._pending["expect"] == 0:
            return self._flush_pending()
        return []

    def _picture(self, part: Part) -> list[Event]:
        if self._pending is None:
            self.stats.ignored["picture without alert"] += 1
            return []
        self._pending["pictures"].append(part.body)
        expect = self._pending["expect"]
        if expect is not None and len(self._pending["pictures"]) >= expect:
            return self._flush_pending()
        return []

    def _flush_pending(self) -> list[Event]:
        p, self._pending = self._pending, None
        if p is None:
            return []
        # The first picture of an ANPR alert is the plate close-up, what an operator checks.
        snap = self.save_picture(p["source"], p["pictures"][0], p["ts"]) if p["pictures"] else None
        key = p["uuid"] or f"{p['ts']:%Y%m%dT%H%M%S}-{p['attrs']['plate']}"
        return self.detection(
            p["source"],
            "security.plate_read",
            p["ts"],
            p["ts"],
            p["event_type"],
            p["attrs"],
            vendor_key=key,
            snapshot=snap,
            episode=False,
        )

    def flush(self) -> list[Event]:
        """The stream ended: emit a plate read still waiting for pictures."""
        return self._flush_pending()

    def tick(self, now: datetime) -> list[Event]:
        """Idle-close conditions; a plate read waits a moment at most for its pictures."""
        out = []
        if self._pending is not None and now - self._pending["seen_at"] >= PICTURE_WAIT:
            out = self._flush_pending()
        return out + super().tick(now)


_DATE_RE = re.compile(rb"<dateTime>\s*([^<\s]+)\s*</dateTime>")


def read_file(path: Path) -> Iterator[tuple[Part, datetime | None]]:
    """Parts of a recorded alertStream body (or one XML document)."""
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"<"):
        yield Part({"content-type": "application/xml"}, data), None
        return
    reader = MultipartReader("boundary")
    at: datetime | None = None
    for part in reader.feed(data) + reader.close():
        # Replay at the pace the device wrote: a part arrives at its alert's dateTime.
        m = _DATE_RE.search(part.body) if part.content_type.endswith("xml") else None
        if m:
            ts = datetime.fromisoformat(m.group(1).decode())
            at = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).astimezone(UTC)
        yield part, at


def bridge(url: str, translator: Translator, sink: Any, **kwargs: Any) -> Any:
    """Follow a device's alertStream, reconnecting, and publish what it says."""
    from camera_adapters.bridge import run_http_stream

    return run_http_stream(url, translator, sink, default_path=ALERT_STREAM_PATH, **kwargs)


SPEC = register(
    VendorSpec(
        key="hikvision",
        title="Hikvision ISAPI alertStream",
        translator=HikvisionTranslator,
        read_file=read_file,
        bridge=bridge,
        mapping=(
            ("VMD active/inactive", "camera.motion opened/closed"),
            ("linedetection", "security.line_crossing"),
            ("fielddetection, regionEntrance", "security.intrusion"),
            (
                "videoloss active/inactive",
                "camera.offline opened/closed (inactive alone: heartbeat)",
            ),
            ("shelteralarm", "camera.covered"),
            ("defocus", "camera.blurred"),
            ("scenechangedetection", "camera.scene_change"),
            ("ANPR (+ pictures)", "security.plate_read with the plate picture as snapshot"),
            ("heartBeat", "(liveness only)"),
        ),
    )
)
