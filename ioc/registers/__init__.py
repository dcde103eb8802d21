"""Programme registers: villages (signal, power) and cameras to integrate; importer and CLI."""

from ioc.registers.models import CameraRow, VillageRow, village_id

__all__ = ["CameraRow", "VillageRow", "village_id"]
