"""JPEG snapshots on disk; events carry a SnapshotRef (path or URL, sha256, size), never the bytes.

Layout: `{root}/{source}/{YYYYMMDD}/{HHMMSS.mmm}-{reason}.jpg` in UTC, where root
is `{data_dir}/snapshots` by default. `SnapshotRef.path` is relative to root,
so any process that knows the data directory (the dashboard) can serve it;
with a URL base the ref carries `url` = base + path instead, for a web server in
front of the folder. Names depend only on camera, time and reason, so
re-processing the same footage rewrites the same files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from camera_adapters.canonical import stamp
from ioc.events import SnapshotRef
from ioc.snapshots import check_snapshot_path

logger = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"


class SnapshotStore:
    """Writes snapshots atomically and prunes day folders past the retention."""

    def __init__(
        self,
        root: Path,
        *,
        url_base: str | None = None,
        quality: int = 80,
        max_width: int = 1280,
        retention_days: int = 14,
    ) -> None:
        self.root = Path(root)
        self.url_base = url_base.rstrip("/") + "/" if url_base else None
        self.quality = quality
        self.max_width = max_width
        self.retention_days = retention_days
        self._pruned: set[str] = set()

    def resolve(self, ref_path: str) -> Path:
        """The file behind a SnapshotRef.path, refusing paths that leave the root."""
        check_snapshot_path(ref_path)
        path = (self.root / ref_path).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"snapshot path {ref_path!r} is outside {self.root}")
        return path

    def save_frame(self, source: str, frame: np.ndarray, ts: datetime, reason: str) -> SnapshotRef:
        """Encode a frame as JPEG and store it."""
        h, w = frame.shape[:2]
        if w > self.max_width:
            frame = cv2.resize(
                frame, (self.max_width, round(h * self.max_width / w)), interpolation=cv2.INTER_AREA
            )
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return self.save_jpeg(source, buf.tobytes(), ts, reason, frame.shape[1], frame.shape[0])

    def save_jpeg(
        self,
        source: str,
        data: bytes,
        ts: datetime,
        reason: str,
        width: int | None = None,
        height: int | None = None,
    ) -> SnapshotRef:
        """Store JPEG bytes as they are (e.g. a vendor's plate picture)."""
        if width is None or height is None:
            size = _jpeg_size(data)
            if size is None:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
                if img is None:
                    raise ValueError("not a decodable image")
                size = (img.shape[1], img.shape[0])
            width, height = size
        utc = ts.astimezone(UTC)
        day = utc.strftime("%Y%m%d")
        rel = f"{source}/{day}/{stamp(utc)[9:-1]}-{reason}.jpg"
        path = self.root / rel
        digest = hashlib.sha256(data).hexdigest()
        if not (path.is_file() and path.stat().st_size == len(data)):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        self._prune(source, utc)
        if self.url_base:
            return SnapshotRef(
                url=self.url_base + rel, sha256=digest, size=len(data), width=width, height=height
            )
        return SnapshotRef(path=rel, sha256=digest, size=len(data), width=width, height=height)

    def _prune(self, source: str, now: datetime) -> None:
        key = f"{source}/{now:%Y%m%d}"
        if self.retention_days <= 0 or key in self._pruned:
            return
        self._pruned.add(key)  # once per camera per day is enough
        cutoff = (now - timedelta(days=self.retention_days)).strftime("%Y%m%d")
        cam_dir = self.root / source
        for day_dir in cam_dir.iterdir() if cam_dir.is_dir() else ():
            if day_dir.is_dir() and day_dir.name.isdigit() and day_dir.name < cutoff:
                shutil.rmtree(day_dir, ignore_errors=True)
                logger.info("pruned snapshots %s", day_dir)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the JPEG's SOF marker, without decoding."""
    i = 2
    n = len(data)
    if data[:2] != b"\xff\xd8":
        return None
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width, height) if width and height else None
        i += 2 + length
    return None
