"""Synthetic camera scenes and a small MJPEG-in-AVI writer, for test clips, demos and the bench.

OpenCV's own MJPEG writer ignores the JPEG quality in some builds and makes clips
several times larger than needed, so frames are encoded with `cv2.imencode`
and muxed into a plain AVI 1.0 file here (FFmpeg and OpenCV read it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

DEFAULT_QUALITY = 40


def textured_scene(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A street-like BGR background: flat regions with edges at many scales."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    # A vertical gradient like sky over road, so the scene is not flat grey.
    ramp = np.linspace(150, 95, height, dtype=np.float32)[:, None]
    img[:] = np.dstack([ramp + 10, ramp, ramp - 10]).clip(0, 255).astype(np.uint8)
    scale = width / 320
    for _ in range(int(70 * scale * scale) + 20):
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(6, 44) * scale)
        if rng.random() < 0.6:
            cv2.rectangle(
                img, (x, y), (x + size, y + int(size * rng.uniform(0.4, 1.6))), colour, -1
            )
        else:
            cv2.circle(img, (x, y), max(2, size // 2), colour, -1)
    for _ in range(int(12 * scale) + 4):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(img, p1, p2, colour, max(1, int(2 * scale)))
    # Soften by one pixel, like a real lens, so a defocus is a change in degree.
    return cv2.GaussianBlur(img, (3, 3), 0)


def add_noise(img: np.ndarray, rng: np.random.Generator, sigma: float = 1.5) -> np.ndarray:
    """Sensor noise, so a live static scene never repeats a frame exactly (a frozen one does)."""
    noise = rng.normal(0.0, sigma, img.shape[:2]).astype(np.float32)[:, :, None]
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def draw_walker(img: np.ndarray, x: float, y: float, scale: float = 1.0) -> np.ndarray:
    """A person-sized dark figure at (x, y) (its feet), drawn on a copy."""
    out = img.copy()
    w, h = int(14 * scale), int(38 * scale)
    x0, y0 = int(x - w / 2), int(y - h)
    cv2.rectangle(out, (x0, y0 + h // 4), (x0 + w, y0 + h), (40, 45, 60), -1)
    cv2.circle(out, (int(x), y0 + h // 8), max(2, w // 2 - 1), (70, 90, 120), -1)
    return out


def covered(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hand or cloth over the lens: dark, nearly uniform, a faint gradient."""
    h, w = img.shape[:2]
    base = np.linspace(16, 24, w, dtype=np.float32)[None, :].repeat(h, 0)
    out = np.dstack([base * 0.8, base * 0.9, base * 1.1])
    return add_noise(out.clip(0, 255).astype(np.uint8), rng)


def glare(img: np.ndarray) -> np.ndarray:
    """Sun or a headlight straight into the lens: the picture washes out."""
    return np.clip(img.astype(np.float32) * 1.6 + 140, 0, 255).astype(np.uint8)


def defocus(img: np.ndarray, sigma: float) -> np.ndarray:
    """A lens knocked out of focus."""
    return cv2.GaussianBlur(img, (0, 0), sigma)


def moving_scene(
    width: int = 640, height: int = 360, *, seed: int = 3, noise: float = 1.5
) -> Iterator[np.ndarray]:
    """An endless scene with walkers crossing it, for the bench."""
    rng = np.random.default_rng(seed)
    bg = textured_scene(width, height, seed)
    scale = width / 320
    i = 0
    while True:
        frame = bg
        for k in range(2):
            x = (i * 6 * scale + k * width / 2) % (width + 40 * scale) - 20 * scale
            frame = draw_walker(frame, x, height * (0.7 + 0.15 * k), scale)
        yield add_noise(frame, rng, noise)
        i += 1


def encode_jpeg(img: np.ndarray, quality: int = DEFAULT_QUALITY) -> bytes:
    """Baseline JPEG, 4:2:0, optimised Huffman tables (what most cameras send)."""
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_OPTIMIZE,
        1,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return fourcc + struct.pack("<I", len(data)) + data + pad


def _list(kind: bytes, payload: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(payload) + 4) + kind + payload


def write_mjpeg_avi(
    path: Path, frames: Iterable[np.ndarray], fps: float, quality: int = DEFAULT_QUALITY
) -> int:
    """Write frames as an MJPEG AVI 1.0 file; returns the number of frames."""
    jpegs = [encode_jpeg(f, quality) for f in frames]
    if not jpegs:
        raise ValueError("no frames")
    height, width = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_GRAYSCALE).shape
    n = len(jpegs)
    biggest = max(len(j) for j in jpegs)
    rate_num, rate_den = round(fps * 1000), 1000
    avih = struct.pack(
        "<14I",
        round(1_000_000 / fps),  # microseconds per frame
        biggest * round(fps),  # max bytes per second
        0,
        0x10,  # AVIF_HASINDEX
        n,
        0,
        1,  # streams
        biggest,
        width,
        height,
        0,
        0,
        0,
        0,
    )
    strh = struct.pack(
        "<4s4sIHHIIIIIIiI4h",
        b"vids",
        b"MJPG",
        0,
        0,
        0,
        0,
        rate_den,  # scale
        rate_num,  # rate: fps = rate / scale
        0,
        n,
        biggest,
        -1,
        0,
        0,
        0,
        width,
        height,
    )
    strf = struct.pack(
        "<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0
    )
    hdrl = _list(
        b"hdrl",
        _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)),
    )
    movi_chunks = []
    index = []
    offset = 4  # idx1 offsets count from the 'movi' fourcc
    for j in jpegs:
        chunk = _chunk(b"00dc", j)
        index.append(struct.pack("<4sIII", b"00dc", 0x10, offset, len(j)))
        movi_chunks.append(chunk)
        offset += len(chunk)
    movi = _list(b"movi", b"".join(movi_chunks))
    idx1 = _chunk(b"idx1", b"".join(index))
    body = b"AVI " + hdrl + movi + idx1
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return n
