"""The canonical Event model, its per-kind attributes, and the MQTT topic scheme.

Every message is validated once, here, at the edge; past this point nothing
handles a raw dict.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ioc.geo import geography
from ioc.snapshots import check_snapshot_path, check_snapshot_url

TOPIC_PREFIX = "ioc/v1"
SEVERITY_NAMES = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
# A topic level may not contain MQTT wildcards or separators.
SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
Short = Annotated[str, Field(min_length=1, max_length=128)]


class _Attrs(BaseModel):
    # NaN/Infinity parse from JSON but PostgreSQL's jsonb refuses them: reject at the edge.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SnapshotRef(_Attrs):
    """A reference to a JPEG stored outside the event (never the bytes)."""

    path: str | None = Field(None, max_length=512)
    url: str | None = Field(None, max_length=1024)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str | None) -> str | None:
        # A device names the picture: checked here and again before it is served.
        return None if value is None else check_snapshot_path(value)

    @field_validator("url")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        return None if value is None else check_snapshot_url(value)

    @model_validator(mode="after")
    def _has_location(self) -> SnapshotRef:
        if not (self.path or self.url):
            raise ValueError("a snapshot needs a path or a url")
        return self


# --- security -----------------------------------------------------------------


class SecurityAttrs(_Attrs):
    """Detections from fixed security cameras."""

    camera: Short | None = None
    confidence: Confidence | None = None
    zone: Short | None = None
    object_count: int | None = Field(None, ge=0)
    vendor: Short | None = None
    vendor_event: Short | None = None
    snapshot: SnapshotRef | None = None
    incident: Short | None = Field(None, description="Chains related events into one incident.")


class TrafficViolationAttrs(SecurityAttrs):
    violation: Literal["red_light", "wrong_way", "speeding", "no_helmet", "illegal_parking", "lane"]
    plate: str | None = Field(None, max_length=16)
    speed_kmh: float | None = Field(None, ge=0, le=400)


class PlateReadAttrs(SecurityAttrs):
    plate: str = Field(min_length=2, max_length=16)
    vehicle_type: Literal["car", "motorbike", "truck", "bus", "other"] | None = None
    direction: Literal["in", "out", "unknown"] | None = None
    watchlist: bool = False


# --- transport ----------------------------------------------------------------


class VehicleAttrs(_Attrs):
    vehicle: Short
    route: Short | None = None
    trip: Short | None = None
    incident: Short | None = None


class PositionAttrs(VehicleAttrs):
    speed_kmh: float = Field(ge=0, le=200)
    heading: float = Field(ge=0, lt=360)
    occupancy: int | None = Field(None, ge=0, le=300)
    capacity: int | None = Field(None, ge=1, le=300)


class StopAttrs(VehicleAttrs):
    stop: Short
    stop_name: str | None = Field(None, max_length=200)
    scheduled: AwareDatetime
    delay_s: int = Field(ge=-86400, le=86400)
    occupancy: int | None = Field(None, ge=0, le=300)


class OccupancyAlarmAttrs(VehicleAttrs):
    occupancy: int = Field(ge=0, le=300)
    capacity: int = Field(ge=1, le=300)


class OnboardCameraAttrs(VehicleAttrs):
    camera: Short
    detection: Literal["fighting", "harassment", "weapon", "smoke", "fall", "tamper", "crowding"]
    confidence: Confidence | None = None
    snapshot: SnapshotRef | None = None


# --- mobile network -------------------------------------------------------------

Operator = Literal["Viettel", "VNPT", "MobiFone", "Vietnamobile", "Gmobile", "other"]
Technology = Literal["2G", "3G", "4G", "5G", "none"]


class SignalSampleAttrs(_Attrs):
    probe: Short
    village: str | None = Field(None, max_length=200)
    operator: Operator
    technology: Technology
    rsrp_dbm: float | None = Field(None, ge=-160, le=-30)
    rsrq_db: float | None = Field(None, ge=-40, le=10)
    sinr_db: float | None = Field(None, ge=-30, le=50)


class CoverageGapAttrs(_Attrs):
    village: str = Field(min_length=1, max_length=200)
    operator: Operator
    gap: Short = Field(description="Stable id pairing opened and closed.")
    technology: Technology | None = None
    households: int | None = Field(None, ge=0)


class CellSiteAttrs(_Attrs):
    cell: Short
    operator: Operator
    technology: Technology | None = None
    cause: str | None = Field(None, max_length=200)


# --- power ----------------------------------------------------------------------


class PowerAttrs(_Attrs):
    village: str = Field(min_length=1, max_length=200)
    outage: Short = Field(description="Stable id pairing started and restored.")
    households: int | None = Field(None, ge=0)
    cause: str | None = Field(None, max_length=200)


# --- camera health and video analytics --------------------------------------------


class CameraHealthAttrs(_Attrs):
    """A health condition that opens and later closes, paired by a stable id."""

    state: Literal["opened", "closed"]
    condition: Short = Field(description="Stable id pairing opened and closed.")
    metric: float | None = None
    baseline: float | None = None
    vendor: Short | None = None
    vendor_event: Short | None = None
    snapshot: SnapshotRef | None = None


class MotionAttrs(_Attrs):
    area: float = Field(ge=0, le=1, description="Share of the frame that moved.")
    state: Literal["opened", "closed"] | None = None
    vendor: Short | None = None
    vendor_event: Short | None = None
    snapshot: SnapshotRef | None = None


class SnapshotAttrs(_Attrs):
    reason: Literal["interval", "change", "alarm", "manual"]
    snapshot: SnapshotRef


# --- generic sensors ---------------------------------------------------------------


class SensorReadingAttrs(_Attrs):
    metric: Short
    value: float
    unit: str = Field(max_length=16)


class SensorAlertAttrs(SensorReadingAttrs):
    threshold: float
    state: Literal["opened", "closed"] = "opened"


CAMERA_HEALTH_KINDS = (
    "camera.offline",
    "camera.frozen",
    "camera.covered",
    "camera.too_bright",
    "camera.blurred",
    "camera.scene_change",
)

KIND_ATTRS: dict[str, type[_Attrs]] = {
    "security.intrusion": SecurityAttrs,
    "security.crowd": SecurityAttrs,
    "security.fighting": SecurityAttrs,
    "security.fire": SecurityAttrs,
    "security.line_crossing": SecurityAttrs,
    "security.loitering": SecurityAttrs,
    "security.traffic_violation": TrafficViolationAttrs,
    "security.plate_read": PlateReadAttrs,
    "transport.position": PositionAttrs,
    "transport.stop_arrival": StopAttrs,
    "transport.stop_departure": StopAttrs,
    "transport.panic": VehicleAttrs,
    "transport.overcrowding": OccupancyAlarmAttrs,
    "transport.onboard_camera": OnboardCameraAttrs,
    "network.signal_sample": SignalSampleAttrs,
    "network.gap_opened": CoverageGapAttrs,
    "network.gap_closed": CoverageGapAttrs,
    "network.cell_down": CellSiteAttrs,
    "network.cell_up": CellSiteAttrs,
    "power.outage_started": PowerAttrs,
    "power.outage_restored": PowerAttrs,
    **dict.fromkeys(CAMERA_HEALTH_KINDS, CameraHealthAttrs),
    "camera.motion": MotionAttrs,
    "camera.snapshot": SnapshotAttrs,
    "sensor.reading": SensorReadingAttrs,
    "sensor.alert": SensorAlertAttrs,
}
DOMAINS = tuple(sorted({k.split(".", 1)[0] for k in KIND_ATTRS}))


class Event(BaseModel):
    """One thing that happened at one place and time, from one source."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=ID_PATTERN, description="Idempotency key, unique per event.")
    ts: AwareDatetime = Field(description="Source time; normalised to UTC.")
    source: str = Field(pattern=SOURCE_PATTERN, description="Device id.")
    kind: str = Field(description="Dotted kind, e.g. security.intrusion.")
    severity: int = Field(ge=0, le=4)
    province: str = Field(pattern=r"^\d{2}$", description="Official 2-digit province code.")
    ward: str | None = Field(None, pattern=r"^\d{5}$", description="Official 5-digit commune.")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    attrs: dict[str, Any] = Field(default_factory=dict)

    @property
    def domain(self) -> str:
        """First part of the kind: security, transport, network, power, camera, sensor."""
        return self.kind.split(".", 1)[0]

    @property
    def event_name(self) -> str:
        """Last part of the kind, as used in the topic."""
        return self.kind.split(".", 1)[1]

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        value = value.astimezone(UTC)
        ctx = info.context or {}
        now = ctx.get("now")
        if now is not None:
            max_age = ctx.get("max_age", timedelta(days=400))
            max_future = ctx.get("max_future", timedelta(minutes=10))
            if value < now - max_age:
                raise ValueError(f"timestamp {value.isoformat()} is more than {max_age} old")
            if value > now + max_future:
                raise ValueError(f"timestamp {value.isoformat()} is more than {max_future} ahead")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KIND_ATTRS:
            raise ValueError(f"unknown kind {value!r}")
        return value

    @field_validator("province")
    @classmethod
    def _known_province(cls, value: str) -> str:
        if not geography().is_province(value):
            from ioc.geo.legacy import explain_unknown

            # An old code (e.g. 62, Kon Tum) is told apart from a typo by naming its 2025 unit.
            raise ValueError(f"unknown province code {value!r}{explain_unknown(value, 2)}")
        return value

    @model_validator(mode="after")
    def _place_and_attrs(self, info: ValidationInfo) -> Event:
        geo = geography()
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.lat is not None and not geo.inside_vietnam(self.lat, self.lon):
            raise ValueError(f"coordinates ({self.lat}, {self.lon}) are outside Vietnam")
        if self.ward is not None:
            if not geo.is_commune(self.ward):
                from ioc.geo.legacy import explain_unknown

                hint = explain_unknown(self.ward, 5)
                raise ValueError(f"unknown ward code {self.ward!r}{hint}")
            if geo.commune(self.ward).province_code != self.province:
                raise ValueError(f"ward {self.ward} is not in province {self.province}")
        elif self.lat is not None and (info.context or {}).get("locate", True):
            found = geo.locate(self.lat, self.lon)
            # A point near a provincial border may fall in the neighbour's cell;
            # the device's declared province wins, the ward then stays unknown.
            if found is not None and found.province_code == self.province:
                object.__setattr__(self, "ward", found.code)
        try:
            attrs = KIND_ATTRS[self.kind].model_validate(self.attrs)
        except ValidationError as exc:
            raise ValueError(_describe(exc, prefix=f"attrs ({self.kind})")) from None
        object.__setattr__(self, "attrs", attrs.model_dump(mode="json", exclude_none=True))
        return self

    def topic(self, prefix: str = TOPIC_PREFIX) -> str:
        """The topic this event is published on."""
        return f"{prefix}/{self.province}/{self.domain}/{self.source}/{self.event_name}"

    def to_json(self) -> bytes:
        """Wire form: compact UTF-8 JSON, ts in UTC ISO 8601."""
        return self.model_dump_json(exclude_none=True).encode()


