"""Geography: provinces, communes, approximate boundaries and point lookup (post-2025 units)."""

from ioc.geo.units import DATA_DIR, Commune, Geography, Province, geography

__all__ = ["DATA_DIR", "Commune", "Geography", "Province", "geography"]
