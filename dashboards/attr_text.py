"""Event attributes in words for the detail cards: labels and values from i18n.TEXTS.

A device names its own codes (`vendor_event: TFS`, `violation: no_helmet`): a known code
is shown in words, an unknown one humanised ("CrossRegionDetection" -> "Cross region
detection") with the raw code beside it, so an operator never reads a bare key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboards.fmt import fmt_datetime, fmt_duration
from dashboards.i18n import TEXTS, t
from ioc.kpi import format_number

# Keys whose every value is a code with words of its own ("attr.<key>.<code>").
CODE_KEYS = frozenset({"violation", "vehicle_type", "direction", "detection", "state", "reason"})
# Keys whose values are names (Viettel, 4G) except for a few codes ("other", "none").
NAME_KEYS = frozenset({"operator", "technology"})
VENDOR_NAMES = {"hikvision": "Hikvision", "dahua": "Dahua", "onvif": "ONVIF", "frigate": "Frigate"}
UNITS = {
    "speed_kmh": " km/h",
    "rsrp_dbm": " dBm",
    "rsrq_db": " dB",
    "sinr_db": " dB",
    "heading": "°",
}
PERCENT_KEYS = frozenset({"confidence", "area"})
SKIPPED = frozenset({"snapshot"})


@dataclass(frozen=True, slots=True)
class AttrRow:
    """One attribute for display: label and value in words, the device's code if useful."""

    key: str
    label: str
    value: str
    code: str | None = None


def humanise(code: str) -> str:
    """A code in plain words: "no_helmet" -> "No helmet", "CrossLineDetection" -> "Cross line detection"."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(code))
    text = re.sub(r"[_\-./:]+", " ", text).strip()
    words = text.split()
    if not words:
        return str(code)
    first = words[0] if words[0].isupper() else words[0].capitalize()
    rest = [w if w.isupper() else w.lower() for w in words[1:]]
    return " ".join([first, *rest])


def attr_label(key: str, lang: str) -> str:
    """The label of an attribute key (humanised when the catalog has no words for it)."""
    found = f"attr.{key}" in TEXTS
    return t(f"attr.{key}", lang) if found else humanise(key)


def _vendor_event(code: str, lang: str) -> tuple[str, str | None]:
    base = code.split("/", 1)[0].split(":", 1)[0]
    for candidate in (code, base):
        key = f"vendor_event.{candidate.lower()}"
        if key in TEXTS:
            return t(key, lang), code
    return humanise(base if base else code), code


def _plain(v: Any, lang: str) -> str:
    if isinstance(v, bool):
        return t("attr.yes" if v else "attr.no", lang)
    if isinstance(v, float):
        decimals = 0 if v.is_integer() else 2
        text = format_number(v, decimals, lang)
        return text.rstrip("0").rstrip(".,") if decimals else text
    if isinstance(v, int):
        return format_number(v, 0, lang)
    if isinstance(v, dict):
        return ", ".join(
            f"{attr_label(k, lang)}: {_plain(x, lang)}" for k, x in v.items() if k != "sha256"
        )
    if isinstance(v, list):
        return ", ".join(_plain(x, lang) for x in v)
    return str(v)


def attr_value(key: str, value: Any, lang: str, tz: str) -> tuple[str, str | None]:
    """(value in words, the device's code to show beside it or None)."""
    if key == "vendor_event" and isinstance(value, str):
        return _vendor_event(value, lang)
    if key == "vendor" and isinstance(value, str):
        return VENDOR_NAMES.get(value.lower(), value), None
    if isinstance(value, str) and (key in CODE_KEYS or key in NAME_KEYS):
        words = f"attr.{key}.{value}"
        if words in TEXTS:
            return t(words, lang), None
        return (humanise(value), value) if key in CODE_KEYS else (value, None)
    if key in PERCENT_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value * 100:.0f} %", None
    if key == "delay_s" and isinstance(value, int | float):
        return ("+" if value > 0 else "") + fmt_duration(value), None
    if key == "scheduled" and isinstance(value, str):
        try:
            return fmt_datetime(datetime.fromisoformat(value), tz), None
        except ValueError:
            return value, None
    if key in UNITS and isinstance(value, int | float):
        return _plain(float(value), lang) + UNITS[key], None
    return _plain(value, lang), None


def attr_rows(attrs: dict[str, Any], lang: str, tz: str) -> list[AttrRow]:
    """Every shown attribute of an event or device state, labelled, in catalog order."""
    order = {
        k.split(".")[1]: i for i, k in enumerate(TEXTS) if k.count(".") == 1 and k[:5] == "attr."
    }
    rows = []
    for key in sorted(attrs, key=lambda k: (order.get(k, len(order)), k)):
        if key in SKIPPED:
            continue
        value, code = attr_value(key, attrs[key], lang, tz)
        rows.append(AttrRow(key, attr_label(key, lang), value, code))
    return rows
