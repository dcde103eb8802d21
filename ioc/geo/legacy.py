"""Pre-2025 province, district and ward codes mapped to the 2025 units.

The mapping is the conversion data of the `vietnamadminunits` package (its legacy table of
63 provinces / 696 districts / 10,040 wards and its 2025 converter), read on first use only:
it is needed when a code is not a current one, to say what it became.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LegacyUnit:
    """An old (pre-2025) unit and the 2025 units it became."""

    level: str  # "province", "district" or "ward"
    code: str
    name: str  # full old name with its parents, e.g. "Xã Đông La, Huyện Hoài Đức, Thành phố Hà Nội"
    province_codes: tuple[str, ...]  # 2025 province codes, the first the main one
    ward_codes: tuple[str, ...]  # 2025 commune codes, the first the default (most of the area)


def _package_dir() -> Path:
    import vietnamadminunits

    return Path(vietnamadminunits.__file__).parent / "data"


@cache
def _tables() -> tuple[dict[str, LegacyUnit], dict[str, LegacyUnit], dict[str, LegacyUnit]]:
    data = _package_dir()
    conv = json.loads((data / "converter_2025.json").read_text(encoding="utf-8"))
    new_province_of = {old: new for new, olds in conv["DICT_PROVINCE"].items() for old in olds}
    with sqlite3.connect(data / "dataset.db") as conn:
        new_rows = conn.execute(
            "SELECT provinceKey, wardKey, provinceCode, wardCode FROM admin_units"
        ).fetchall()
        old_rows = conn.execute(
            "SELECT provinceKey, districtKey, wardKey, provinceCode, districtCode, wardCode,"
            " province, district, ward FROM admin_units_legacy ORDER BY wardCode"
        ).fetchall()
    new_ward = {(pk, wk): wc for pk, wk, _, wc in new_rows}
    new_province_code = {pk: pc for pk, _, pc, _ in new_rows}
    undivided = {
        (npk, old): nwk
        for npk, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items()
        for nwk, olds in wards.items()
        for old in olds
    }
    divided = conv["DICT_PROVINCE_WARD_DIVIDED"]
    wards: dict[str, LegacyUnit] = {}
    districts: dict[str, list[tuple[str, str, str]]] = {}
    provinces: dict[str, tuple[str, str]] = {}
    for pk, dk, wk, pc, dc, wc, pname, dname, wname in old_rows:
        npk = new_province_of.get(pk)
        if npk is None:
            continue
        key = f"{pk}_{dk}_{wk}"
        targets: list[str] = []
        if (npk, key) in undivided:
            targets.append(undivided[(npk, key)])
        else:
            parts = divided.get(npk, {}).get(key, [])
            # The default new ward first: it took most of the old one.
            parts = sorted(parts, key=lambda p: not p["isDefaultNewWard"])
            targets.extend(p["newWardKey"] for p in parts)
        codes = tuple(c for t in targets if (c := new_ward.get((npk, t))) is not None)
        pcode = new_province_code[npk]
        wards[wc] = LegacyUnit("ward", wc, f"{wname}, {dname}, {pname}", (pcode,), codes)
        districts.setdefault(dc, []).append((f"{dname}, {pname}", pcode, codes[0] if codes else ""))
        provinces[pc] = (pname, pcode)
    district_units = {
        dc: LegacyUnit(
            "district",
            dc,
            items[0][0],
            tuple(dict.fromkeys(p for _, p, _ in items)),
            tuple(dict.fromkeys(w for _, _, w in items if w)),
        )
        for dc, items in districts.items()
    }
    province_units = {
        pc: LegacyUnit("province", pc, name, (new,), ()) for pc, (name, new) in provinces.items()
    }
    return province_units, district_units, wards


def legacy_province(code: str) -> LegacyUnit | None:
    """The pre-2025 province with this 2-digit code and the 2025 province it joined."""
    return _tables()[0].get(code.strip().zfill(2))


def legacy_district(code: str) -> LegacyUnit | None:
    """The pre-2025 district with this 3-digit code and the 2025 units its wards joined."""
    return _tables()[1].get(code.strip().zfill(3))


def legacy_ward(code: str) -> LegacyUnit | None:
    """The pre-2025 ward with this 5-digit code and the 2025 commune(s) it became."""
    return _tables()[2].get(code.strip().zfill(5))


def describe_legacy(old: LegacyUnit) -> str:
    """One line naming the 2025 unit(s) an old unit became."""
    from ioc.geo.units import geography

    g = geography()
    provinces = ", ".join(f"{c} {g.province(c).name}" for c in old.province_codes)
    if old.level == "province":
        return f"province {old.code} ({old.name}) is a pre-2025 code: now {provinces}"
    wards = [f"{c} {g.commune(c).name}" for c in old.ward_codes]
    if old.level == "district":
        shown = ", ".join(wards[:6]) + (f" and {len(wards) - 6} more" if len(wards) > 6 else "")
        return (
            f"district {old.code} ({old.name}) is a pre-2025 code (districts were abolished):"
            f" its wards are now in {provinces}: {shown}"
        )
    if not wards:
        return f"ward {old.code} ({old.name}) is a pre-2025 code: now in {provinces}"
    rest = f" (parts also went to {', '.join(wards[1:])})" if len(wards) > 1 else ""
    return f"ward {old.code} ({old.name}) is a pre-2025 code: now {wards[0]}, {provinces}{rest}"


def explain_unknown(code: object, width: int) -> str:
    """ ": <what it became>" for a non-current code that is a pre-2025 one, else ""."""
    text = str(code).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > width:
        return ""
    find = {2: legacy_province, 3: legacy_district, 5: legacy_ward}[width]
    old = find(text)
    return f": {describe_legacy(old)}" if old is not None else ""
