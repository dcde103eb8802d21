"""The one translation catalog and its reviewed terminology (docs/glossary.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.i18n import TEXTS, t

ROOT = Path(__file__).resolve().parent.parent
# Words the glossary says to avoid, with the one to use instead.
AVOIDED = {
    "kiểm toán": "truy vết",
    "Điều hành viên": "Cán bộ trực",
    "Thư lỗi": "Bản tin lỗi",
    "Tường camera": "Màn hình camera",
    "quá tải": "quá đông",
    "im lặng": "không gửi dữ liệu",
    "báo động": "cảnh báo",
    "xoá": "xóa",
    "Tuỳ": "Tùy",
}


def test_one_catalog_in_the_dashboards() -> None:
    # No page keeps its own (vi, en) table: every such dict literal is in dashboards/i18n.py.
    pattern = re.compile(r"^\w+: dict\[str, tuple\[str, str\]\] = \{", re.M)
    owners = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "dashboards").rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert owners == ["dashboards/i18n.py"]
    assert t("lookup.title", "vi") == "Tra cứu dân cư"
    assert t("audit.title", "en") == "Audit log"
    assert t("kpi.population", "vi") == "Quy mô dân số"


@pytest.mark.parametrize(("avoid", "use"), AVOIDED.items())
def test_avoided_words_are_gone(avoid: str, use: str) -> None:
    hits = [k for k, (vi, _) in TEXTS.items() if avoid.lower() in vi.lower()]
    assert not hits, f"{avoid!r} in {hits}; use {use!r} (docs/glossary.md)"
    for path in (
        "ioc/kpi/definitions.py",
        "ioc/kpi/reads.py",
        "ioc/alarms.py",
        "dashboards/report.py",
    ):
        text = (ROOT / path).read_text(encoding="utf-8")
        assert avoid.lower() not in text.lower(), (path, avoid)


def test_product_name_and_commune_word() -> None:
    assert t("app.title", "vi") == "Trung tâm Giám sát, điều hành thông minh (IOC)"
    assert t("kpi.commune", "vi") == "Xã/phường/đặc khu"
    assert t("filter.commune", "vi") == "Xã/phường/đặc khu"
    # Every Vietnamese text that names communes includes the 13 special zones.
    bare = [k for k, (vi, _) in TEXTS.items() if re.search(r"xã/phường(?!/đặc khu)", vi, re.I)]
    assert not bare