class DeviceStatus(BaseModel):
    """Retained per-device status (and MQTT last will) at {prefix}/{province}/status/{source}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(pattern=SOURCE_PATTERN)
    state: Literal["online", "offline"]
    ts: AwareDatetime
    domain: Literal["security", "transport", "network", "power", "camera", "sensor"] | None = None
    name: str | None = Field(None, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)

    def topic(self, province: str, prefix: str = TOPIC_PREFIX) -> str:
        """The retained status topic of this device."""
        return f"{prefix}/{province}/status/{self.source}"


class InvalidMessage(Exception):
    """A message that cannot become an Event; `reason` is for the dead-letter row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def event_topic_parts(topic: str, prefix: str = TOPIC_PREFIX) -> tuple[str, str, str, str]:
    """Split an event topic into (province, domain, source, event) or raise InvalidMessage."""
    if not topic.startswith(prefix + "/"):
        raise InvalidMessage(f"topic {topic!r} is outside {prefix}/")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 4:
        raise InvalidMessage(
            f"topic {topic!r} does not match {prefix}/{{province}}/{{domain}}/{{source}}/{{event}}"
        )
    return parts[0], parts[1], parts[2], parts[3]


def _describe(exc: ValidationError, prefix: str = "") -> str:
    out = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        loc = f"{prefix}.{loc}" if prefix and loc else (loc or prefix or "event")
        msg = err["msg"].removeprefix("Value error, ")
        out.append(msg if loc == "event" else f"{loc}: {msg}")
    more = exc.error_count() - len(out)
    return "; ".join(out) + (f" (+{more} more)" if more > 0 else "")


