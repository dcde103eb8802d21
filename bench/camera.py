"""`ioc bench camera`: cost of the health and motion checks per frame, and per camera at 5 fps."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np

from camera_adapters.analysis import Analyzer
from camera_adapters.config import HealthConfig, MotionConfig
from camera_adapters.health import HealthMonitor
from camera_adapters.motion import MotionDetector
from camera_adapters.synthetic import encode_jpeg, moving_scene


def _cpu_rate(n: int, step: Callable[[int], None], repeats: int = 3) -> float:
    """Frames per CPU-second of `step` over n frames, best of `repeats` (one thread: per core).

    CPU time, not wall time, so other work on the machine does not count against us;
    best of three, as timeit does, because interference only ever slows a run down.
    """
    step(0)  # warm caches and lazy allocations
    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        for i in range(n):
            step(i)
        best = max(best, n / max(time.process_time() - t0, 1e-9))
    return best


def _stream_decode_rate(
    pool: list[np.ndarray], width: int, height: int, frames: int
) -> float | None:
    """Frames per CPU-second decoding an MPEG-4 file through VideoCapture (a stand-in for
    RTSP: the opencv-python wheel has no H.264 encoder to make a test stream)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.mp4")
        writer = cv2.VideoWriter(
            path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height)
        )
        if not writer.isOpened():
            return None
        for _ in range(max(1, min(3, frames // len(pool)))):
            for frame in pool:
                writer.write(frame)
        writer.release()
        cap = cv2.VideoCapture(path)
        n = 0
        t0 = time.process_time()
        while cap.grab():
            ok, _ = cap.retrieve()
            n += ok
        cpu = time.process_time() - t0
        cap.release()
    return n / cpu if n and cpu > 0 else None


def _checks(small_width: int | None) -> Callable[[np.ndarray, float], None]:
    analyzer = Analyzer(small_width=small_width) if small_width else Analyzer()
    health = HealthMonitor(HealthConfig(learn_s=1.0))
    motion = MotionDetector(MotionConfig())

    def run(frame: np.ndarray, t: float) -> None:
        s = analyzer.stats(frame)
        health.frame(t, s)
        motion.frame(t, s, suppressed=health.picture_fault)

    return run


def run_bench(
    frames: int = 1500, width: int = 640, height: int = 360, fps: float = 5.0
) -> dict[str, Any]:
    """Measure and return the figures (single thread, synthetic moving scene)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # per-core figures: OpenCV must not spread one frame over cores
    try:
        pool = list(islice(moving_scene(width, height), min(120, max(20, frames))))
        jpegs = [encode_jpeg(f, 80) for f in pool]
        k = len(pool)

        checks = _checks(None)
        analysis = _cpu_rate(frames, lambda i: checks(pool[i % k], i / fps))

        checks_dec = _checks(None)
        decode_analysis = _cpu_rate(
            frames,
            lambda i: checks_dec(
                cv2.imdecode(np.frombuffer(jpegs[i % k], np.uint8), cv2.IMREAD_COLOR), i / fps
            ),
        )
        stream = _stream_decode_rate(pool, width, height, frames)
        full = _checks(width)
        full_res = _cpu_rate(max(frames // 5, 50), lambda i: full(pool[i % k], i / fps))
        snapshot = _cpu_rate(max(frames // 10, 30), lambda i: cv2.imencode(".jpg", pool[i % k])[1])
    finally:
        cv2.setNumThreads(threads)
    return {
        "resolution": f"{width}x{height}",
        "frames": frames,
        "checks_fps_per_core": round(analysis, 1),
        "core_share_per_camera_at_fps": round(fps / analysis, 5),
        "cameras_per_core_at_fps": int(analysis // fps),
        "mjpeg_decode_and_checks_fps_per_core": round(decode_analysis, 1),
        "core_share_per_mjpeg_camera_at_fps": round(fps / decode_analysis, 5),
        "mpeg4_stream_decode_fps_per_core": round(stream, 1) if stream else None,
        "core_share_per_stream_camera_at_fps": round(fps / stream + fps / analysis, 5)
        if stream
        else None,
        "full_resolution_checks_fps_per_core": round(full_res, 1),
        "downscale_speedup": round(analysis / full_res, 1),
        "snapshot_jpeg_encodes_per_core": round(snapshot, 1),
        "analysis_fps": fps,
    }


@click.command("camera")
@click.option(
    "--frames", default=1500, show_default=True, help="Frames to analyse per measurement."
)
@click.option("--width", default=640, show_default=True)
@click.option("--height", default=360, show_default=True)
@click.option("--fps", default=5.0, show_default=True, help="Analysis rate per camera.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_camera(frames: int, width: int, height: int, fps: float, as_json: bool) -> None:
    """Frames/s per core of all camera checks together, and the share of a core per camera."""
    r = run_bench(frames, width, height, fps)
    if as_json:
        click.echo(json.dumps(r))
        return
    res = r["resolution"]
    click.echo(f"camera checks at {res} (health + motion, one thread, synthetic moving scene)")
    click.echo(f"  all checks                 {r['checks_fps_per_core']:>10,.0f} frames/s per core")
    click.echo(
        f"  per camera at {fps:g} fps       {r['core_share_per_camera_at_fps'] * 100:>10.2f} % of one core"
        f"  ({r['cameras_per_core_at_fps']:,} cameras per core)"
    )
    click.echo(
        f"  + MJPEG decode             {r['mjpeg_decode_and_checks_fps_per_core']:>10,.0f} frames/s per core"
        f"  ({r['core_share_per_mjpeg_camera_at_fps'] * 100:.2f} % of a core per camera at {fps:g} fps)"
    )
    if r["mpeg4_stream_decode_fps_per_core"]:
        click.echo(
            f"  MPEG-4 stream decode       {r['mpeg4_stream_decode_fps_per_core']:>10,.0f} frames/s per core"
            f"  (decode + checks at {fps:g} fps: {r['core_share_per_stream_camera_at_fps'] * 100:.2f} % of a core)"
        )
    click.echo(
        f"  peer: checks at full {res} {r['full_resolution_checks_fps_per_core']:>7,.0f} frames/s per core"
        f"  (downscaling first is {r['downscale_speedup']}x faster)"
    )
    click.echo(
        f"  snapshot JPEG encode       {r['snapshot_jpeg_encodes_per_core']:>10,.0f} per second per core"
    )
