"""Read village and camera registers from CSV or XLSX: every row checked, nothing half-imported.

A file is untrusted. Each bad row gets a line number and a reason (unknown commune, duplicate
village, coordinates outside Vietnam, ...); a file with any bad row loads nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ioc.geo import geography
from ioc.registers.models import OPERATORS, CameraRow, VillageRow, best_signal

MAX_ROWS = 500_000
SIGNAL_SET = frozenset(("none", "2G", "3G", "4G", "5G"))
MAX_BYTES = 100 * 1024 * 1024
# Header aliases (folded to lower case, spaces and dashes to "_") → field.
# The place columns both registers share.
PLACE_HEADERS = {
    "province": "province",
    "ma_tinh": "province",
    "ward": "ward",
    "commune_code": "ward",
    "ma_xa": "ward",
    "commune": "commune",
    "ten_xa": "commune",
}
VILLAGE_HEADERS = {
    **PLACE_HEADERS,
    "xa": "commune",
    "name": "name",
    "village": "name",
    "ten_thon": "name",
    "thon": "name",
    "kind": "kind",
    "loai": "kind",
    "lat": "lat",
    "lon": "lon",
    "households": "households",
    "so_ho": "households",
    "residents": "residents",
    "so_dan": "residents",
    "signal": "signal",
    "song": "signal",
    "power": "power",
    "dien": "power",
    "declared_on": "declared_on",
    "ngay": "declared_on",
    # Per operator: signal_viettel / song_viettel, ...
    **{f"{prefix}_{op.lower()}": f"op:{op}" for prefix in ("signal", "song") for op in OPERATORS},
}
CAMERA_HEADERS = {
    "id": "id",
    "camera": "id",
    **PLACE_HEADERS,
    "owner": "owner",
    "don_vi": "owner",
    "vendor": "vendor",
    "hang": "vendor",
    "route": "route",
    "tuyen": "route",
    "planned_on": "planned_on",
    "integrated_on": "integrated_on",
}
# `signal` may be left out when per-operator columns give it.
REQUIRED_VILLAGE = ("province", "name", "kind", "households", "residents", "power")
REQUIRED_CAMERA = ("id", "province", "owner", "vendor", "planned_on")


class RegisterFileError(Exception):
    """The file as a whole cannot be read (format, size, missing columns)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: its line in the file (header is line 1) and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ParseResult:
    """Rows that passed and errors of those that did not; load only when errors is empty."""

    villages: list[VillageRow] = field(default_factory=list)
    cameras: list[CameraRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _fold(header: Any) -> str:
    return "_".join(str(header or "").strip().lower().replace("-", " ").split())


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    return str(value).strip()


def read_table(path: Path) -> Iterator[tuple[int, list[Any]]]:
    """(line, cells) of a .csv (UTF-8, with or without BOM) or .xlsx file, header first."""
    if path.stat().st_size > MAX_BYTES:
        raise RegisterFileError(f"{path.name}: larger than {MAX_BYTES // 1024 // 1024} MB")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RegisterFileError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
        for n, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            yield n, row
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # zipfile/openpyxl raise many kinds for a broken file
            raise RegisterFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from None
        try:
            sheet = book.worksheets[0]
            for n, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield n, list(row)
        finally:
            book.close()
    else:
        raise RegisterFileError(f"{path.name}: expected a .csv or .xlsx file")


def _records(
    path: Path, aliases: dict[str, str], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    rows = read_table(path)
    header = next(rows, None)
    if header is None:
        raise RegisterFileError(f"{path.name}: empty file")
    names = [aliases.get(_fold(h)) for h in header[1]]
    have = {n for n in names if n}
    if "ward" not in have and "commune" not in have:
        raise RegisterFileError(f"{path.name}: needs a commune_code (ma_xa) or commune column")
    missing = [c for c in required if c not in have]
    if missing:
        raise RegisterFileError(f"{path.name}: missing columns {', '.join(missing)}")
    count = 0
    for line, cells in rows:
        values = [_cell(c) for c in cells]
        if not any(values):
            continue  # blank lines, e.g. at the end of a sheet
        count += 1
        if count > MAX_ROWS:
            raise RegisterFileError(f"{path.name}: more than {MAX_ROWS} rows")
        record = {n: v for n, v in zip(names, values, strict=False) if n and v != ""}
        yield line, record


def _place(record: dict[str, str]) -> str | None:
    """Fill the commune code from its name when only the name is given; the error, or None."""
    geo = geography()
    province = record.get("province", "")
    if province.isdigit() and len(province) <= 2:
        record["province"] = province.zfill(2)
    if "ward" in record:
        ward = record["ward"]
        if ward.isdigit() and len(ward) <= 5:
            record["ward"] = ward.zfill(5)
        if not geo.is_commune(record["ward"]):
            return f"unknown commune code {ward!r}"
        record.pop("commune", None)
        return None
    name = record.pop("commune", "")
    if not geo.is_province(record.get("province", "")):
        return f"unknown province {record.get('province', '')!r}"
    found = geo.find_commune(record["province"], name)
    if found is None:
        return f"unknown commune {name!r} in province {record['province']}"
    record["ward"] = found.code
    return None


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def _parse(
    path: Path,
    aliases: dict[str, str],
    required: tuple[str, ...],
    model: type[VillageRow] | type[CameraRow],
    what: str,
) -> tuple[list[Any], list[RowError]]:
    rows: list[Any] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for line, record in _records(path, aliases, required):
        problem = _place(record)
        if problem:
            errors.append(RowError(line, problem))
            continue
        if model is VillageRow:
            record.setdefault("declared_on", date.today().isoformat())
            ops = {k[3:]: record.pop(k) for k in list(record) if k.startswith("op:")}
            if ops:
                record["operators"] = ops
                if "signal" not in record and all(v in SIGNAL_SET for v in ops.values()):
                    record["signal"] = best_signal(ops)
        try:
            row = model.model_validate(record)
        except ValidationError as exc:
            errors.append(RowError(line, _reason(exc)))
            continue
        if row.id in first_line:
            label = f"{row.name!r} in commune {row.ward}" if what == "village" else repr(row.id)
            errors.append(
                RowError(line, f"duplicate {what} {label} (first on line {first_line[row.id]})")
            )
            continue
        first_line[row.id] = line
        rows.append(row)
    return rows, errors


def parse_villages(path: Path) -> ParseResult:
    """Every row of a village register file, checked; duplicates (commune + name) rejected."""
    rows, errors = _parse(path, VILLAGE_HEADERS, REQUIRED_VILLAGE, VillageRow, "village")
    return ParseResult(villages=rows, errors=errors)


def parse_cameras(path: Path) -> ParseResult:
    """Every row of a camera integration register file, checked; duplicate ids rejected."""
    rows, errors = _parse(path, CAMERA_HEADERS, REQUIRED_CAMERA, CameraRow, "camera")
    return ParseResult(cameras=rows, errors=errors)


VILLAGE_COLUMNS = (
    "province",
    "ward",
    "name",
    "kind",
    "lat",
    "lon",
    "households",
    "residents",
    "signal",
    "power",
    "declared_on",
    *(f"signal_{op.lower()}" for op in OPERATORS),
)
CAMERA_COLUMNS = (
    "id",
    "province",
    "ward",
    "owner",
    "vendor",
    "route",
    "planned_on",
    "integrated_on",
)


def write_csv(rows: list[VillageRow] | list[CameraRow], path: Path) -> int:
    """Write register rows as a CSV the importer reads back; the number written."""
    columns = CAMERA_COLUMNS if rows and isinstance(rows[0], CameraRow) else VILLAGE_COLUMNS
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(columns)
        for r in rows:
            data = r.model_dump(mode="json")
            for op, level in data.pop("operators", {}).items():
                data[f"signal_{op.lower()}"] = level
            out.writerow(["" if data.get(c) is None else data[c] for c in columns])
    return len(rows)
