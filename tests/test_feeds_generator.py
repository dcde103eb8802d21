"""The generator: valid, deterministic, realistic enough to drive every panel; the committed feeds."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from ioc.events import Event, InvalidMessage, is_status_topic, parse_event, parse_status
from ioc.geo import geography
from sample_feeds import COMMITTED_FEEDS
from sample_feeds.feedfile import FeedReader, FeedWriter
from sample_feeds.generator import GENERATOR_VERSION, generate_day, generate_feed
from sample_feeds.generator.geometry import distance_km
from sample_feeds.stats import validate_feed

# Most tests read a whole generated day (about ten seconds to make): out of `make check`.
pytestmark = pytest.mark.slow

REQUIRED_KINDS = {
    "security.intrusion", "security.crowd", "security.fighting", "security.fire",
    "security.traffic_violation", "security.plate_read",
    "transport.position", "transport.stop_arrival", "transport.stop_departure",
    "transport.panic", "transport.overcrowding", "transport.onboard_camera",
    "network.signal_sample", "network.gap_opened", "network.gap_closed",
    "network.cell_down", "network.cell_up",
    "power.outage_started", "power.outage_restored",
    "camera.offline", "camera.frozen", "camera.covered", "camera.blurred",
}  # fmt: skip


@pytest.fixture(scope="module")
def hue():
    """Huế's generated day, in memory (about ten seconds)."""
    return generate_day("46", seed=1)


@pytest.fixture(scope="module")
def parsed(hue):
    """Every message parsed the way ingest parses it: ((offset, Event) list, errors)."""
    events, errors = [], []
    for line in hue.lines:
        try:
            if is_status_topic(line.topic):
                parse_status(line.payload, line.topic)
            else:
                events.append((line.offset, parse_event(line.payload, line.topic)))
        except InvalidMessage as exc:
            errors.append((line.topic, exc.reason))
    return events, errors


@pytest.fixture(scope="module")
def events(parsed):
    """(offset, Event) for every event line."""
    return parsed[0]


def _local_hour(event: Event) -> int:
    return (event.ts.hour + 7) % 24


def test_every_generated_message_is_valid(hue, parsed):
    events, errors = parsed
    assert not errors, errors[:5]
    assert len(events) + hue.counts["status"] == len(hue.lines)
    assert all(line.qos == 1 for line in hue.lines)
    assert [line.offset for line in hue.lines] == sorted(line.offset for line in hue.lines)


def test_ids_are_unique_and_offsets_match_timestamps(hue, events):
    ids = [e.id for _, e in events]
    assert len(ids) == len(set(ids))
    start = hue.header.start
    assert all((e.ts - start).total_seconds() == t for t, e in events)


def test_same_seed_same_day_and_a_shorter_feed_is_its_prefix(hue):
    short = generate_day("46", seed=1, hours=2)
    n = len(short.lines)
    assert n > 100
    assert [x.to_json() for x in short.lines] == [x.to_json() for x in hue.lines[:n]]
    assert hue.lines[n].offset >= 7200
    other = generate_day("46", seed=2, hours=2)
    assert [x.to_json() for x in other.lines] != [x.to_json() for x in short.lines]
    last_event = next(x for x in reversed(other.lines) if not x.retain)  # statuses have no id
    assert last_event.obj["id"].startswith("46-20261120s2-")


def test_every_required_kind_is_there(hue):
    assert REQUIRED_KINDS <= set(hue.counts)
    assert hue.counts["transport.position"] > 100_000
    assert hue.header.extra["counts"] == dict(sorted(hue.counts.items()))
    assert hue.header.extra["synthetic"] is True


def test_events_sit_on_real_communes_of_the_province(events):
    geo = geography()
    located = [e for _, e in events if e.lat is not None]
    with_ward = [e for e in located if e.ward]
    assert len(with_ward) / len(located) > 0.97
    assert {geo.commune(e.ward).province_code for e in with_ward} == {"46"}
    assert len({e.ward for e in with_ward}) >= 25


def test_every_device_has_a_retained_status_at_the_start(hue, events):
    at_start = {line.obj["source"] for line in hue.lines if line.retain and line.offset == 0}
    assert {e.source for _, e in events} <= at_start
    assert all(is_status_topic(line.topic) for line in hue.lines if line.retain)


