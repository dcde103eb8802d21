"""Per-frame metrics, all computed from one small grey copy of the frame.

Converting to grey and downscaling once (INTER_AREA, which also averages sensor
noise away) keeps every check cheap: after that first step a 640x360 frame
costs the same as a 160x90 one. See `ioc bench camera` for the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SMALL_WIDTH = 160
SCENE_WIDTH = 80


@dataclass(slots=True)
class FrameStats:
    """What the health and motion checks need from one frame."""

    grey: np.ndarray  # small grey frame, uint8
    scene: np.ndarray  # smaller float32 frame, zero mean, unit norm, for correlation
    mean: float
    std: float
    saturated: float  # share of pixels >= 250
    sharpness: float  # variance of the Laplacian
    diff: float | None  # mean absolute difference to the previous frame
    motion_area: float | None  # share of pixels that moved since the previous frame


def small_size(width: int, height: int, small_width: int = SMALL_WIDTH) -> tuple[int, int]:
    """The analysis size for a frame size, keeping the aspect ratio."""
    return small_width, max(1, round(small_width * height / width))


def normalised(img: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm float copy, so a dot product is the correlation coefficient."""
    f = img.astype(np.float32)
    f -= f.mean()
    norm = float(np.sqrt((f * f).sum()))
    return f / norm if norm > 1e-6 else f


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two `normalised` images (1 = same view)."""
    return float(np.dot(a.ravel(), b.ravel()))


class Analyzer:
    """Turns full frames into FrameStats, remembering the previous frame for differences."""

    def __init__(self, pixel_threshold: int = 20, small_width: int = SMALL_WIDTH) -> None:
        self.pixel_threshold = pixel_threshold
        self.small_width = small_width
        self._prev_grey: np.ndarray | None = None
        self._prev_blur: np.ndarray | None = None
        self._size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the previous frame (after a reconnect the next one is not a continuation)."""
        self._prev_grey = None
        self._prev_blur = None

    def stats(self, frame: np.ndarray) -> FrameStats:
        """Metrics of one BGR (or grey) frame."""
        h, w = frame.shape[:2]
        size = small_size(w, h, self.small_width)
        if self._size != size:
            self._size = size
            self.reset()
        # Grey first: INTER_AREA on one channel is ~3x cheaper than on three.
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if size != (w, h):
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        mean, std = cv2.meanStdDev(grey)
        saturated = cv2.countNonZero(cv2.compare(grey, 250, cv2.CMP_GE)) / grey.size
        _, lap_std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S))
        sw = SCENE_WIDTH
        scene = normalised(
            cv2.resize(grey, (sw, max(1, round(sw * h / w))), interpolation=cv2.INTER_AREA)
        )
        blur = cv2.GaussianBlur(grey, (5, 5), 0)
        diff = area = None
        if self._prev_grey is not None and self._prev_blur is not None:
            diff = float(cv2.norm(grey, self._prev_grey, cv2.NORM_L1)) / grey.size
            moved = cv2.compare(
                cv2.absdiff(blur, self._prev_blur), self.pixel_threshold, cv2.CMP_GT
            )
            area = cv2.countNonZero(moved) / grey.size
        self._prev_grey, self._prev_blur = grey, blur
        return FrameStats(
            grey=grey,
            scene=scene,
            mean=float(mean[0, 0]),
            std=float(std[0, 0]),
            saturated=saturated,
            sharpness=float(lap_std[0, 0]) ** 2,
            diff=diff,
            motion_area=area,
        )
