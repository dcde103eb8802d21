"""Replay and record against a real Mosquitto, through the CLI as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from mqtt_support import subscriber
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from waiting import wait_until

from ioc.broker import free_port
from ioc.cli import cli
from ioc.events import is_status_topic, parse_event
from sample_feeds import COMMITTED_FEEDS
from sample_feeds.feedfile import FeedHeader, FeedLine, FeedReader, FeedWriter, read_lines
from sample_feeds.record import record
from sample_feeds.replay import replay

IOC = str(Path(sys.executable).with_name("ioc"))
HUE = COMMITTED_FEEDS["46"]
SIX = 6 * 3600


@pytest.fixture(scope="module")
def hue_lines() -> list[FeedLine]:
    """The committed Huế day."""
    return read_lines(HUE)


def _slice(path: Path, lines: list[FeedLine], lo: float, hi: float) -> list[FeedLine]:
    """A feed of the start-of-day statuses plus the lines in [lo, hi), header kept."""
    header = FeedReader(HUE).header
    keep = [x for x in lines if (x.retain and x.offset == 0) or lo <= x.offset < hi]
    extra = {k: v for k, v in header.extra.items() if k not in ("counts", "messages")}
    with FeedWriter(path, FeedHeader(header.start, header.tz, hi, extra)) as w:
        for line in keep:
            w.write(line)
    return keep


def _env(broker, tmp_path: Path) -> dict[str, str]:
    return os.environ | {"IOC_MQTT_URL": broker.url, "IOC_DATA_DIR": str(tmp_path / "data")}


def _start_recorder(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([IOC, "record", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    ready = proc.stderr.readline()  # printed once the broker granted the subscription
    assert ready.startswith("recording "), ready + proc.stderr.read()
    return proc


def _per_topic(lines: list[FeedLine]) -> dict[str, list[tuple[bytes, int, bool]]]:
    out: dict[str, list[tuple[bytes, int, bool]]] = defaultdict(list)
    for line in lines:
        out[line.topic].append((line.payload, line.qos, line.retain))
    return dict(out)


@pytest.mark.mqtt
def test_record_captures_a_max_speed_replay_exactly(mqtt_broker, tmp_path, hue_lines):
    original = tmp_path / "original.jsonl.gz"
    sent = _slice(original, hue_lines, SIX, SIX + 1800)
    assert len(sent) > 3000
    recorded = tmp_path / "recorded.jsonl.gz"
    env = _env(mqtt_broker, tmp_path)
    recorder = _start_recorder(["--out", str(recorded), "--count", str(len(sent)), "--idle", "15",
                                "--quiet"], env)  # fmt: skip
    done = subprocess.run([IOC, "replay", "--speed", "max", "--quiet", "--json", str(original)],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["messages"] == len(sent) and summary["failed"] == summary["unacked"] == 0
    out, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, err
    assert "stopped by count" in out
    got = read_lines(recorded)
    assert len(got) == len(sent)
    assert _per_topic(got) == _per_topic(read_lines(original))
    # The retained statuses arrive flagged as retained (MQTT 5 retain-as-published).
    assert sum(x.retain for x in got) == sum(x.retain for x in sent) > 100


@pytest.mark.mqtt
def test_replay_timing_at_speed_60_keeps_drift_under_one_percent(mqtt_broker, tmp_path):
    # Five feed minutes of the morning rush (~700 messages) take five seconds.
    done = subprocess.run(
        [IOC, "replay", "--speed", "60", "--from", "07:00", "--until", "07:05", "--kinds",
         "!status", "--quiet", "--json", str(HUE)],
        env=_env(mqtt_broker, tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout)
    assert s["messages"] > 500
    assert 290 < s["feed_seconds"] < 300
    assert s["drift"] < 0.01, s
    assert abs(s["publish_s"] - s["feed_seconds"] / 60) < 0.05


@pytest.mark.mqtt
@pytest.mark.slow
def test_replay_of_one_hour_at_speed_60_keeps_drift_under_one_percent(mqtt_broker, tmp_path):
    done = subprocess.run(
        [IOC, "replay", "--speed", "60", "--from", "07:00", "--until", "08:00", "--quiet",
         "--json", str(HUE)],
        env=_env(mqtt_broker, tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout)
    assert s["feed_seconds"] > 3590
    assert s["drift"] < 0.01, s


def _record_in_thread(broker, path: Path, **kwargs):
    ready = threading.Event()
    result = {}

    def run() -> None:
        result["summary"] = record(broker.url, path, on_ready=ready.set, **kwargs)

    thread = threading.Thread(target=run)
    thread.start()
    assert ready.wait(10)
    return thread, result


@pytest.mark.mqtt
def test_rebase_shifts_time_and_suffixes_ids_per_loop(mqtt_broker, tmp_path, hue_lines):
    small = tmp_path / "small.jsonl.gz"
    sent = _slice(small, hue_lines, SIX, SIX + 300)
    events = [x for x in sent if not x.retain]
    anchor = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    out = tmp_path / "rebased.jsonl"
    thread, result = _record_in_thread(mqtt_broker, out, max_messages=3 * len(sent), idle=5)
    s1 = replay([small], mqtt_broker.url, speed=None, loop=True, max_loops=2, rebase_at=anchor)
    s2 = replay([small], mqtt_broker.url, speed=None, rebase_at=anchor)
    thread.join(30)
    assert result["summary"].messages == 3 * len(sent)
    assert s1.loops == 2 and s1.rebase_tags[1] - s1.rebase_tags[0] == SIX + 300
    assert s2.rebase_tags == s1.rebase_tags[:1]
    got = read_lines(out)
    loop1, loop2, again = got[: len(sent)], got[len(sent) : 2 * len(sent)], got[2 * len(sent) :]
    # Replaying with the same anchor publishes byte-identical messages: the store dedups them.
    assert [x.payload for x in again] == [x.payload for x in loop1]
    tag1, tag2 = s1.rebase_tags
    original = {x.obj["id"]: x.obj for x in events}
    parsed1 = [parse_event(x.payload, x.topic) for x in loop1 if not is_status_topic(x.topic)]
    parsed2 = [parse_event(x.payload, x.topic) for x in loop2 if not is_status_topic(x.topic)]
    assert len(parsed1) == len(parsed2) == len(events)
    # The first message played (a status at the feed start) lands on the anchor.
    assert json.loads(loop1[0].payload)["ts"] == "2030-01-02T03:04:05Z"
    first = FeedReader(small).header.start
    for e1, e2 in zip(parsed1, parsed2, strict=True):
        base, _, tag = e1.id.partition("@")
        assert tag == str(tag1) and e2.id == f"{base}@{tag2}"
        src = original[base]
        assert e1.ts - anchor == datetime.fromisoformat(src["ts"]) - first
        assert e2.ts - e1.ts == timedelta(seconds=SIX + 300)
        for key in ("incident", "gap", "outage", "condition"):
            if key in src["attrs"]:
                assert e1.attrs[key] == f"{src['attrs'][key]}@{tag1}"
        if "scheduled" in src["attrs"]:
            delay = (e1.ts - datetime.fromisoformat(e1.attrs["scheduled"])).total_seconds()
            assert delay == src["attrs"]["delay_s"]
    assert len({e.id for e in parsed1 + parsed2}) == 2 * len(events)


@pytest.mark.mqtt
def test_rebase_time_lands_on_now(mqtt_broker, tmp_path, hue_lines):
    small = tmp_path / "small.jsonl.gz"
    _slice(small, hue_lines, SIX, SIX + 60)
    out = tmp_path / "now.jsonl"
    thread, _ = _record_in_thread(mqtt_broker, out, idle=3)
    before = datetime.now(UTC).replace(microsecond=0)
    s = replay([small], mqtt_broker.url, speed=None, rebase=True)
    after = datetime.now(UTC)
    thread.join(30)
    got = read_lines(out)
    first = datetime.fromisoformat(got[0].obj["ts"])  # a status at the feed start
    assert before <= first <= after
    # A minute of feed played at max speed is stamped when it was published: never ahead.
    stamps = [datetime.fromisoformat(x.obj["ts"]) for x in got]
    assert all(before <= ts <= after for ts in stamps), (min(stamps), max(stamps), after)
    assert stamps == sorted(stamps)
    event = parse_event(next(x for x in got if not x.retain).payload)
    assert event.id.endswith(f"@{s.rebase_tags[0]}")


@pytest.mark.mqtt
def test_rebase_time_faster_than_real_time_compresses_and_never_runs_ahead(
    mqtt_broker, tmp_path, hue_lines
):
    small = tmp_path / "small.jsonl.gz"
    header = FeedReader(HUE).header
    sent = [x for x in hue_lines if not x.retain and SIX <= x.offset < SIX + 120]
    with FeedWriter(small, FeedHeader(header.start, header.tz, SIX + 120, {})) as w:
        for line in sent:
            w.write(line)
    out = tmp_path / "fast.jsonl"
    thread, _ = _record_in_thread(mqtt_broker, out, max_messages=len(sent), idle=3)
    before = datetime.now(UTC).replace(microsecond=0)
    replay([small], mqtt_broker.url, speed=60.0, rebase=True)
    after = datetime.now(UTC)
    thread.join(30)
    got = read_lines(out)
    assert len(got) == len(sent)
    stamps = [parse_event(x.payload).ts for x in got]
    assert all(before <= ts <= after for ts in stamps), (max(stamps), after)
    # Two feed minutes at 60x take about two seconds, and so do their stamps.
    original = [datetime.fromisoformat(x.obj["ts"]) for x in sent]
    feed_span = (max(original) - min(original)).total_seconds()
    stamp_span = (max(stamps) - min(stamps)).total_seconds()
    assert stamp_span == pytest.approx(feed_span / 60, abs=0.5)


@pytest.mark.mqtt
def test_open_window_loops_continue_with_whole_days(mqtt_broker, tmp_path):
    # One event per hour of a day; start at noon, loop: the second pass is the whole next day.
    start = datetime(2026, 11, 19, 17, tzinfo=UTC)
    feed = tmp_path / "hours.jsonl"
    with FeedWriter(feed, FeedHeader(start, duration_s=86400.0)) as w:
        w.write(
            FeedLine(
                0, "ioc/v1/46/status/d", 1, True, obj={"source": "d", "ts": "2026-11-19T17:00:00Z"}
            )
        )
        for h in range(24):
            ts = (start + timedelta(hours=h)).isoformat().replace("+00:00", "Z")
            w.write(FeedLine(h * 3600, f"ioc/v1/46/x/d/h{h:02d}", 1, False,
                             obj={"id": f"e{h}", "kind": "x.h", "ts": ts, "attrs": {"incident": "i"}}))  # fmt: skip
    out = tmp_path / "out.jsonl"
    thread, _ = _record_in_thread(mqtt_broker, out, max_messages=12 + 1 + 24 + 1, idle=5)
    anchor = datetime(2030, 6, 1, 5, 0, tzinfo=UTC)  # 12:00 in Vietnam
    s = replay(
        [feed], mqtt_broker.url, speed=None, start="12:00", loop=True, max_loops=2, rebase_at=anchor
    )
    thread.join(30)
    got = [x.obj for x in read_lines(out)]
    assert [o.get("id") for o in got] == (
        [None] + [f"e{h}@{s.rebase_tags[0]}" for h in range(12, 24)]
        + [None] + [f"e{h}@{s.rebase_tags[1]}" for h in range(24)]
    )  # fmt: skip
    assert s.rebase_tags[1] - s.rebase_tags[0] == 86400
    stamps = [datetime.fromisoformat(o["ts"]) for o in got if "id" in o]
    assert stamps[0] == anchor and stamps == [anchor + timedelta(hours=h) for h in range(36)]
    assert got[1]["attrs"]["incident"] == f"i@{s.rebase_tags[0]}"
    assert s.feed_seconds == 35 * 3600


@pytest.mark.mqtt
def test_window_and_kind_filters(mqtt_broker, tmp_path, hue_lines):
    feed = tmp_path / "w.jsonl.gz"
    sent = _slice(feed, hue_lines, SIX, SIX + 600)
    out = tmp_path / "w.jsonl"
    thread, _ = _record_in_thread(mqtt_broker, out, idle=3)
    replay(
        [feed], mqtt_broker.url, speed=None, start="06:05", kinds="transport.*,!transport.position"
    )
    thread.join(30)
    got = read_lines(out)
    want = [x for x in sent if x.offset >= SIX + 300 and "/transport/" in x.topic
            and not x.topic.endswith("/position")]  # fmt: skip
    assert want and [x.payload for x in got] == [x.payload for x in want]

    out2 = tmp_path / "w2.jsonl"
    thread, _ = _record_in_thread(mqtt_broker, out2, idle=3)
    replay([feed], mqtt_broker.url, speed=None, start="06:09", until="06:10")
    thread.join(30)
    got = read_lines(out2)
    latest = {x.topic: x.payload for x in sent if x.retain and x.offset < SIX + 540}
    # State before the window comes first (latest per device), then the window itself.
    assert {x.topic: x.payload for x in got[: len(latest)]} == latest
    tail = [x.payload for x in sent if SIX + 540 <= x.offset < SIX + 600]
    assert [x.payload for x in got[len(latest) :]] == tail


@pytest.mark.mqtt
def test_stop_event_ends_a_looping_replay_promptly(mqtt_broker, hue_lines, tmp_path):
    feed = tmp_path / "loop.jsonl.gz"
    _slice(feed, hue_lines, SIX, SIX + 600)
    stop = threading.Event()
    result = {}
    seen: list[str] = []
    sub = subscriber(
        mqtt_broker.url,
        "#",
        lambda c, u, m: seen.append(m.topic),
        client_id="test-stop-watch",
        qos=0,
    )
    thread = threading.Thread(
        target=lambda: result.setdefault(
            "s", replay([feed], mqtt_broker.url, speed=1.0, loop=True, rebase=True, stop=stop)
        )
    )
    thread.start()
    # Stop mid-play, once over 100 messages are out.
    try:
        wait_until(lambda: len(seen) > 100, message=lambda: f"101 messages, got {len(seen)}")
    finally:
        stopped_at = time.monotonic()
        stop.set()
        sub.loop_stop()
        sub.disconnect()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 1.0
    s = result["s"]
    assert s.interrupted and s.messages > 100 and s.unacked == 0


@pytest.mark.mqtt
def test_record_keeps_retained_state_qos_and_binary_payloads(mqtt_broker, tmp_path):
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    pub.connect(mqtt_broker.host, mqtt_broker.port)
    pub.loop_start()
    pub.publish(
        "ioc/v1/46/status/cam-46-001", b'{"state":"online"}', qos=1, retain=True
    ).wait_for_publish(5)
    out = tmp_path / "r.jsonl.gz"
    env = _env(mqtt_broker, tmp_path)
    proc = _start_recorder(["--out", str(out), "--duration", "2", "--quiet", "--json"], env)
    pub.publish("ioc/v1/46/x/y/z", b"\x00\xffraw", qos=0).wait_for_publish(5)
    pub.publish("ioc/v1/46/status/cam-46-002", b"{}", qos=2, retain=True).wait_for_publish(5)
    pub.publish("elsewhere/t", b"ignored", qos=1).wait_for_publish(5)
    stdout, _ = proc.communicate(timeout=30)
    pub.loop_stop()
    pub.disconnect()
    summary = json.loads(stdout)
    assert summary["stopped_by"] == "duration" and summary["messages"] == 3
    first, raw, live = read_lines(out)
    assert (first.topic, first.retain, first.qos, first.offset) == (
        "ioc/v1/46/status/cam-46-001", True, 1, first.offset)  # fmt: skip
    assert first.offset < 0.5
    assert (raw.payload, raw.qos, raw.retain) == (b"\x00\xffraw", 0, False)
    assert (live.qos, live.retain) == (2, True)
    assert FeedReader(out).header.extra["recorded_from"] == mqtt_broker.url


def test_replay_refuses_the_embedded_url_and_unreachable_brokers(tmp_path):
    feed = tmp_path / "f.jsonl"
    feed.write_text('{"t":0,"topic":"a/b","payload":{}}\n', encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["--mqtt-url", "embedded", "replay", "--quiet", str(feed)])
    assert result.exit_code == 1 and "embedded" in result.output
    url = f"mqtt://127.0.0.1:{free_port()}"
    result = runner.invoke(cli, ["--mqtt-url", url, "replay", "--quiet", str(feed)])
    assert result.exit_code == 1 and "cannot connect" in result.output
    result = runner.invoke(cli, ["--mqtt-url", url, "replay", "--speed", "fast", str(feed)])
    assert result.exit_code == 2 and "number or 'max'" in result.output


def test_feeds_cli_generate_info_validate(tmp_path):
    runner = CliRunner()
    out = tmp_path / "g.jsonl.gz"
    result = runner.invoke(
        cli, ["feeds", "generate", "--province", "46", "--hours", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "network.signal_sample" in result.output
    info = runner.invoke(cli, ["feeds", "info", "--json", str(out)])
    stats = json.loads(info.output)
    assert stats["counts"]["network.signal_sample"] == 240 and stats["retained"] > 100
    assert runner.invoke(cli, ["feeds", "validate", str(out)]).exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t":0,"topic":"ioc/v1/46/security/cam-1/intrusion","payload":{"id":"x"}}\n',
                   encoding="utf-8")  # fmt: skip
    result = runner.invoke(cli, ["feeds", "validate", str(bad)])
    assert result.exit_code == 1 and "0 valid, 1 invalid" in result.output
    result = runner.invoke(cli, ["feeds", "generate", "--province", "99", "--out", str(out)])
    assert result.exit_code == 2 and "unknown province" in result.output


@pytest.mark.mqtt
def test_state_caught_up_at_the_window_start_is_stamped_then(mqtt_broker, tmp_path):
    # A status from the feed's midnight, caught up when a 07:00 replay opens: rebased, it is
    # stamped at the replay start (state as of then), never 7 hours before it.
    start = datetime(2026, 11, 19, 17, tzinfo=UTC)
    feed = tmp_path / "morning.jsonl"
    with FeedWriter(feed, FeedHeader(start, duration_s=86400.0)) as w:
        w.write(FeedLine(0, "ioc/v1/46/status/cam", 1, True,
                         obj={"source": "cam", "state": "online", "ts": "2026-11-19T17:00:00Z"}))  # fmt: skip
        ts = (start + timedelta(hours=7, minutes=5)).isoformat().replace("+00:00", "Z")
        w.write(FeedLine(7 * 3600 + 300, "ioc/v1/46/x/cam/h", 1, False,
                         obj={"id": "e", "kind": "x.h", "ts": ts}))  # fmt: skip
    out = tmp_path / "out.jsonl"
    thread, _ = _record_in_thread(mqtt_broker, out, max_messages=2, idle=5)
    anchor = datetime(2030, 6, 1, 0, 0, tzinfo=UTC)  # 07:00 in Vietnam
    replay([feed], mqtt_broker.url, speed=None, start="07:00", rebase_at=anchor)
    thread.join(30)
    got = [x.obj for x in read_lines(out)]
    assert [o.get("state") for o in got] == ["online", None]
    assert datetime.fromisoformat(got[0]["ts"]) == anchor
    assert datetime.fromisoformat(got[1]["ts"]) == anchor + timedelta(minutes=5)