def test_cameras_report_health_every_few_minutes_offline_while_down(hue, events):
    from sample_feeds.generator.camera_health import HEARTBEAT_S

    beats: dict[str, list] = defaultdict(list)
    for line in hue.lines:
        if line.retain and line.obj["source"].startswith("cam-"):
            beats[line.obj["source"]].append(line)
    assert len(beats) >= 50
    end = hue.lines[-1].offset
    for lines in beats.values():
        times = [x.offset for x in lines]
        # Never silent longer than the heartbeat: well inside the wall's 15 minutes.
        assert (
            max(b - a for a, b in zip([0, *times], [*times, end], strict=True))
            <= HEARTBEAT_S
            < 15 * 60
        )
        for x in lines:
            assert datetime.fromisoformat(x.obj["ts"]).timestamp() == (
                hue.header.start.timestamp() + x.offset
            )  # a fresh ts each time
    # While an offline condition lasts the reports say offline, and only then.
    down: dict[str, list] = defaultdict(list)
    opened = {}
    for t, e in events:
        if e.kind == "camera.offline":
            if e.attrs["state"] == "opened":
                opened[e.source] = t
            else:
                down[e.source].append((opened.pop(e.source), t))
    assert down
    for source, spans in down.items():
        for x in beats[source]:
            inside = any(lo < x.offset < hi for lo, hi in spans)
            outside = not any(lo <= x.offset <= hi for lo, hi in spans)
            if inside or outside:
                assert x.obj["state"] == ("offline" if inside else "online"), (source, x.offset)


def test_buses_run_a_timetable_with_positions_every_ten_seconds(events):
    positions = defaultdict(list)
    arrivals = []
    for t, e in events:
        if e.kind == "transport.position":
            positions[e.source].append((t, e))
        elif e.kind == "transport.stop_arrival":
            arrivals.append(e)
    assert len(positions) >= 20
    gaps = Counter(b[0] - a[0] for p in positions.values() for a, b in zip(p, p[1:], strict=False))
    assert gaps.most_common(1)[0][0] == 10
    assert gaps[10] / sum(gaps.values()) > 0.95
    hours = {_local_hour(e) for p in positions.values() for _, e in p}
    assert min(hours) >= 4 and max(hours) <= 23
    moving = [
        e.attrs["speed_kmh"] for p in positions.values() for _, e in p if e.attrs["speed_kmh"] > 0
    ]
    assert 15 < statistics.median(moving) < 50
    assert all(0 <= e.attrs["heading"] < 360 for p in positions.values() for _, e in p)
    for e in arrivals:
        scheduled = datetime.fromisoformat(e.attrs["scheduled"])
        assert e.attrs["delay_s"] == int((e.ts - scheduled).total_seconds())
    on_time = sum(-60 <= e.attrs["delay_s"] <= 300 for e in arrivals) / len(arrivals)
    assert 0.4 < on_time < 0.95


def test_daily_rhythm(events):
    by_kind_hour = defaultdict(Counter)
    for _, e in events:
        by_kind_hour[e.kind][_local_hour(e)] += 1
    intrusion = by_kind_hour["security.intrusion"]
    night = sum(intrusion[h] for h in (22, 23, 0, 1, 2, 3, 4))
    day = sum(intrusion[h] for h in range(8, 15))
    assert night > 2 * day
    traffic = by_kind_hour["security.traffic_violation"]
    assert traffic[7] + traffic[17] > 2 * (traffic[2] + traffic[3] + traffic[12] + traffic[13]) / 2
    plates = by_kind_hour["security.plate_read"]
    assert plates[7] > 3 * plates[2]


def test_open_close_events_pair_up_in_order(events):
    opened: dict[tuple[str, str], float] = {}
    closed: dict[tuple[str, str], float] = {}
    for t, e in events:
        key = e.attrs.get("gap") or e.attrs.get("outage") or e.attrs.get("condition")
        if key is None:
            continue
        state = e.attrs.get("state") or e.kind.rsplit("_", 1)[-1]
        if state in ("opened", "started"):
            opened[(e.kind.split("_")[0], key)] = t
        else:
            closed[(e.kind.split("_")[0], key)] = t
    assert opened and opened.keys() == closed.keys()
    assert all(opened[k] < closed[k] for k in opened)


