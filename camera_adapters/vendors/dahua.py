"""Dahua (and Amcrest/Lorex OEM) CGI event stream: /cgi-bin/eventManager.cgi?action=attach.

The answer is `multipart/x-mixed-replace; boundary=myboundary`; each part is a
text line `Code=VideoMotion;action=Start;index=0`, newer firmware appends
`;data={...json...}` (IVS rules, plates), and `heartbeat=N` adds `Heartbeat`
parts. `index` is the 0-based channel. Actions are Start/Stop for conditions and
Pulse for momentary detections. Times: the stream has none except IVS `data`'s
`UTC` (+`UTCMS`), taken as UTC epoch seconds; otherwise the receive time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from camera_adapters.multipart import MultipartReader, Part
from camera_adapters.vendors import Translator, VendorSpec, register
from ioc.events import Event

logger = logging.getLogger(__name__)

ATTACH_PATH = "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=5"

CONDITIONS = {
    "VideoMotion": "camera.motion",
    "VideoLoss": "camera.offline",
    "VideoBlind": "camera.covered",
    "SceneChange": "camera.scene_change",
}
DETECTIONS = {
    "CrossLineDetection": "security.line_crossing",
    "CrossRegionDetection": "security.intrusion",
    "LeftDetection": "security.loitering",
    "WanderDetection": "security.loitering",
}
PLATE_CODES = {"TrafficJunction", "TrafficParking", "ANPR"}
# VideoAbnormalDetection carries its fault in data.Type.
ABNORMAL = {
    "videoloss": "camera.offline",
    "videoblind": "camera.covered",
    "cover": "camera.covered",
    "dark": "camera.covered",
    "scenechange": "camera.scene_change",
    "defocus": "camera.blurred",
    "unfocus": "camera.blurred",
    "blur": "camera.blurred",
    "overexposure": "camera.too_bright",
    "bright": "camera.too_bright",
    "freeze": "camera.frozen",
    "frozen": "camera.frozen",
}
_EVENT_RE = re.compile(
    r"Code=(?P<code>[^;\r\n]+);action=(?P<action>[^;\r\n]+);index=(?P<index>-?\d+)(?:;data=)?",
)


def _vehicle_type(text: str | None) -> str | None:
    t = (text or "").lower()
    if not t:
        return None
    if "motor" in t or "bike" in t:
        return "motorbike"
    if "truck" in t or "lorry" in t:
        return "truck"
    if "bus" in t:
        return "bus"
    if any(k in t for k in ("car", "vehicle", "suv", "mpv", "sedan")):
        return "car"
    return "other"


def parse_events(text: str) -> list[tuple[str, str, int, dict[str, Any] | None]]:
    """(code, action, index, data) for each event in a part body."""
    out = []
    matches = list(_EVENT_RE.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        tail = text[m.end() : end].strip()
        data = None
        if m.group(0).endswith(";data=") and tail:
            try:
                data = json.loads(tail)
            except json.JSONDecodeError:
                data = {"_unparsed": tail[:200]}
        out.append(
            (m.group("code").strip(), m.group("action").strip(), int(m.group("index")), data)
        )
    return out


class DahuaTranslator(Translator):
    """eventManager attach parts to canonical events."""

    vendor = "dahua"

    def feed(self, message: Part | bytes | str, received_at: datetime) -> list[Event]:
        """One multipart part (or its text)."""
        if isinstance(message, Part):
            text = message.body.decode("utf-8", errors="replace")
        elif isinstance(message, bytes):
            text = message.decode("utf-8", errors="replace")
        else:
            text = message
        self.stats.messages += 1
        self._last_seen = received_at
        if text.strip().lower() == "heartbeat":
            self.stats.heartbeats += 1
            return []
        events = parse_events(text)
        if not events:
            self.stats.ignored["not an event line"] += 1
            return []
        out: list[Event] = []
        for code, action, index, data in events:
            out += self._event(code, action.lower(), index, data or {}, received_at)
        return out

    def _time(self, data: dict[str, Any], received_at: datetime) -> datetime:
        utc = data.get("UTC")
        if isinstance(utc, int | float) and utc > 0:
            ms = data.get("UTCMS", 0)
            ms = ms if isinstance(ms, int | float) else 0
            return datetime.fromtimestamp(float(utc) + ms / 1000, UTC)
        return received_at

    def _event(
        self, code: str, action: str, index: int, data: dict[str, Any], received_at: datetime
    ) -> list[Event]:
        source = self.site.source_for(str(index + 1))
        ts = self._time(data, received_at)
        if code in CONDITIONS or code == "VideoAbnormalDetection":
            kind = CONDITIONS.get(code)
            vendor_event = code
            if kind is None:
                fault = str(data.get("Type", "")).lower()
                kind = next((k for name, k in ABNORMAL.items() if name in fault), None)
                vendor_event = f"{code}/{data.get('Type', '?')}"
                if kind is None:
                    self.stats.ignored[vendor_event] += 1
                    return []
            if action == "pulse":
                # A one-shot fault report: open now, let the quiet period close it.
                return self.condition(source, kind, True, ts, received_at, vendor_event)
            return self.condition(source, kind, action == "start", ts, received_at, vendor_event)
        if code in DETECTIONS:
            kind = DETECTIONS[code]
            rule = str(data.get("Name") or data.get("RuleID") or "")
            if action == "stop":
                self.end_detection(source, kind, rule)
                return []
            obj = data.get("Object") if isinstance(data.get("Object"), dict) else {}
            otype = obj.get("ObjectType")
            vendor_event = f"{code}/{otype}" if otype else code
            direction = data.get("Direction")
            attrs = {"zone": rule or None, "object_count": 1 if obj else None}
            if direction:
                vendor_event = f"{vendor_event}/{direction}"
            key = data.get("EventID") or data.get("EventSeq")
            return self.detection(
                source,
                kind,
                ts,
                received_at,
                vendor_event[:128],
                attrs,
                key=rule,
                vendor_key=f"{rule}-{key}" if key is not None else None,
                episode=action != "pulse",
            )
        if code in PLATE_CODES:
            if action == "stop":
                return []
            car = data.get("TrafficCar") if isinstance(data.get("TrafficCar"), dict) else {}
            obj = data.get("Object") if isinstance(data.get("Object"), dict) else {}
            plate = str(car.get("PlateNumber") or obj.get("Text") or "").strip()
            if len(plate) < 2:
                self.stats.ignored[f"{code} without plate"] += 1
                return []
            vehicle = data.get("Vehicle") if isinstance(data.get("Vehicle"), dict) else {}
            attrs = {
                "plate": plate[:16],
                "vehicle_type": _vehicle_type(car.get("VehicleType") or vehicle.get("Category")),
                "direction": "unknown",
                "zone": str(data.get("Lane")) if data.get("Lane") is not None else None,
            }
            key = data.get("EventID") or data.get("GroupID")
            return self.detection(
                source,
                "security.plate_read",
                ts,
                received_at,
                code,
                attrs,
                vendor_key=f"{key}-{plate}" if key is not None else None,
                episode=False,
            )
        self.stats.ignored[code] += 1
        return []


def read_file(path: Path) -> Iterator[tuple[Part, datetime | None]]:
    """Parts of a recorded attach body."""
    reader = MultipartReader("myboundary")
    data = Path(path).read_bytes()
    for part in reader.feed(data) + reader.close():
        yield part, None


def bridge(url: str, translator: Translator, sink: Any, **kwargs: Any) -> Any:
    """Follow a device's attach stream, reconnecting, and publish what it says."""
    from camera_adapters.bridge import run_http_stream

    return run_http_stream(url, translator, sink, default_path=ATTACH_PATH, **kwargs)


SPEC = register(
    VendorSpec(
        key="dahua",
        title="Dahua eventManager attach stream",
        translator=DahuaTranslator,
        read_file=read_file,
        bridge=bridge,
        mapping=(
            ("VideoMotion Start/Stop", "camera.motion opened/closed"),
            ("VideoLoss", "camera.offline"),
            ("VideoBlind", "camera.covered"),
            ("SceneChange", "camera.scene_change"),
            ("VideoAbnormalDetection (data.Type)", "offline/covered/blurred/too_bright/frozen"),
            ("CrossLineDetection", "security.line_crossing"),
            ("CrossRegionDetection", "security.intrusion"),
            ("LeftDetection, WanderDetection", "security.loitering"),
            ("TrafficJunction, TrafficParking, ANPR", "security.plate_read"),
            ("Heartbeat", "(liveness only)"),
        ),
    )
)
