"""Tunable thresholds of the health, motion and snapshot checks (strict models, documented fields).

Metrics are computed on a 160-pixel-wide grey copy of each frame (see analysis.py),
so thresholds do not depend on the camera's resolution.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthConfig(_Config):
    """When each health condition opens and closes."""

    offline_after_s: float = Field(
        10.0, gt=0, description="No frame for this long: camera.offline opens (onset = last frame)."
    )
    offline_close_s: float = Field(
        2.0, ge=0, description="Frames must flow again this long before offline closes."
    )
    frozen_after_s: float = Field(
        10.0,
        gt=0,
        description="Identical frames for this long: camera.frozen. Longer than the encoder's "
        "GOP, because a long-GOP encoder may repeat a static picture exactly between I-frames.",
    )
    frozen_close_s: float = Field(1.0, ge=0, description="Changing frames this long close frozen.")
    frozen_diff: float = Field(
        0.1, ge=0, description="Mean absolute grey difference below which two frames are identical."
    )
    dark_mean: float = Field(25.0, description="Mean grey at or below this: covered/too dark.")
    dark_close_mean: float = Field(35.0, description="Covered closes only above this mean grey.")
    uniform_std: float = Field(
        6.0, description="Grey standard deviation at or below this: lens covered (no detail)."
    )
    uniform_close_std: float = Field(10.0, description="Covered closes only above this deviation.")
    covered_after_s: float = Field(3.0, ge=0, description="Hold before camera.covered opens.")
    covered_close_s: float = Field(2.0, ge=0, description="Hold before camera.covered closes.")
    bright_mean: float = Field(225.0, description="Mean grey at or above this: too bright.")
    bright_close_mean: float = Field(205.0, description="Too bright closes only below this mean.")
    bright_saturated: float = Field(
        0.5, ge=0, le=1, description="Share of saturated pixels (>= 250) that means too bright."
    )
    bright_close_saturated: float = Field(
        0.3, ge=0, le=1, description="Too bright closes only below this saturated share."
    )
    bright_after_s: float = Field(3.0, ge=0, description="Hold before camera.too_bright opens.")
    bright_close_s: float = Field(2.0, ge=0, description="Hold before camera.too_bright closes.")
    learn_s: float = Field(
        30.0,
        gt=0,
        description="Healthy footage needed to learn the camera's sharpness baseline and "
        "reference view (kept in the state directory across restarts).",
    )
    learn_min_frames: int = Field(5, ge=1, description="And at least this many healthy frames.")
    blur_ratio: float = Field(
        0.35, gt=0, lt=1, description="Sharpness below this share of the baseline: blurred."
    )
    blur_close_ratio: float = Field(
        0.55, gt=0, lt=1, description="Blurred closes above this share."
    )
    blur_after_s: float = Field(5.0, ge=0, description="Hold before camera.blurred opens.")
    blur_close_s: float = Field(3.0, ge=0, description="Hold before camera.blurred closes.")
    baseline_tau_s: float = Field(
        3600.0, gt=0, description="Time constant of the baseline's drift (day/night, seasons)."
    )
    scene_ncc: float = Field(
        0.5, ge=-1, le=1, description="Correlation with the reference view below this: moved."
    )
    scene_close_ncc: float = Field(
        0.7, ge=-1, le=1, description="Scene change closes when the view correlates above this."
    )
    scene_after_s: float = Field(3.0, ge=0, description="Hold before camera.scene_change opens.")
    scene_close_s: float = Field(2.0, ge=0, description="Hold before it closes by moving back.")
    scene_accept_s: float = Field(
        600.0,
        gt=0,
        description="A new view held this long becomes the reference: scene_change closes and "
        "the baselines are learned again for the new view.",
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> HealthConfig:
        pairs = [
            (self.dark_mean <= self.dark_close_mean, "dark_mean <= dark_close_mean"),
            (self.uniform_std <= self.uniform_close_std, "uniform_std <= uniform_close_std"),
            (self.bright_close_mean <= self.bright_mean, "bright_close_mean <= bright_mean"),
            (self.blur_ratio <= self.blur_close_ratio, "blur_ratio <= blur_close_ratio"),
            (self.scene_ncc <= self.scene_close_ncc, "scene_ncc <= scene_close_ncc"),
        ]
        broken = [text for ok, text in pairs if not ok]
        if broken:
            raise ValueError("hysteresis needs " + ", ".join(broken))
        return self


class MotionConfig(_Config):
    """Frame differencing on the small grey frame."""

    enabled: bool = Field(True, description="Publish camera.motion.")
    pixel_threshold: int = Field(
        20, ge=1, le=255, description="Grey change that counts a pixel as moved."
    )
    min_area: float = Field(
        0.005, gt=0, le=1, description="Share of the frame that must move to count as motion."
    )
    global_area: float = Field(
        0.6,
        gt=0,
        le=1,
        description="A larger share changing at once is light switching or the camera moving, "
        "not motion: such frames are ignored.",
    )
    open_after_s: float = Field(
        0.3, ge=0, description="Motion must persist this long (a one-frame step is not motion)."
    )
    close_after_s: float = Field(2.0, ge=0, description="Stillness this long closes motion.")


class SnapshotConfig(_Config):
    """When JPEG snapshots are written."""

    enabled: bool = Field(True, description="Write snapshots at all.")
    interval_s: float = Field(
        60.0, ge=0, description="A camera.snapshot every this many seconds; 0 disables."
    )
    on_alarm: bool = Field(True, description="Attach a snapshot to health events.")
    on_motion: bool = Field(True, description="Attach a snapshot to motion opened events.")
    quality: int = Field(80, ge=10, le=100, description="JPEG quality.")
    max_width: int = Field(1280, ge=64, description="Larger frames are scaled down first.")
    retention_days: int = Field(
        14, ge=0, description="Day folders older than this are deleted; 0 keeps everything."
    )


class WatchConfig(_Config):
    """Everything `ioc camera watch` tunes."""

    fps: float = Field(5.0, gt=0, le=60, description="Frames analysed per second.")
    health: HealthConfig = HealthConfig()
    motion: MotionConfig = MotionConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
