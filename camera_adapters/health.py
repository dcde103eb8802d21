"""Camera health: offline, frozen, covered/too dark, too bright, blurred, scene change.

Checks are ordered so one fault does not raise others: no frames (offline)
hides everything; a frozen picture hides the picture checks; a covered or
washed-out picture hides blur and scene change (a covered lens is also
"blurred" and "moved"). Blur and scene change compare against a baseline learned
from this camera's own healthy footage, not against a global constant.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera_adapters.analysis import FrameStats, correlation
from camera_adapters.conditions import Debounced, State, Transition
from camera_adapters.config import HealthConfig

logger = logging.getLogger(__name__)

OFFLINE, FROZEN, COVERED, BRIGHT, BLURRED, SCENE = (
    "camera.offline",
    "camera.frozen",
    "camera.covered",
    "camera.too_bright",
    "camera.blurred",
    "camera.scene_change",
)
# A drift of the reference view is absorbed only while the view clearly matches it.
REFERENCE_TRACK_NCC = 0.8


@dataclass(frozen=True, slots=True)
class Change:
    """A confirmed health or motion transition; `t` is its onset on the analysis clock."""

    kind: str
    state: State
    t: float
    metric: float | None = None
    baseline: float | None = None


class Baseline:
    """The camera's learned sharpness and reference view, optionally kept on disk."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.sharpness: float | None = None
        self.reference: np.ndarray | None = None

    @property
    def learned(self) -> bool:
        """True when both the sharpness and the reference view are known."""
        return self.sharpness is not None and self.reference is not None

    def load(self) -> bool:
        """Read a saved baseline; False when there is none (or it is unreadable)."""
        if self.path is None or not self.path.with_suffix(".json").is_file():
            return False
        try:
            meta = json.loads(self.path.with_suffix(".json").read_text())
            reference = np.load(self.path.with_suffix(".npy"))
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable baseline %s: %s", self.path, exc)
            return False
        self.sharpness = float(meta["sharpness"])
        self.reference = reference.astype(np.float32)
        return True

    def save(self) -> None:
        """Write the baseline atomically next to the camera's other state."""
        if self.path is None or not self.learned:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npy")
        np.save(tmp, self.reference)
        tmp.replace(self.path.with_suffix(".npy"))
        tmp_json = self.path.with_suffix(".tmp.json")
        tmp_json.write_text(json.dumps({"sharpness": self.sharpness}))
        tmp_json.replace(self.path.with_suffix(".json"))

    def forget(self) -> None:
        """Start learning again (the camera now looks at a different scene)."""
        self.sharpness = None
        self.reference = None


