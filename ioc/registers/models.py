"""Records of the programme registers: villages (thôn, bản, tổ dân phố) and planned cameras.

A register row comes from a file or a generator and is untrusted until it passes these models.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ioc.events import Operator
from ioc.geo import Geography, geography

VillageKind = Literal["thôn", "bản", "tổ dân phố", "ấp", "buôn", "làng", "khu phố"]
VILLAGE_KINDS: tuple[str, ...] = VillageKind.__args__  # type: ignore[attr-defined]
# Best mobile technology any operator offers in the village (declared or seen by probes).
SignalLevel = Literal["none", "2G", "3G", "4G", "5G"]
SIGNAL_LEVELS: tuple[str, ...] = SignalLevel.__args__  # type: ignore[attr-defined]
# A village counts as covered by the signal programme at 4G or better (mobile broadband).
COVERED_SIGNAL = frozenset({"4G", "5G"})
PowerStatus = Literal["none", "off_grid", "connected"]
POWER_STATUSES: tuple[str, ...] = PowerStatus.__args__  # type: ignore[attr-defined]
SignalSource = Literal["declared", "probe"]
# Operators a commune declares signal for (the probes' "other" is not declared).
OPERATORS = ("Viettel", "VNPT", "MobiFone", "Vietnamobile", "Gmobile")
# Who runs a camera the IOC integrates (Notice 315/TB-VPCP: security/order and public transport).
CameraOwner = Literal["security", "traffic", "transport", "other"]
CAMERA_OWNERS: tuple[str, ...] = CameraOwner.__args__  # type: ignore[attr-defined]
# A probe must see 4G or better for this many days before its village counts as covered.
COVERED_AFTER_DAYS = 7


def best_signal(levels: dict[str, str]) -> str:
    """The best technology among operators' levels ('none' when there are none)."""
    return max(levels.values(), key=SIGNAL_LEVELS.index, default="none")


def village_id(ward: str, name: str) -> str:
    """The register key of a village: its commune code and its name, unique together."""
    return f"{ward}/{' '.join(name.split())}"


def _check_ward(ward: str, province: str) -> Geography:
    """The geography, once ward is a known commune of province (a ValueError otherwise)."""
    geo = geography()
    if not geo.is_commune(ward):
        raise ValueError(f"unknown commune code {ward!r}")
    if geo.commune(ward).province_code != province:
        raise ValueError(f"commune {ward} is not in province {province}")
    return geo


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class VillageRow(_Row):
    """One village of the register, as declared by the commune on declared_on."""

    province: str = Field(pattern=r"^\d{2}$")
    ward: str = Field(pattern=r"^\d{5}$")
    name: str = Field(min_length=1, max_length=120)
    kind: VillageKind
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    households: int = Field(ge=0, le=100_000)
    residents: int = Field(ge=0, le=500_000)
    # Best technology in the village over every operator; with `operators`, their best.
    signal: SignalLevel
    power: PowerStatus
    declared_on: date
    # Per operator, where the commune declared it (or a probe measured it).
    operators: dict[Operator, SignalLevel] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n\t/"):
            raise ValueError("name may not contain line breaks, tabs or '/'")
        return " ".join(value.split())

    @model_validator(mode="after")
    def _place(self) -> VillageRow:
        geo = _check_ward(self.ward, self.province)
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.lat is not None and not geo.inside_vietnam(self.lat, self.lon):
            raise ValueError(f"coordinates ({self.lat}, {self.lon}) are outside Vietnam")
        if self.residents < self.households:
            raise ValueError("fewer residents than households")
        if self.operators:
            best = best_signal(self.operators)
            if best != self.signal:
                raise ValueError(f"signal {self.signal} is not the best of the operators' ({best})")
        return self

    @property
    def id(self) -> str:
        return village_id(self.ward, self.name)


class CameraRow(_Row):
    """A camera the provincial IOC plans to integrate."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
    province: str = Field(pattern=r"^\d{2}$")
    ward: str = Field(pattern=r"^\d{5}$")
    owner: CameraOwner
    vendor: str = Field(min_length=1, max_length=64)
    route: str | None = Field(None, max_length=64)
    planned_on: date
    # Declared as already integrated (an existing connection); otherwise its first event does it.
    integrated_on: date | None = None

    @model_validator(mode="after")
    def _place(self) -> CameraRow:
        _check_ward(self.ward, self.province)
        return self
