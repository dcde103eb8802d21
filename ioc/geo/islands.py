"""The archipelago special zones Hoàng Sa and Trường Sa as sets of their named features.

Positions are approximate public positions (about 0.01°, ~1 km) of the islands, cays and
reefs; they are used as extra lookup sites of the zone's commune code and, buffered by the
territorial-sea width, as the zone's land in the derived polygons. See ioc/geo/data/README.md.
"""

from __future__ import annotations

from typing import NamedTuple

HOANG_SA_CODE = "20333"  # Đặc khu Hoàng Sa, Thành phố Đà Nẵng (48)
TRUONG_SA_CODE = "22736"  # Đặc khu Trường Sa, Tỉnh Khánh Hòa (56)
# 12 nautical miles: each feature's area is the disc of the territorial-sea width around it.
BUFFER_KM = 12 * 1.852


class Feature(NamedTuple):
    """One named island, cay or reef of an archipelago special zone."""

    name: str
    lat: float
    lon: float
    commune_code: str


FEATURES: tuple[Feature, ...] = (
    # Hoàng Sa (Paracel Islands)
    Feature("Đảo Phú Lâm", 16.834, 112.339, HOANG_SA_CODE),
    Feature("Đảo Hoàng Sa", 16.533, 111.608, HOANG_SA_CODE),
    Feature("Đảo Hữu Nhật", 16.517, 111.583, HOANG_SA_CODE),
    Feature("Đảo Quang Ảnh", 16.450, 111.510, HOANG_SA_CODE),
    Feature("Đảo Duy Mộng", 16.467, 111.733, HOANG_SA_CODE),
    Feature("Đảo Quang Hòa", 16.450, 111.710, HOANG_SA_CODE),
    Feature("Đá Lồi", 16.230, 111.680, HOANG_SA_CODE),
    Feature("Đảo Tri Tôn", 15.783, 111.200, HOANG_SA_CODE),
    Feature("Đảo Linh Côn", 16.667, 112.733, HOANG_SA_CODE),
    Feature("Đảo Cây", 16.983, 112.267, HOANG_SA_CODE),
    Feature("Đảo Bắc", 16.966, 112.317, HOANG_SA_CODE),
    Feature("Đá Bắc", 17.080, 111.500, HOANG_SA_CODE),
    Feature("Đá Bông Bay", 16.030, 112.530, HOANG_SA_CODE),
    # Trường Sa (Spratly Islands)
    Feature("Đảo Trường Sa Lớn", 8.645, 111.920, TRUONG_SA_CODE),
    Feature("Đá Tây", 8.850, 112.220, TRUONG_SA_CODE),
    Feature("Đảo Trường Sa Đông", 8.930, 112.350, TRUONG_SA_CODE),
    Feature("Đá Đông", 8.820, 112.600, TRUONG_SA_CODE),
    Feature("Đảo An Bang", 7.867, 112.917, TRUONG_SA_CODE),
    Feature("Đá Thuyền Chài", 8.170, 113.300, TRUONG_SA_CODE),
    Feature("Đảo Phan Vinh", 8.967, 113.684, TRUONG_SA_CODE),
    Feature("Đá Tốc Tan", 8.810, 113.980, TRUONG_SA_CODE),
    Feature("Đá Núi Le", 8.700, 114.180, TRUONG_SA_CODE),
    Feature("Đá Lớn", 10.050, 113.850, TRUONG_SA_CODE),
    Feature("Đảo Sinh Tồn", 9.883, 114.329, TRUONG_SA_CODE),
    Feature("Đảo Sinh Tồn Đông", 9.910, 114.560, TRUONG_SA_CODE),
    Feature("Đá Len Đao", 9.770, 114.370, TRUONG_SA_CODE),
    Feature("Đá Cô Lin", 9.760, 114.250, TRUONG_SA_CODE),
    Feature("Đảo Nam Yết", 10.182, 114.362, TRUONG_SA_CODE),
    Feature("Đảo Sơn Ca", 10.376, 114.479, TRUONG_SA_CODE),
    Feature("Đảo Song Tử Tây", 11.429, 114.331, TRUONG_SA_CODE),
    Feature("Đá Nam", 11.380, 114.300, TRUONG_SA_CODE),
)