class HealthMonitor:
    """Feeds frame metrics (or their absence) through debounced conditions."""

    def __init__(self, config: HealthConfig, baseline: Baseline | None = None) -> None:
        c = self.config = config
        self.baseline = baseline or Baseline()
        if self.baseline.path is not None:
            self.baseline.load()
        self.conditions: dict[str, Debounced] = {
            OFFLINE: Debounced(0.0, c.offline_close_s),
            FROZEN: Debounced(c.frozen_after_s, c.frozen_close_s),
            COVERED: Debounced(c.covered_after_s, c.covered_close_s),
            BRIGHT: Debounced(c.bright_after_s, c.bright_close_s),
            BLURRED: Debounced(c.blur_after_s, c.blur_close_s),
            SCENE: Debounced(c.scene_after_s, c.scene_close_s),
        }
        self._start: float | None = None
        self._last_frame: float | None = None
        self._learn_since: float | None = None
        self._samples: list[float] = []
        self._ref_sum: np.ndarray | None = None

    def is_open(self, kind: str) -> bool:
        """True while the condition is opened."""
        return self.conditions[kind].is_open

    def open_kinds(self) -> list[str]:
        """The conditions open now."""
        return [k for k, c in self.conditions.items() if c.is_open]

    @property
    def picture_fault(self) -> bool:
        """True when the picture cannot be trusted (frozen, covered, washed out)."""
        return any(self.conditions[k].is_open for k in (FROZEN, COVERED, BRIGHT))

    # -- no frame ------------------------------------------------------------------------

    def start(self, t: float) -> None:
        """Mark when watching began (offline counts from here until the first frame)."""
        if self._start is None:
            self._start = t

    def no_frame(self, t: float) -> list[Change]:
        """Called when no new frame arrived by time t."""
        self.start(t)
        since = self._last_frame if self._last_frame is not None else self._start
        assert since is not None
        offline = self.conditions[OFFLINE]
        # While offline, a second without frames cancels a pending close: the stream
        # is flapping, not back.
        limit = (
            min(self.config.offline_after_s, 1.0)
            if offline.is_open
            else self.config.offline_after_s
        )
        tr = offline.update(t, t - since >= limit)
        if tr is None:
            return []
        # Offline since the last frame, not since we noticed.
        return [Change(OFFLINE, "opened", since, metric=round(t - since, 3))]

    # -- a frame -------------------------------------------------------------------------

    def frame(self, t: float, s: FrameStats) -> list[Change]:
        """Called for each analysed frame."""
        self.start(t)
        c = self.config
        out: list[Change] = []
        gap = t - (self._last_frame if self._last_frame is not None else t)
        self._last_frame = t
        tr = self.conditions[OFFLINE].update(t, False)
        if tr is not None:
            out.append(Change(OFFLINE, "closed", tr.t))
        if self.conditions[OFFLINE].is_open:
            return out  # frames must flow a while before anything else is judged

        frozen = self.conditions[FROZEN]
        if self.conditions[COVERED].is_open or self.conditions[BRIGHT].is_open:
            frozen.reset()  # a covered lens may give near-identical frames; it is not frozen
        else:
            tr = frozen.update(t, s.diff is not None and s.diff < c.frozen_diff)
            self._emit(out, FROZEN, tr, s.diff)
        if frozen.is_open:
            return out

        bright = self.conditions[BRIGHT]
        if bright.is_open:
            bright_raw = s.mean >= c.bright_close_mean or s.saturated >= c.bright_close_saturated
        else:
            bright_raw = s.mean >= c.bright_mean or s.saturated >= c.bright_saturated
        self._emit(out, BRIGHT, bright.update(t, bright_raw), s.mean)

        covered = self.conditions[COVERED]
        if covered.is_open:
            covered_raw = s.mean <= c.dark_close_mean or s.std <= c.uniform_close_std
        else:
            covered_raw = s.mean <= c.dark_mean or s.std <= c.uniform_std
        covered_raw = covered_raw and not bright_raw
        self._emit(out, COVERED, covered.update(t, covered_raw), s.mean)

        if bright_raw or covered_raw or bright.is_open or covered.is_open:
            # Blur and view cannot be judged through a cover or glare: hold them as they are.
            self.conditions[BLURRED].reset()
            self.conditions[SCENE].reset()
            return out

        if not self.baseline.learned:
            self._learn(t, s)
            return out

        base = self.baseline
        assert base.sharpness is not None and base.reference is not None
        ncc = correlation(s.scene, base.reference) if s.scene.shape == base.reference.shape else 0.0
        scene = self.conditions[SCENE]
        scene_raw = ncc < (c.scene_close_ncc if scene.is_open else c.scene_ncc)
        self._emit(out, SCENE, scene.update(t, scene_raw), ncc)
        if scene.is_open:
            self.conditions[BLURRED].reset()
            if scene.opened_at is not None and t - scene.opened_at >= c.scene_accept_s:
                # The camera now looks somewhere else for good: accept it as the new normal.
                tr = scene.force_close(t)
                self._emit(out, SCENE, tr, ncc)
                blurred = self.conditions[BLURRED].force_close(t)
                self._emit(out, BLURRED, blurred, s.sharpness)
                base.forget()
                self._learn_since = None
            return out
        if scene.pending:
            return out

        blurred = self.conditions[BLURRED]
        ratio = s.sharpness / base.sharpness if base.sharpness > 0 else 1.0
        blur_raw = ratio < (c.blur_close_ratio if blurred.is_open else c.blur_ratio)
        self._emit(out, BLURRED, blurred.update(t, blur_raw), s.sharpness)
        if not blurred.is_open and not blurred.pending and 0 < gap:
            # Follow slow changes (dusk, rain, seasons) so the baseline stays this camera's normal.
            a = min(1.0, gap / c.baseline_tau_s)
            base.sharpness += a * (s.sharpness - base.sharpness)
            if ncc >= REFERENCE_TRACK_NCC:
                base.reference = (1 - a) * base.reference + a * s.scene
        return out

    def _learn(self, t: float, s: FrameStats) -> None:
        if self._learn_since is None:
            self._learn_since = t
            self._samples = []
            self._ref_sum = np.zeros_like(s.scene)
        assert self._ref_sum is not None
        if self._ref_sum.shape != s.scene.shape:
            self._learn_since = None
            return
        self._samples.append(s.sharpness)
        self._ref_sum += s.scene
        enough = len(self._samples) >= self.config.learn_min_frames
        if enough and t - self._learn_since >= self.config.learn_s:
            self.baseline.sharpness = float(np.median(self._samples))
            ref = self._ref_sum / len(self._samples)
            ref -= ref.mean()
            norm = float(np.sqrt((ref * ref).sum()))
            self.baseline.reference = ref / norm if norm > 1e-6 else ref
            self._learn_since = None
            self.baseline.save()
            logger.info("learned baseline: sharpness %.1f", self.baseline.sharpness)

    def _emit(
        self, out: list[Change], kind: str, tr: Transition | None, metric: float | None
    ) -> None:
        if tr is None:
            return
        baseline = self.baseline.sharpness if kind == BLURRED else None
        out.append(Change(kind, tr.state, tr.t, metric=metric, baseline=baseline))
