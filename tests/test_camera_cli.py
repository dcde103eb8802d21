"""`ioc camera ...` and `ioc bench camera` as a user runs them, including the MQTT last will."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from camera_support import CLIPS, FAST, FIXTURES, http_server, streaming_device, wait_for
from click.testing import CliRunner
from mqtt_support import subscriber

from ioc.cli import cli
from ioc.events import parse_event, parse_status

FAST_TOML = """
[health]
offline_after_s = 1.0
frozen_after_s = 1.5
covered_after_s = 1.0
covered_close_s = 0.6
bright_after_s = 1.0
bright_close_s = 0.6
learn_s = 1.5
blur_after_s = 1.0
blur_close_s = 0.6
scene_after_s = 1.0
scene_close_s = 0.6
scene_accept_s = 3.0

[motion]
close_after_s = 1.0
"""


def _lines(output: str) -> list[tuple[str, bytes]]:
    out = []
    for line in output.splitlines():
        if line.startswith("ioc/v1/"):
            topic, payload = line.split(" ", 1)
            out.append((topic, payload.encode()))
    return out


def test_watch_a_clip_prints_canonical_events(tmp_path) -> None:
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_TOML)
    assert FAST.health.learn_s == 1.5  # the same scaled-down profile as the clip tests
    result = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(tmp_path / "data"),
            "camera",
            "watch",
            str(CLIPS / "covered.avi"),
            "--id",
            "cam-cli-01",
            "--lat",
            "21.0285",
            "--lon",
            "105.8542",
            "--stdout",
            "--config",
            str(cfg),
            "--snapshot-interval",
            "0",
            "--start",
            "2025-07-01T08:00:00+07:00",
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    lines = _lines(result.stdout)
    events = [parse_event(p, t) for t, p in lines if "/status/" not in t]
    assert [(e.kind, e.attrs["state"]) for e in events] == [
        ("camera.covered", "opened"),
        ("camera.covered", "closed"),
    ]
    first = events[0]
    assert (first.province, first.ward) == ("01", "00070")  # Hoàn Kiếm, from lat/lon
    assert first.ts.isoformat() == "2025-07-01T01:00:03.600000+00:00"
    snap = tmp_path / "data" / "snapshots" / first.attrs["snapshot"]["path"]
    assert snap.is_file()
    statuses = [parse_status(p, t).state for t, p in lines if "/status/" in t]
    assert statuses == ["online", "offline"]
    assert "cam-cli-01: 50 frames analysed; camera.covered 2" in result.stderr
    # The learned baseline is kept for the next start.
    assert (tmp_path / "data" / "cameras" / "cam-cli-01" / "baseline.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "cam 1", "--province", "01"], "camera id"),
        (["--id", "cam-1", "--province", "99"], "unknown province"),
        (["--id", "cam-1", "--province", "01", "--ward", "27316"], "not 01"),
        (["--id", "cam-1", "--lat", "48.85", "--lon", "2.35"], "outside Vietnam"),
        (["--id", "cam-1"], "give --province"),
    ],
)
def test_watch_refuses_a_bad_place(args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        cli, ["camera", "watch", str(CLIPS / "moving.avi"), "--stdout", *args]
    )
    assert result.exit_code == 2
    assert message in result.output


def test_watch_needs_a_real_broker_or_stdout() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--mqtt-url",
            "embedded",
            "camera",
            "watch",
            str(CLIPS / "moving.avi"),
            "--id",
            "cam-1",
            "--province",
            "01",
        ],
    )
    assert result.exit_code == 1
    assert "--mqtt-url mqtt://host:port" in result.output


def test_translate_and_vendors() -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "camera",
            "translate",
            "--vendor",
            "onvif",
            "--id",
            "onvif-cam-01",
            "--province",
            "48",
            *sorted(str(p) for p in (FIXTURES / "onvif").glob("pull-*.xml")),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    events = [parse_event(p, t) for t, p in _lines(result.stdout)]
    assert len(events) == 18 and events[0].kind == "camera.motion"
    assert "4 messages, 18 events, 1 heartbeats" in result.stderr
    listing = runner.invoke(cli, ["camera", "vendors"])
    assert listing.exit_code == 0
    for key in ("hikvision:", "dahua:", "onvif:", "frigate:"):
        assert key in listing.output
    assert "shelteralarm" in listing.output and "camera.covered" in listing.output
    bad = runner.invoke(
        cli,
        [
            "camera",
            "translate",
            "--vendor",
            "axis",
            "--id",
            "x",
            "--province",
            "01",
            str(FIXTURES / "onvif" / "pull-4-empty.xml"),
        ],
    )
    assert bad.exit_code == 2 and "unknown vendor" in bad.stderr


@pytest.mark.slow
def test_bench_camera_prints_per_core_figures() -> None:
    result = CliRunner().invoke(cli, ["bench", "camera", "--frames", "60", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["resolution"] == "640x360"
    assert figures["checks_fps_per_core"] > 100
    share = figures["core_share_per_camera_at_fps"]
    assert share == pytest.approx(5 / figures["checks_fps_per_core"], rel=0.01)
    text = CliRunner().invoke(cli, ["bench", "camera", "--frames", "60"])
    assert "frames/s per core" in text.output and "% of one core" in text.output


def _watch_looping_clip(
    mqtt_url: str, tmp_path: Path, camera_id: str, *args: str, **popen: Any
) -> subprocess.Popen:
    """`ioc camera watch` on the looping moving clip, in real time, publishing as camera_id
    in province 79, as a process of its own."""
    env = {**os.environ, "IOC_DATA_DIR": str(tmp_path / "data")}
    command = [
        sys.executable, "-m", "ioc", "--mqtt-url", mqtt_url, "camera", "watch",
        str(CLIPS / "moving.avi"), "--id", camera_id, "--province", "79", "--loop", "--realtime",
        *args,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, **popen)


def _status_states(mqtt_url: str, camera_id: str, client_id: str) -> tuple[Any, list[str]]:
    """A subscriber to the camera's status topic (province 79), and the states it receives."""
    states: list[str] = []
    client = subscriber(
        mqtt_url,
        f"ioc/v1/79/status/{camera_id}",
        lambda c, u, m: states.append(parse_status(m.payload, m.topic).state),
        client_id=client_id,
    )
    return client, states


