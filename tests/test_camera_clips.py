"""Each synthetic clip gives exactly its health/motion events, with stable ids, and no others."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import numpy as np
import pytest
from camera_support import CLIPS, FAST, START, site

from camera_adapters.canonical import stamp
from camera_adapters.config import SnapshotConfig, WatchConfig
from camera_adapters.publisher import MemorySink
from camera_adapters.snapshots import SnapshotStore
from camera_adapters.source import FileSource, Frame
from camera_adapters.synthetic import add_noise, covered, defocus, textured_scene
from camera_adapters.watcher import CameraWatcher
from ioc.events import Event, parse_event

# clip -> [(kind, state, onset seconds into the clip)]; the clips say when things change
# (tests/fixtures/cameras/make_clips.py), frames are 0.2 s apart.
EXPECTED = {
    "moving": [("camera.motion", "opened", 3.2), ("camera.motion", "closed", 7.2)],
    "freeze": [("camera.frozen", "opened", 4.2), ("camera.frozen", "closed", 7.0)],
    "covered": [("camera.covered", "opened", 3.6), ("camera.covered", "closed", 7.0)],
    "glare": [("camera.too_bright", "opened", 3.0), ("camera.too_bright", "closed", 6.0)],
    "defocus": [("camera.blurred", "opened", 4.0), ("camera.blurred", "closed", 7.4)],
    # The camera stays moved; after scene_accept_s the new view becomes the reference.
    "shift": [("camera.scene_change", "opened", 4.0), ("camera.scene_change", "closed", 7.0)],
}


def watch(clip: str, config: WatchConfig = FAST, **kw: object) -> tuple[list[Event], MemorySink]:
    sink = MemorySink()
    watcher = CameraWatcher(site(), sink, config, **kw)  # type: ignore[arg-type]
    watcher.run(FileSource(CLIPS / f"{clip}.avi"), start=START)
    return sink.events, sink


@pytest.mark.parametrize("clip", list(EXPECTED))
def test_clip_gives_exactly_its_events(clip: str) -> None:
    events, _ = watch(clip)
    got = [(e.kind, e.attrs["state"], round((e.ts - START).total_seconds(), 1)) for e in events]
    assert got == EXPECTED[clip]
    opened, closed = events
    kind = opened.kind.split(".", 1)[1]
    if opened.kind == "camera.motion":
        assert opened.id == f"cam-test-01:motion:{stamp(opened.ts)}:opened"
        assert closed.id == f"cam-test-01:motion:{stamp(opened.ts)}:closed"
        assert 0.005 <= opened.attrs["area"] < 0.6
        assert closed.attrs["area"] >= opened.attrs["area"]  # the episode's peak
    else:
        condition = f"cam-test-01:{kind}:{stamp(opened.ts)}"
        assert opened.attrs["condition"] == closed.attrs["condition"] == condition
        assert (opened.id, closed.id) == (f"{condition}:opened", f"{condition}:closed")
        assert opened.severity >= 1 and closed.severity == 0
    for e in events:  # what goes on the wire parses back into the same event
        assert parse_event(e.to_json(), e.topic()) == e


def test_metrics_explain_each_alarm() -> None:
    (cov, _), (bright, _), (blur, blur_closed), (frozen, _), (scene, _) = (
        watch(c)[0] for c in ("covered", "glare", "defocus", "freeze", "shift")
    )
    assert cov.attrs["metric"] <= FAST.health.dark_mean
    assert bright.attrs["metric"] >= FAST.health.bright_mean
    base = blur.attrs["baseline"]
    assert blur.attrs["metric"] < FAST.health.blur_ratio * base
    assert blur_closed.attrs["metric"] > FAST.health.blur_close_ratio * base
    assert frozen.attrs["metric"] < FAST.health.frozen_diff
    assert scene.attrs["metric"] < FAST.health.scene_ncc


def test_reprocessing_a_clip_repeats_the_same_ids() -> None:
    first, _ = watch("covered")
    again, _ = watch("covered")
    assert [e.id for e in first] == [e.id for e in again]
    assert [e.model_dump() for e in first] == [e.model_dump() for e in again]


def test_production_defaults_raise_no_false_alarm_on_a_healthy_scene() -> None:
    events, sink = watch("moving", WatchConfig(snapshots=SnapshotConfig(interval_s=0)))
    assert [(e.kind, e.attrs["state"]) for e in events] == [
        ("camera.motion", "opened"),
        ("camera.motion", "closed"),
    ]
    # The status goes online with the first frame and offline when watching stops.
    assert [s.state for _, s in sink.statuses] == ["online", "offline"]
    assert all(p == "01" and s.source == "cam-test-01" for p, s in sink.statuses)


def test_a_flickering_cover_is_not_an_alarm_storm() -> None:
    sink = MemorySink()
    watcher = CameraWatcher(site(), sink, FAST)
    rng = np.random.default_rng(3)
    bg = textured_scene(320, 180)
    frames = []
    for i in range(60):  # 12 s at 5 fps: healthy, then covered every other frame
        img = covered(bg, rng) if i >= 15 and i % 2 else add_noise(bg, rng)
        frames.append(Frame(img.copy(), i * 0.2, reconnected=i == 0))
    watcher.start_clock(0.0, START)
    events = [e for f in frames for e in watcher.process(f)]
    assert [e.kind for e in events] == []


def test_snapshots_on_alarm_change_and_interval(tmp_path) -> None:
    config = FAST.model_copy(update={"snapshots": SnapshotConfig(interval_s=2.0)})
    store = SnapshotStore(tmp_path / "snapshots")
    events, _ = watch("moving", config, snapshots=store)
    # Sorted by time: a close is confirmed (and published) after its hold, but dated at its onset.
    events = sorted(events, key=lambda e: e.ts)
    kinds = [
        (e.kind, e.attrs.get("state"), round((e.ts - START).total_seconds(), 1)) for e in events
    ]
    assert kinds == [
        ("camera.snapshot", None, 0.0),
        ("camera.snapshot", None, 2.0),
        ("camera.motion", "opened", 3.2),
        ("camera.snapshot", None, 4.0),
        ("camera.snapshot", None, 6.0),
        ("camera.motion", "closed", 7.2),
        ("camera.snapshot", None, 8.0),
    ]
    for e in events:
        ref = e.attrs.get("snapshot")
        if e.kind == "camera.motion" and e.attrs["state"] == "closed":
            assert ref is None  # the picture is taken when motion starts
            continue
        assert e.kind != "camera.snapshot" or e.attrs["reason"] == "interval"
        path = store.resolve(ref["path"])
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == ref["sha256"]
        assert ref["size"] == len(data)
        assert (ref["width"], ref["height"]) == (320, 180)
        assert ref["path"].startswith("cam-test-01/20250701/")
    motion = events[2]
    assert motion.attrs["snapshot"]["path"].endswith("-change.jpg")
    # The snapshot shows the moment the event describes (the motion frame, not the start).
    assert motion.attrs["snapshot"]["path"] != events[1].attrs["snapshot"]["path"]


def test_health_snapshot_is_attached_to_the_alarm(tmp_path) -> None:
    config = FAST.model_copy(update={"snapshots": SnapshotConfig(interval_s=0)})
    store = SnapshotStore(tmp_path, url_base="https://ioc.example.vn/snapshots/")
    events, _ = watch("covered", config, snapshots=store)
    opened = events[0]
    ref = opened.attrs["snapshot"]
    assert ref["url"].startswith("https://ioc.example.vn/snapshots/cam-test-01/20250701/")
    assert ref["url"].endswith("-alarm.jpg") and "path" not in ref
    picture = (tmp_path / ref["url"].split("/snapshots/", 1)[1]).read_bytes()
    assert hashlib.sha256(picture).hexdigest() == ref["sha256"]


def test_snapshot_paths_cannot_escape_the_root(tmp_path) -> None:
    store = SnapshotStore(tmp_path / "root")
    with pytest.raises(ValueError, match=r"outside|\.\."):
        store.resolve("../../etc/passwd")


def test_snapshot_retention_prunes_old_days(tmp_path) -> None:
    store = SnapshotStore(tmp_path, retention_days=7)
    old = tmp_path / "cam-test-01" / "20250601"
    old.mkdir(parents=True)
    (old / "x.jpg").write_bytes(b"x")
    img = textured_scene(64, 36)
    store.save_frame("cam-test-01", img, START + timedelta(days=1), "interval")
    assert not old.exists()
    assert len(list((tmp_path / "cam-test-01" / "20250702").glob("*.jpg"))) == 1


def test_learned_baseline_survives_a_restart(tmp_path) -> None:
    watch("defocus", FAST, state_dir=tmp_path)
    assert (tmp_path / "cam-test-01" / "baseline.json").is_file()
    sink = MemorySink()
    restarted = CameraWatcher(site(), sink, FAST, state_dir=tmp_path)
    assert restarted.health.baseline.learned
    # With the baseline known, blur is judged from the first frames: a restart while
    # the lens is out of focus still raises the alarm.
    rng = np.random.default_rng(1)
    blurred = defocus(textured_scene(320, 180), 3.0)
    restarted.start_clock(0.0, START)
    events = [
        e
        for i in range(10)
        for e in restarted.process(Frame(add_noise(blurred, rng), i * 0.2, reconnected=i == 0))
    ]
    assert [(e.kind, e.attrs["state"]) for e in events] == [("camera.blurred", "opened")]
