"""Motion by frame differencing on the small grey frame, with a minimum area and hysteresis."""

from __future__ import annotations

from camera_adapters.analysis import FrameStats
from camera_adapters.conditions import Debounced
from camera_adapters.config import MotionConfig
from camera_adapters.health import Change

MOTION = "camera.motion"


class MotionDetector:
    """Opens camera.motion when enough of the frame keeps moving, closes after stillness."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self.condition = Debounced(config.open_after_s, config.close_after_s)
        self._peak = 0.0

    @property
    def is_open(self) -> bool:
        """True while motion is opened."""
        return self.condition.is_open

    def frame(self, t: float, s: FrameStats, *, suppressed: bool = False) -> list[Change]:
        """Feed one frame; `suppressed` when a health fault makes motion meaningless."""
        c = self.config
        if suppressed:
            tr = self.condition.force_close(t)
            peak, self._peak = self._peak, 0.0
            return [Change(MOTION, "closed", tr.t, metric=peak)] if tr else []
        area = s.motion_area
        if area is None or area >= c.global_area:
            # A whole-frame change (lights, iris, the camera knocked) says nothing about motion.
            return []
        active = area >= c.min_area
        if active:
            self._peak = max(self._peak, area)
        elif not self.condition.is_open and not self.condition.pending:
            self._peak = 0.0
        tr = self.condition.update(t, active)
        if tr is None:
            if not active and not self.condition.is_open:
                self._peak = 0.0
            return []
        if tr.state == "opened":
            return [Change(MOTION, "opened", tr.t, metric=self._peak)]
        peak, self._peak = self._peak, 0.0
        return [Change(MOTION, "closed", tr.t, metric=peak)]