@pytest.mark.mqtt
def test_watch_publishes_status_and_its_last_will(mqtt_broker, tmp_path) -> None:
    """A killed watcher leaves the camera 'offline' (retained) via its MQTT last will."""
    statuses: list[tuple[str, bool]] = []
    events: list[str] = []
    got = threading.Event()

    def on_message(c, u, m) -> None:
        if "/status/" in m.topic:
            statuses.append((parse_status(m.payload, m.topic).state, m.retain))
        else:
            events.append(parse_event(m.payload, m.topic).kind)
        got.set()

    sub = subscriber(mqtt_broker.url, "ioc/v1/#", on_message, client_id="test-will-sub")
    proc = _watch_looping_clip(
        mqtt_broker.url,
        tmp_path,
        "cam-will-01",
        "--snapshot-interval",
        "1",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(
            lambda: ("online", False) in statuses and "camera.snapshot" in events, 20
        ), (
            statuses,
            events,
        )
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: only the will can tell
        proc.wait(10)
        assert wait_for(lambda: statuses[-1:] == [("offline", False)], 20), statuses
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A new client sees the retained state: the camera is offline.
    late_sub, late = _status_states(mqtt_broker.url, "cam-will-01", "test-will-late")
    try:
        assert wait_for(lambda: late == ["offline"], 5), late
    finally:
        late_sub.loop_stop()
        late_sub.disconnect()
        sub.loop_stop()
        sub.disconnect()


@pytest.mark.mqtt
def test_watch_stops_cleanly_on_sigterm(mqtt_broker, tmp_path) -> None:
    proc = _watch_looping_clip(
        mqtt_broker.url,
        tmp_path,
        "cam-term-01",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sub, seen = _status_states(mqtt_broker.url, "cam-term-01", "test-term-sub")
    try:
        assert wait_for(lambda: "online" in seen, 20)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "cam-term-01:" in err and "frames analysed" in err
        assert wait_for(lambda: seen[-1:] == ["offline"], 5), seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sub.loop_stop()
        sub.disconnect()


def test_bridge_command_follows_a_device_until_terminated(tmp_path) -> None:
    body = (FIXTURES / "hikvision" / "alertstream.multipart").read_bytes()
    creds = base64.b64encode(b"ioc:s3cret").decode()
    device = streaming_device(
        body, "multipart/mixed; boundary=boundary", "/ISAPI/Event/notification/alertStream", creds
    )
    with http_server(device) as server:
        url = f"http://ioc:s3cret@127.0.0.1:{server.server_address[1]}"  # credentials in the URL
        out = tmp_path / "out.txt"
        with out.open("w") as stdout:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ioc",
                    "--data-dir",
                    str(tmp_path / "data"),
                    "camera",
                    "bridge",
                    "--vendor",
                    "hikvision",
                    "--url",
                    url,
                    "--id",
                    "hik-nvr-01",
                    "--province",
                    "79",
                    "--stdout",
                ],
                stdout=stdout,
                stderr=subprocess.DEVNULL,
            )
            try:
                assert wait_for(lambda: out.read_text().count("/plate_read ") >= 2, 20)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(15) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    lines = _lines(out.read_text())
    events = [parse_event(p, t) for t, p in lines if "/status/" not in t]
    assert events[0].kind == "camera.motion" and len(events) >= 12
    plate = next(e for e in events if e.kind == "security.plate_read")
    # The plate picture went to the data directory's snapshot store.
    assert (tmp_path / "data" / "snapshots" / plate.attrs["snapshot"]["path"]).is_file()
    statuses = [parse_status(p, t).state for t, p in lines if "/status/" in t]
    assert statuses[0] == "online" and statuses[-1] == "offline"
