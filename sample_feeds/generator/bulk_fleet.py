"""The bulk world's proportions and a province's fleet of devices."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Share of events by kind (paired episode kinds are drawn separately, see EPISODES).
SINGLE_MIX: dict[str, float] = {
    "transport.position": 0.36,
    "transport.stop_arrival": 0.07,
    "transport.stop_departure": 0.07,
    "camera.snapshot": 0.12,
    "camera.motion": 0.06,
    "network.signal_sample": 0.12,
    "security.plate_read": 0.08,
    "security.traffic_violation": 0.02,
    "security.intrusion": 0.008,
    "security.loitering": 0.007,
    "security.line_crossing": 0.006,
    "security.crowd": 0.005,
    "security.fighting": 0.0025,
    "security.fire": 0.0005,
    "sensor.reading": 0.04,
    "transport.panic": 0.0003,
    "transport.overcrowding": 0.0012,
    "transport.onboard_camera": 0.0008,
    "sensor.alert": 0.0005,
}
# Events per episode kind as a share of all events (two events each: start and end).
EPISODES = {"camera": 0.006, "coverage": 0.002, "cell": 0.001, "power": 0.002}
CAMERA_CONDITIONS = (
    ("camera.offline", 0.45, 2),
    ("camera.frozen", 0.15, 2),
    ("camera.covered", 0.10, 3),
    ("camera.blurred", 0.15, 1),
    ("camera.too_bright", 0.10, 1),
    ("camera.scene_change", 0.05, 1),
)
# Relative activity per local hour: quiet nights, morning and evening peaks.
HOUR_PROFILE = np.array(
    [2, 1, 1, 1, 2, 4, 7, 9, 9, 8, 7, 7, 7, 7, 7, 8, 9, 10, 9, 8, 6, 5, 4, 3], dtype=float
)
OPERATORS = ("Viettel", "VNPT", "MobiFone", "Vietnamobile")
VIOLATIONS = ("red_light", "wrong_way", "speeding", "no_helmet", "illegal_parking", "lane")
DETECTIONS = ("fighting", "harassment", "weapon", "smoke", "fall", "tamper", "crowding")
FAKE_SHA = "0" * 63 + "1"
CONDITION_SEVERITY = {kind: severity for kind, _, severity in CAMERA_CONDITIONS}
# Kinds a camera reports with a picture of the moment, when snapshots are on.
WITH_SNAPSHOT = ("camera.motion", "security.")
# Devices that stop reporting during the last week, for the data-completeness KPI.
DEAD_SHARE = 0.03
VILLAGES_PER_COMMUNE = 8


@dataclass
class Fleet:
    """The devices of one province and where they are."""

    province: str
    cameras: list[tuple[str, str]]
    vehicles: list[tuple[str, str, tuple[str, ...]]]
    probes: list[tuple[str, str]]
    grid: list[str]
    sensors: list[tuple[str, str]]
    incident_factor: float
    gap_factor: float
    outage_factor: float
    on_time: float
    handling: float
    camera_reliability: np.ndarray = field(default_factory=lambda: np.ones(0))