def parse_event(
    payload: bytes,
    topic: str | None = None,
    *,
    now: datetime | None = None,
    max_bytes: int = 64 * 1024,
    max_age: timedelta = timedelta(days=400),
    max_future: timedelta = timedelta(minutes=10),
    prefix: str = TOPIC_PREFIX,
    locate: bool = True,
) -> Event:
    """Validate raw MQTT bytes (and their topic, if given) into an Event, or raise InvalidMessage.

    locate=False leaves a missing ward to be derived batch-wise (ingest.decode.locate_wards).
    """
    if len(payload) > max_bytes:
        raise InvalidMessage(f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit")
    context: dict[str, Any] = {"now": now, "max_age": max_age, "max_future": max_future}
    if not locate:
        context["locate"] = False
    try:
        # The fast path: pydantic parses the bytes itself, no Python dict in between. It
        # enforces the same model; anything it refuses goes the step-by-step way below,
        # which alone decides (and words) every rejection.
        event = Event.model_validate_json(payload, context=context)
    except ValueError:
        event = _parse_event_slowly(payload, context)
    if topic is not None:
        province, domain, source, name = event_topic_parts(topic, prefix)
        expected = (event.province, event.domain, event.source, event.event_name)
        if (province, domain, source, name) != expected:
            raise InvalidMessage(
                f"topic {topic!r} contradicts payload (expected {event.topic(prefix)!r})"
            )
    return event


def _parse_event_slowly(payload: bytes, context: dict[str, Any]) -> Event:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(
            f"payload is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(
            f"malformed JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"payload must be a JSON object, got {type(data).__name__}")
    try:
        return Event.model_validate(data, context=context)
    except ValidationError as exc:
        raise InvalidMessage(_describe(exc)) from None


def parse_status(payload: bytes, topic: str, *, prefix: str = TOPIC_PREFIX) -> DeviceStatus:
    """Validate a retained device status message, or raise InvalidMessage."""
    rest = topic[len(prefix) + 1 :].split("/") if topic.startswith(prefix + "/") else []
    if len(rest) != 3 or rest[1] != "status":
        raise InvalidMessage(f"topic {topic!r} is not a status topic")
    try:
        status = DeviceStatus.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidMessage(_describe(exc)) from None
    if status.source != rest[2]:
        raise InvalidMessage(f"topic {topic!r} contradicts payload source {status.source!r}")
    if not geography().is_province(rest[0]):
        from ioc.geo.legacy import explain_unknown

        hint = explain_unknown(rest[0], 2)
        raise InvalidMessage(f"unknown province code {rest[0]!r} in topic{hint}")
    return status


def is_status_topic(topic: str, prefix: str = TOPIC_PREFIX) -> bool:
    """True for {prefix}/{province}/status/{source}."""
    parts = topic.split("/")
    return (
        topic.startswith(prefix + "/")
        and len(parts) == prefix.count("/") + 4
        and (parts[-2] == "status")
    )