def test_gaps_agree_with_the_samples(events):
    samples = defaultdict(list)
    gaps = {}
    for t, e in events:
        if e.kind == "network.signal_sample":
            samples[e.source].append((t, e.attrs["technology"]))
        elif e.kind == "network.gap_opened":
            gaps[e.attrs["gap"]] = [e.source, t, None]
        elif e.kind == "network.gap_closed":
            gaps[e.attrs["gap"]][2] = t
    assert gaps
    for source, opened, closed in gaps.values():
        inside = [tech for t, tech in samples[source] if opened <= t < closed]
        assert inside and set(inside) == {"none"}
        after = [tech for t, tech in samples[source] if t == closed]
        assert after and after[0] != "none"


def test_cameras_report_nothing_while_offline(events):
    offline = defaultdict(list)
    for t, e in events:
        if e.kind == "camera.offline":
            offline[(e.source, e.attrs["condition"])].append(t)
    assert offline
    spans = defaultdict(list)
    for (source, _), (start, end) in offline.items():
        spans[source].append((start, end))
    for t, e in events:
        if e.domain == "security" and e.attrs.get("incident") is None:
            assert not any(a <= t < b for a, b in spans.get(e.source, [])), e


def test_incidents_chain_across_devices(events):
    by_incident = defaultdict(list)
    for t, e in events:
        if "incident" in e.attrs and e.kind != "transport.position":
            by_incident[e.attrs["incident"]].append((t, e))
    kinds = {i: {e.kind for _, e in evs} for i, evs in by_incident.items()}
    panics = [i for i, k in kinds.items() if "transport.panic" in k]
    assert len(panics) >= 2
    for inc in panics:
        chain = sorted(by_incident[inc], key=lambda x: x[0])
        t0, panic = chain[0]
        assert panic.kind == "transport.panic" and panic.severity == 4
        assert "transport.onboard_camera" in kinds[inc]
        fixed = [(t, e) for t, e in chain if e.domain == "security"]
        assert fixed, f"{inc}: no fixed camera followed the panic"
        for t, e in fixed:
            assert 0 < t - t0 < 1800
            assert distance_km(panic.lat, panic.lon, e.lat, e.lon) < 15
    assert any({"security.intrusion", "security.plate_read"} <= k for k in kinds.values())
    assert any("security.fire" in k for k in kinds.values())
    tagged = [e for _, e in events if e.kind == "transport.position" and "incident" in e.attrs]
    assert tagged and {e.attrs["incident"] for e in tagged} <= set(panics)


def test_generate_feed_writes_what_it_reports(tmp_path):
    stats = generate_feed("46", tmp_path / "h.jsonl.gz", hours=1)
    reader = FeedReader(tmp_path / "h.jsonl.gz")
    assert stats.messages == reader.header.extra["messages"] == len(list(reader))
    assert stats.file_bytes == (tmp_path / "h.jsonl.gz").stat().st_size
    assert reader.header.duration_s == 3600


def test_committed_hue_feed_is_what_the_generator_makes(hue, tmp_path):
    path = tmp_path / "hue.jsonl.gz"
    with FeedWriter(path, hue.header) as w:
        for line in hue.lines:
            w.write(line)
    assert path.read_bytes() == COMMITTED_FEEDS["46"].read_bytes(), (
        "regenerate: ioc feeds generate --province 46 --out sample_feeds/hue-46.jsonl.gz"
    )


@pytest.mark.parametrize("province", sorted(COMMITTED_FEEDS))
def test_committed_feed_headers(province):
    path = COMMITTED_FEEDS[province]
    header = FeedReader(path).header
    assert header.extra["province"] == province
    assert header.extra["generator"] == f"sample_feeds.generator/{GENERATOR_VERSION}"
    assert header.duration_s == 86400
    assert header.extra["synthetic"] is True
    assert path.stat().st_size < 5_000_000


@pytest.mark.slow
def test_committed_lam_dong_feed_validates_throughout():
    path = COMMITTED_FEEDS["68"]
    result = validate_feed(path)
    assert result.invalid == 0, result.errors
    assert result.valid == FeedReader(path).header.extra["messages"]
