"""The feed file format: lossless payloads, strict lines, stable gzip, time windows, kind filters."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from sample_feeds.feedfile import (
    FeedError,
    FeedHeader,
    FeedLine,
    FeedReader,
    FeedWriter,
    encode_payload,
    local_offset,
    read_lines,
)
from sample_feeds.replay import KindFilter

START = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)  # 00:00 in Asia/Ho_Chi_Minh


def _write(path, lines, header=None):
    with FeedWriter(path, header or FeedHeader(start=START, duration_s=86400.0)) as w:
        for line in lines:
            w.write(line)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"a":1,"b":"L\xc3\xa2m \xc4\x90\xe1\xbb\x93ng"}', "payload"),
        (b'{"a": 1}', "payload_text"),  # not canonical: kept as exact text
        (b'{"x":1.0,"y":1e-05}', "payload"),
        (b"not json", "payload_text"),
        (b"", "payload_text"),
        (b"\xff\x00\x10binary", "payload_b64"),
    ],
)
def test_payload_bytes_survive_a_round_trip(tmp_path, payload, field):
    assert field in encode_payload(payload)
    path = tmp_path / "f.jsonl"
    _write(path, [FeedLine(1.5, "ioc/v1/46/x/y/z", 0, True, raw=payload)])
    (line,) = read_lines(path)
    assert line.payload == payload
    assert (line.offset, line.topic, line.qos, line.retain) == (1.5, "ioc/v1/46/x/y/z", 0, True)


def test_header_and_lines_round_trip_through_gzip(tmp_path):
    path = tmp_path / "f.jsonl.gz"
    header = FeedHeader(start=START, duration_s=3600.0, extra={"province": "46", "synthetic": True})
    lines = [FeedLine(float(i) / 3, f"t/{i}", i % 3, i % 2 == 0, obj={"n": i}) for i in range(50)]
    _write(path, lines, header)
    reader = FeedReader(path)
    assert reader.header.start == START
    assert reader.header.duration_s == 3600.0
    assert reader.header.extra == {"province": "46", "synthetic": True}
    back = list(reader)
    assert [(x.topic, x.qos, x.retain, x.obj) for x in back] == [
        (x.topic, x.qos, x.retain, x.obj) for x in lines
    ]
    # Offsets are kept to the millisecond.
    assert all(abs(a.offset - b.offset) < 5e-4 for a, b in zip(back, lines, strict=True))


def test_gzip_output_is_byte_stable(tmp_path):
    lines = [FeedLine(i, "a/b", 1, False, obj={"i": i}) for i in range(10)]
    _write(tmp_path / "a.jsonl.gz", lines)
    _write(tmp_path / "b.jsonl.gz", lines)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    with gzip.open(tmp_path / "a.jsonl.gz", "rt", encoding="utf-8") as f:
        assert json.loads(f.readline())["feed"] == "ioc-feed"


def test_hand_written_feed_with_defaults_and_timestamps(tmp_path):
    path = tmp_path / "hand.jsonl"
    path.write_text(
        '{"feed":"ioc-feed","version":1,"start":"2026-11-20T00:00:00+07:00"}\n'
        '{"at":"2026-11-20T00:00:05+07:00","topic":"a/b","payload":{"k":1}}\n'
        "\n"
        '{"t":7.25,"topic":"a/c","qos":0,"retain":true,"payload_text":"hi"}\n',
        encoding="utf-8",
    )
    first, second = read_lines(path)
    assert (first.offset, first.qos, first.retain, first.payload) == (5.0, 1, False, b'{"k":1}')
    assert (second.offset, second.qos, second.retain, second.payload) == (7.25, 0, True, b"hi")


def test_headerless_feed_reads_but_has_no_clock(tmp_path):
    path = tmp_path / "bare.jsonl"
    path.write_text('{"t":0,"topic":"a","payload":1}\n', encoding="utf-8")
    reader = FeedReader(path)
    assert reader.header.start is None
    assert [x.obj for x in reader] == [1]
    with pytest.raises(FeedError, match="start time"):
        local_offset(reader.header, "07:00")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"t":5,"topic":"a","payload":1}\n{"t":4,"topic":"a","payload":1}', ":2: offset 4.0"),
        ('{"t":1,"payload":1}', "topic must be"),
        ('{"t":1,"topic":"a/#","payload":1}', "without wildcards"),
        ('{"t":1,"topic":"a","qos":3,"payload":1}', "qos must be"),
        ('{"t":1,"topic":"a","retain":"yes","payload":1}', "retain must be"),
        ('{"t":1,"topic":"a","payload":1,"payload_text":"x"}', "exactly one"),
        ('{"t":-1,"topic":"a","payload":1}', "t must be"),
        ('{"topic":"a","payload":1}', "needs 't'"),
        ('{"at":"2026-11-20T00:00:00Z","topic":"a","payload":1}', "needs a header"),
        ('{"t":1,"topic":"a","payload_b64":"%%%"}', ":1:"),
        ("[1,2]", "JSON object"),
        ('{"t":1,', "malformed JSON"),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, body, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(FeedError, match=message) as info:
        read_lines(path)
    assert str(path) in str(info.value)


def test_unsupported_version_is_refused(tmp_path):
    path = tmp_path / "v2.jsonl"
    path.write_text('{"feed":"ioc-feed","version":2}\n', encoding="utf-8")
    with pytest.raises(FeedError, match="unsupported feed version 2"):
        FeedReader(path)


def test_missing_file_is_a_feed_error(tmp_path):
    with pytest.raises(FeedError, match="no such file"):
        FeedReader(tmp_path / "nope.jsonl.gz")


def test_time_of_day_maps_to_offsets_in_the_feed_zone():
    midnight = FeedHeader(start=START)
    assert local_offset(midnight, "00:00") == 0
    assert local_offset(midnight, "07:30") == 7.5 * 3600
    assert local_offset(midnight, "24:00") == 86400
    # A recording that began at 08:00 local reaches 07:00 only the next morning.
    recorded = FeedHeader(start=datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    assert local_offset(recorded, "09:00") == 3600
    assert local_offset(recorded, "07:00") == 23 * 3600
    for bad in ("7", "25:00", "07:60", "ab:cd"):
        with pytest.raises(FeedError):
            local_offset(midnight, bad)


def test_kind_filter_globs_exclusions_and_status():
    f = KindFilter("transport.*,!transport.position,status")
    assert f("ioc/v1/46/transport/bus-46-01/panic")
    assert not f("ioc/v1/46/transport/bus-46-01/position")
    assert f("ioc/v1/46/status/bus-46-01")
    assert not f("ioc/v1/46/security/cam-46-001/intrusion")
    everything = KindFilter(None)
    assert everything("ioc/v1/46/security/cam-46-001/intrusion")
    assert everything("other/topic")
    assert KindFilter("!security.plate_read")("ioc/v1/46/security/cam-46-001/intrusion")
    assert not KindFilter("!security.plate_read")("ioc/v1/46/security/cam-46-001/plate_read")
    assert f.kind_of("ioc/v1/46/network/probe-46-01/signal_sample") == "network.signal_sample"


def test_skipping_keeps_retained_lines_and_checks_order(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    lines = [FeedLine(float(i), f"t/{i % 3}", 1, i % 4 == 0, obj={"i": i, "retain": False})
             for i in range(40)]  # fmt: skip
    _write(path, lines)
    got = list(FeedReader(path).lines(skip_before=20))
    assert [x.obj["i"] for x in got] == [0, 4, 8, 12, 16, *range(20, 40)]
    # Lines in another layout are parsed in full and skipped all the same.
    other = tmp_path / "o.jsonl"
    other.write_text(
        '{"topic":"a","t":1,"payload":1}\n{"retain":true,"t":2,"topic":"b","payload":2}\n'
        '{"t":3,"topic":"c","payload":3}\n',
        encoding="utf-8",
    )
    assert [x.obj for x in FeedReader(other).lines(skip_before=2.5)] == [2, 3]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"t":5,"topic":"a","qos":1,"retain":false,"payload":1}\n'
        '{"t":4,"topic":"a","qos":1,"retain":false,"payload":1}\n',
        encoding="utf-8",
    )
    with pytest.raises(FeedError, match=":2: offset 4.0"):
        list(FeedReader(bad).lines(skip_before=10))
