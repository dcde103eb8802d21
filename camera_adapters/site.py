"""Where a camera or a device is: its source id and its place (province, ward, lat/lon)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ioc.events import SOURCE_PATTERN

_SOURCE_RE = re.compile(SOURCE_PATTERN)
_BAD_CHARS = re.compile(r"[^A-Za-z0-9._:@-]+")


class SiteError(ValueError):
    """A camera id or place that the event schema would reject."""


def clean_source(text: str) -> str:
    """Turn a vendor name (e.g. a Frigate camera name) into a valid source id."""
    cleaned = _BAD_CHARS.sub("_", text.strip()).lstrip("._:@-")[:64]
    if not cleaned:
        raise SiteError(f"cannot make a source id from {text!r}")
    return cleaned


@dataclass(frozen=True, slots=True)
class Site:
    """A device's id and place; channels of a recorder or a Frigate map to their own ids."""

    source: str
    province: str
    ward: str | None = None
    lat: float | None = None
    lon: float | None = None
    name: str | None = None
    channels: Mapping[str, str] = field(default_factory=dict)

    def source_for(self, channel: str | None) -> str:
        """Source id of a channel: mapped, the device itself for channel 1, or `{id}-{channel}`."""
        if channel is None or channel == "":
            return self.source
        if channel in self.channels:
            return self.channels[channel]
        if channel == "1":
            return self.source
        return clean_source(f"{self.source}-{channel}"[:64])

    def place(self) -> dict[str, object]:
        """Province, ward and coordinates as Event fields (None left out)."""
        out: dict[str, object] = {"province": self.province}
        if self.ward:
            out["ward"] = self.ward
        if self.lat is not None and self.lon is not None:
            out["lat"] = self.lat
            out["lon"] = self.lon
        return out


def resolve_site(
    source: str,
    *,
    province: str | None = None,
    ward: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    name: str | None = None,
    channels: Mapping[str, str] | None = None,
) -> Site:
    """Check the id and place against the geography; fill the province from the ward or lat/lon."""
    from ioc.geo import geography

    if not _SOURCE_RE.match(source):
        raise SiteError(f"camera id {source!r} must match {SOURCE_PATTERN}")
    for key, value in (channels or {}).items():
        if not _SOURCE_RE.match(value):
            raise SiteError(f"channel {key!r} maps to invalid source id {value!r}")
    geo = geography()
    if (lat is None) != (lon is None):
        raise SiteError("give --lat and --lon together")
    if province is not None:
        province = province.zfill(2)
        if not geo.is_province(province):
            raise SiteError(f"unknown province code {province!r}")
    if ward is not None:
        ward = ward.zfill(5)
        if not geo.is_commune(ward):
            raise SiteError(f"unknown ward code {ward!r}")
        ward_province = geo.commune(ward).province_code
        if province is not None and province != ward_province:
            raise SiteError(f"ward {ward} is in province {ward_province}, not {province}")
        province = ward_province
    if lat is not None and lon is not None:
        if not geo.inside_vietnam(lat, lon):
            raise SiteError(f"({lat}, {lon}) is outside Vietnam")
        found = geo.locate(lat, lon)
        if province is None:
            if found is None:
                raise SiteError(f"no commune found at ({lat}, {lon}); give --province")
            province = found.province_code
    if province is None:
        raise SiteError("give --province (and optionally --ward) or --lat and --lon")
    return Site(source, province, ward, lat, lon, name, dict(channels or {}))
