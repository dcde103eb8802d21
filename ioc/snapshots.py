"""Snapshot references from devices, checked at the edge and again before a file is served.

A `SnapshotRef.path` arrives in a device's event: it is data, never an address on
this server. It must be a plain relative path of safe segments ending in `.jpg`
inside the snapshot root, and a file is served only when its bytes are a JPEG
whose size and sha256 match the reference, so a reference can name nothing but
the picture it was made for.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

# Segments as camera adapters write them (`{source}/{YYYYMMDD}/{HHMMSS.mmm}-{reason}.jpg`):
# no leading dot (no `..`, no hidden files), no separators, no wildcards, no spaces.
_SEGMENT = re.compile(r"^[A-Za-z0-9_@:-][A-Za-z0-9._@:-]{0,127}$")
_MAX_DEPTH = 8
JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024


def check_snapshot_path(raw: str) -> str:
    """The path if it is a safe relative JPEG path under the snapshot root; else ValueError."""
    if not raw or "\\" in raw or "\x00" in raw:
        raise ValueError("snapshot path must be a non-empty POSIX path")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise ValueError("snapshot path must be relative to the snapshot root, not absolute")
    parts = raw.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError("snapshot path must not contain '..', '.' or empty segments")
    if len(parts) > _MAX_DEPTH or not all(_SEGMENT.match(p) for p in parts):
        raise ValueError("snapshot path has unsafe characters or is too deep")
    if PurePosixPath(raw).suffix.lower() not in JPEG_SUFFIXES:
        raise ValueError("snapshot path must name a .jpg file")
    return raw


def check_snapshot_url(raw: str) -> str:
    """The URL if it is plain http(s); the server never fetches it, a browser may show it."""
    if not re.match(r"^https?://[^\s\\]+$", raw, flags=re.IGNORECASE):
        raise ValueError("snapshot url must be an http(s) URL")
    return raw


def read_snapshot(root: Path, path: str, sha256: str, size: int) -> bytes | None:
    """The JPEG bytes a reference names, only if every check passes; None otherwise."""
    try:
        check_snapshot_path(path)
    except ValueError:
        return None
    base = root.resolve()
    candidate = (base / path).resolve()
    # resolve() follows symlinks: a link that leads out of the root is refused here.
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    if size > MAX_SNAPSHOT_BYTES or candidate.stat().st_size != size:
        return None
    data = candidate.read_bytes()  # served from memory: the checked bytes are the sent bytes
    if len(data) != size or not data.startswith(JPEG_MAGIC):
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    return data
