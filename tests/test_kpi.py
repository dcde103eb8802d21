"""KPIs against hand-computed expectations on a small fixed dataset, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ioc import kpi
from ioc.events import Event
from ioc.geo import geography
from ioc.store import AlarmTrigger
from ioc.store.kpi_queries import local_midnight, split_window

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)  # 17:30 in Hà Nội
DALAT = "24781"  # Phường Xuân Hương - Đà Lạt, Lâm Đồng (68)
BAO_LOC = "24823"  # Phường 1 Bảo Lộc, Lâm Đồng
BA_DINH = "00004"  # Phường Ba Đình, Hà Nội (01)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC instant in November 2026."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


_n = 0


def ev(kind: str, ts: datetime, source: str, ward: str, severity: int = 1, **attrs) -> Event:
    global _n
    _n += 1
    province = geography().commune(ward).province_code
    return Event.model_validate(
        {
            "id": f"k-{_n}",
            "ts": ts.isoformat(),
            "source": source,
            "kind": kind,
            "severity": severity,
            "province": province,
            "ward": ward,
            "attrs": attrs,
        }
    )


def snap(ts: datetime, cam: str, ward: str = DALAT) -> Event:
    ref = {"path": f"s/{cam}.jpg", "sha256": "a" * 64, "size": 10}
    return ev("camera.snapshot", ts, cam, ward, 0, reason="interval", snapshot=ref)


def health(kind: str, state: str, ts: datetime, cam: str = "cam-a", cond: str = "") -> Event:
    return ev(kind, ts, cam, DALAT, 2, state=state, condition=cond or f"{cam}:{kind}")


def gap(kind: str, ts: datetime, ref: str, village: str, ward: str = DALAT, **kw) -> Event:
    return ev(
        kind,
        ts,
        "probe-1",
        ward,
        2,
        village=village,
        operator=kw.pop("op", "Viettel"),
        gap=ref,
        **kw,
    )


def stop(ts: datetime, delay: int, vehicle: str = "bus-1", trip: str | None = "T1") -> Event:
    attrs = {
        "vehicle": vehicle,
        "stop": "S1",
        "scheduled": (ts - timedelta(seconds=delay)).isoformat(),
        "delay_s": delay,
        "route": "R1",
    }
    if trip:
        attrs["trip"] = trip
    return ev("transport.stop_arrival", ts, vehicle, DALAT, 0, **attrs)


def incident(kind: str, ts: datetime, source: str = "cam-a", ward: str = DALAT) -> Event:
    # Severity 2: below the security alarm rule, so alarms stay those the test opens.
    return ev(kind, ts, source, ward, 2 if kind != "security.fire" else 4, camera=source)


@pytest.fixture
def kpi_store(store):
    """The store with the fixed dataset; batches split so state crosses batch boundaries."""
    first = [
        snap(at(18, 11), "cam-a"),
        incident("security.intrusion", at(18, 12)),  # previous 24 h window
        incident("security.intrusion", at(19, 11)),
        incident("security.intrusion", at(19, 15)),
        ev("security.plate_read", at(19, 16), "cam-a", DALAT, 0, plate="49A-12345"),
        incident("security.fighting", at(19, 15), "cam-hn", BA_DINH),
        incident("security.fighting", at(20, 2), "cam-hn", BA_DINH),
        # Edges of the 7 d window [13 Nov 17:00, 20 Nov 10:00).
        incident("security.intrusion", at(13, 16, 59, 59)),
        incident("security.intrusion", at(13, 17)),
        # cam-a: blurred across the window start, offline 1 h, frozen and covered overlapping.
        health("camera.blurred", "opened", at(19, 8)),
        health("camera.blurred", "closed", at(19, 11)),
        health("camera.offline", "opened", at(19, 12)),
        health("camera.offline", "closed", at(19, 13)),
        health("camera.frozen", "opened", at(19, 20)),
        health("camera.covered", "opened", at(19, 20, 30)),
        # Coverage gaps: Thôn 1 closes at noon; Thôn 2 has two operators' gaps, both open.
        gap("network.gap_opened", at(19, 0), "g1", "Thôn 1"),
        gap("network.gap_closed", at(19, 12), "g1", "Thôn 1"),
        gap("network.gap_opened", at(19, 6), "g2", "Thôn 2", households=120),
        gap("network.gap_opened", at(19, 7), "g3", "Thôn 2", op="VNPT"),
        # g5's close arrives before its open.
        gap("network.gap_closed", at(20, 8), "g5", "Thôn 9"),
    ]
    second = [
        incident("security.intrusion", at(19, 18)),
        incident("security.fire", at(19, 23)),
        incident("security.intrusion", at(20, 9, 59, 59)),
        incident("security.intrusion", at(20, 10)),  # outside: windows end at 10:00
        health("camera.frozen", "closed", at(19, 21)),
        health("camera.covered", "closed", at(19, 22)),
        health("camera.offline", "opened", at(20, 8), cond="cam-a:offline-2"),
        snap(at(20, 4), "cam-b"),
        snap(at(20, 10, 0, 30), "cam-a"),
        gap("network.gap_opened", at(20, 2), "g4", "Thôn 5", ward=BAO_LOC),
        gap("network.gap_closed", at(20, 9), "g4", "Thôn 5", ward=BAO_LOC),
        gap("network.gap_opened", at(20, 7), "g5", "Thôn 9"),
        ev(
            "power.outage_started",
            at(20, 9),
            "grid-01",
            BA_DINH,
            2,
            village="Tổ 3",
            outage="p1",
            households=80,
        ),
        ev("power.outage_started", at(19, 1), "grid-01", BA_DINH, 2, village="Tổ 4", outage="p2"),
        ev("power.outage_restored", at(19, 5), "grid-01", BA_DINH, 0, village="Tổ 4", outage="p2"),
        # Arrivals: 0, 200, -60 and 300 s are on time; 301 and -61 are not.
        stop(at(19, 12), 0),
        stop(at(19, 13), 200),
        stop(at(19, 14), 301, trip="T2"),
        stop(at(19, 15), -61, vehicle="bus-2", trip=None),
        stop(at(19, 16), -60, vehicle="bus-2", trip=None),
        stop(at(19, 16, 30), 300),
        ev("transport.panic", at(19, 13, 30), "bus-1", DALAT, 4, vehicle="bus-1", trip="T1"),
    ]
    store.write_batch(first)
    store.write_batch(second)
    return store


def test_split_window_uses_days_inside_and_hours_at_the_edges():
    hours, days = split_window(at(13, 10), at(20, 10))
    assert days == (date(2026, 11, 14), date(2026, 11, 20))
    assert hours == [(at(13, 10), at(13, 17)), (at(19, 17), at(20, 10))]
    assert split_window(at(19, 10), at(20, 10)) == ([(at(19, 10), at(20, 10))], None)
    # Exactly one local day.
    assert split_window(at(18, 17), at(19, 17)) == ([], (date(2026, 11, 19), date(2026, 11, 20)))


def test_windows_compare_equal_stretches():
    w = kpi.make_window("24h", NOW)
    assert (w.since, w.until, w.grain) == (at(19, 10), at(20, 10), "hour")
    assert (w.previous().since, w.previous().until) == (at(18, 10), at(19, 10))
    w7 = kpi.make_window("7d", NOW)
    assert w7.since == local_midnight(date(2026, 11, 14)) == at(13, 17)
    assert w7.until == at(20, 10) and w7.grain == "day"
    p = w7.previous()
    assert (p.since, p.until) == (at(6, 17), at(13, 10))
    assert len(w7.buckets()) == 7 and w7.buckets()[-1] == (at(19, 17), at(20, 10), True)
    c = kpi.make_window("custom", NOW, start=date(2026, 11, 1), end=date(2026, 11, 3))
    assert (c.since, c.until) == (at(1, 17) - timedelta(days=1), at(3, 17))
    assert c.previous().since == c.since - timedelta(days=3)
    with pytest.raises(ValueError, match="unknown window"):
        kpi.make_window("1y", NOW)


def test_security_incidents_per_10k_by_type(kpi_store):
    g = geography()
    w = kpi.make_window("24h", NOW)
    values = kpi.unit_values(kpi_store, "security_incidents", w)
    v68 = values["68"]
    # 11:00, 15:00, 18:00 and 09:59:59 intrusions, 23:00 fire; not the plate read nor 10:00.
    assert v68.numerator == 5
    assert v68.breakdown == {"security.intrusion": 4, "security.fire": 1}
    assert v68.value == pytest.approx(5 / g.province("68").population * 10_000)
    assert values["01"].numerator == 2
    assert values["04"].value == 0
    communes = kpi.unit_values(kpi_store, "security_incidents", w, province="68")
    assert communes[DALAT].value == pytest.approx(5 / g.commune(DALAT).population * 10_000)
    assert communes[BAO_LOC].value == 0
    assert kpi.unit_values(kpi_store, "security_incidents", w.previous())["68"].numerator == 1
    total = kpi.total_value(kpi_store, "security_incidents", w)
    national = sum(p.population for p in g.provinces.values())
    assert total.value == pytest.approx(7 / national * 10_000)
    # 7 d: from 13 Nov 17:00 (the 16:59:59 one is out) through 20 Nov 09:59:59.
    w7 = kpi.make_window("7d", NOW)
    assert kpi.total_value(kpi_store, "security_incidents", w7, province="68").numerator == 7
    assert kpi.total_value(kpi_store, "security_incidents", w7, ward=DALAT).numerator == 7


def test_security_trend_by_hour_and_day(kpi_store):
    w = kpi.make_window("24h", NOW)
    points = kpi.trend(kpi_store, "security_incidents", w, province="68")
    pop = geography().province("68").population
    counts = [round(p.value * pop / 10_000) for p in points]
    assert len(points) == 24 and sum(counts) == 5
    assert counts[1] == 1 and counts[5] == 1 and counts[23] == 1  # 11:00, 15:00, 09:59
    w7 = kpi.make_window("7d", NOW)
    days = kpi.trend(kpi_store, "security_incidents", w7, ward=DALAT)
    per_day = [round(p.value * geography().commune(DALAT).population / 10_000) for p in days]
    # Local days 14..20 Nov (UTC+7): 13 Nov 17:00 UTC is 14 Nov 00:00; 18 Nov 12:00 is the
    # 18th; 19 Nov 11:00 and 15:00 the 19th; 19 Nov 18:00, 23:00 and 20 Nov 09:59 the 20th.
    assert per_day == [1, 0, 0, 0, 1, 2, 3]
    assert days[-1].partial and not days[0].partial


def test_alarm_handling_medians_and_sla(store):
    def open_alarm(key: str, ts: datetime, severity: int, ward: str = DALAT) -> int:
        province = geography().commune(ward).province_code
        alarm, _ = store.open_or_merge_alarm(
            AlarmTrigger(
                rule="test",
                dedup_key=key,
                source="s",
                kind="security.fire",
                province=province,
                ward=ward,
                severity=severity,
                title="t",
                event_id=key,
                ts=ts,
            )
        )
        return alarm.id

    a1 = open_alarm("a1", at(19, 12), 4)
    a2 = open_alarm("a2", at(19, 14), 3)
    a3 = open_alarm("a3", at(19, 16), 2)
    open_alarm("a4", at(20, 9, 50), 0)  # 40 min old, within its 1 h ack SLA: pending
    a5 = open_alarm("a5", at(20, 8, 30), 1)  # acked in time, resolve still within SLA
    open_alarm("a6", at(20, 9, 30), 3)  # never acknowledged, 1 h > 3 min: missed
    b1 = open_alarm("b1", at(19, 20), 4, BA_DINH)
    open_alarm("old", at(18, 20), 4)  # previous window
    s = timedelta(seconds=1)
    assert (
        store.record_alarm_handling(
            [
                (a1, at(19, 12) + 30 * s, at(19, 12) + 1200 * s, "op"),
                (a2, at(19, 14) + 240 * s, at(19, 14) + 3000 * s, "op"),
                (a3, at(19, 16) + 600 * s, at(19, 16) + 14400 * s, "op"),
                (a5, at(20, 8, 30) + 100 * s, None, "op"),
                (b1, at(19, 20) + 90 * s, at(19, 20) + 600 * s, "op"),
            ]
        )
        == 5
    )
    assert [a.action for a in store.alarm_actions(a1)] == ["opened", "acknowledge", "resolve"]
    w = kpi.make_window("24h", NOW)
    ack = kpi.unit_values(store, "alarm_ack_median", w)
    assert ack["68"].value == pytest.approx((100 + 240) / 2 / 60)  # of 30, 100, 240, 600 s
    assert ack["01"].value == pytest.approx(1.5)
    assert ack["04"].value is None
    res = kpi.unit_values(store, "alarm_resolve_median", w)
    assert res["68"].value == pytest.approx(50.0)  # of 1200, 3000, 14400 s
    sla = kpi.unit_values(store, "alarm_sla", w)
    assert sla["68"].value == pytest.approx(50.0)
    assert sla["68"].breakdown == {"met": 2, "missed": 2, "pending": 2}
    assert sla["01"].value == 0.0  # acknowledged after 90 s, over the 60 s SLA
    total = kpi.total_value(store, "alarm_ack_median", w)
    assert total.value == pytest.approx(100 / 60)  # of 30, 90, 100, 240, 600 s
    communes = kpi.unit_values(store, "alarm_sla", w, province="68")
    assert communes[DALAT].value == pytest.approx(50.0) and communes[BAO_LOC].value is None
    trend = kpi.trend(store, "alarm_ack_median", w, province="68")
    assert [round(p.value * 60) for p in trend if p.value is not None] == [30, 240, 600, 100]


def test_camera_availability_merges_overlapping_conditions(kpi_store):
    w = kpi.make_window("24h", NOW)
    # cam-a: 24 h watched; down 10-11 (blurred), 12-13, 20-22 (frozen+covered), 08-10 open.
    # cam-b: first seen 04:00, 6 h. cam-hn (Hà Nội): first seen 15:00, 19 h, never down.
    values = kpi.unit_values(kpi_store, "camera_availability", w)
    assert values["68"].value == pytest.approx((30 - 6) / 30 * 100)
    assert values["68"].breakdown == {"cameras": 2, "down_hours": pytest.approx(6.0)}
    assert values["01"].value == pytest.approx(100.0)
    assert values["04"].value is None
    total = kpi.total_value(kpi_store, "camera_availability", w)
    assert total.value == pytest.approx((49 - 6) / 49 * 100)
    communes = kpi.unit_values(kpi_store, "camera_availability", w, province="68")
    assert communes[DALAT].value == pytest.approx(80.0)
    points = kpi.trend(kpi_store, "camera_availability", w, province="68")
    # 10:00-11:00: cam-a blurred the whole hour, cam-b not yet seen.
    assert points[0].value == pytest.approx(0.0)
    assert points[1].value == pytest.approx(100.0)
    # 20 Nov 09:00-10:00: cam-a offline, cam-b up.
    assert points[-1].value == pytest.approx(50.0)
    assert kpi_store.kpi_table_sizes()["kpi_camera_conditions"] == 1


def test_coverage_gaps_now_trend_and_population(kpi_store):
    g = geography()
    w = kpi.make_window("24h", NOW)
    villages = kpi.unit_values(kpi_store, "coverage_gap_villages", w)
    assert villages["68"].value == 1  # Thôn 2, with two operators' gaps, counts once
    assert villages["01"].value == 0
    assert kpi.unit_values(kpi_store, "coverage_gap_villages", w.previous())["68"].value == 2
    communes = kpi.unit_values(kpi_store, "coverage_gap_villages", w, province="68")
    assert communes[DALAT].value == 1 and communes[BAO_LOC].value == 0
    share = kpi.unit_values(kpi_store, "coverage_gap_population", w)["68"]
    pop68 = sum(c.population or 0 for c in g.communes_of("68"))
    assert share.value == pytest.approx(g.commune(DALAT).population / pop68 * 100)
    national = kpi.total_value(kpi_store, "coverage_gap_population", w)
    assert national.value == pytest.approx(
        g.commune(DALAT).population / sum(c.population or 0 for c in g.communes.values()) * 100
    )
    points = kpi.trend(kpi_store, "coverage_gap_villages", w, province="68")
    values = [p.value for p in points]
    # Read at each hour's end (bucket i ends at 11+i h on the 19th): 11:00 Thôn 1+2; from
    # 12:00 Thôn 2; 02:00-08:00 also Thôn 5 (g4, 02:00-09:00); at 07:00 also Thôn 9 (g5,
    # 07:00-08:00, whose close arrived first).
    assert values[0] == 2 and values[1] == 1 and values[14] == 1
    assert values[15] == 2 and values[19] == 2 and values[20] == 3 and values[21] == 2
    assert values[22] == 1 and values[23] == 1


def test_power_villages_now(kpi_store):
    w = kpi.make_window("24h", NOW)
    values = kpi.unit_values(kpi_store, "power_out_villages", w)
    assert values["01"].value == 1 and values["68"].value == 0
    assert kpi.total_value(kpi_store, "power_out_villages", w, ward=BA_DINH).value == 1
    assert kpi.unit_values(kpi_store, "power_out_villages", w.previous())["01"].value == 0


def test_transport_on_time_and_alarms_per_trip(kpi_store):
    w = kpi.make_window("24h", NOW)
    on_time = kpi.unit_values(kpi_store, "transport_on_time", w)["68"]
    assert (on_time.numerator, on_time.denominator) == (4, 6)
    assert on_time.value == pytest.approx(4 / 6 * 100)
    assert kpi.unit_values(kpi_store, "transport_on_time", w)["01"].value is None
    # Trips: bus-1 T1, bus-1 T2, bus-2 (no trip id: vehicle and route) = 3; one panic alarm.
    per_trip = kpi.unit_values(kpi_store, "transport_alarms", w)["68"]
    assert (per_trip.numerator, per_trip.denominator) == (1, 3)
    assert per_trip.breakdown == {"transport.panic": 1}
    assert per_trip.value == pytest.approx(1000 / 3)
    communes = kpi.unit_values(kpi_store, "transport_alarms", w, province="68")
    assert communes[DALAT].value == pytest.approx(1000 / 3)
    trend = kpi.trend(kpi_store, "transport_on_time", w, ward=DALAT)
    assert [p.value for p in trend[2:8]] == [100.0, 100.0, 0.0, 0.0, 100.0, None]


def test_silent_sources_now_only(kpi_store):
    w = kpi.make_window("24h", NOW)
    values = kpi.unit_values(kpi_store, "silent_sources", w)
    # Lâm Đồng: cam-a (10:00:30, fine), cam-b (04:00, camera > 2 h: silent), probe-1
    # (09:00 network, fine), bus-1 (19th 16:30, transport > 12 h: silent), bus-2 (19th 16:00:
    # silent). Hà Nội: cam-hn (security, 02:00, fine), grid-01 (power, 09:00, fine).
    assert values["68"].numerator == 3 and values["68"].denominator == 5
    assert values["68"].breakdown == {"camera": 1, "network": 0, "transport": 2}
    assert values["01"].value == 0.0
    assert kpi.unit_values(kpi_store, "silent_sources", w.previous())["68"].value is None
    assert kpi.trend(kpi_store, "silent_sources", w) == []


def test_ranks_follow_direction_and_share_ties():
    v = {u: kpi.Value(x) for u, x in {"a": 3.0, "b": 1.0, "c": 1.0, "d": None}.items()}
    assert kpi.ranks(v, "security_incidents") == {"b": 1, "c": 1, "a": 3}
    assert kpi.ranks(v, "camera_availability") == {"a": 1, "b": 2, "c": 2}
    assert kpi.change(2.0, 3.0, "security_incidents") == (-1.0, "better")
    assert kpi.change(2.0, 3.0, "camera_availability") == (-1.0, "worse")
    assert kpi.change(None, 3.0, "alarm_sla") == (None, "none")


def test_every_kpi_is_defined_once_with_its_meaning():
    assert len(kpi.KPIS) == 12
    for k in kpi.KPIS.values():
        assert k.name_vi and k.name_en and k.formula_vi and k.formula_en and k.sources
        assert k.direction in ("lower", "higher")
    assert kpi.format_number(1234.5, 1) == "1.234,5"
    with pytest.raises(KeyError, match="unknown KPI"):
        kpi.kpi("nope")


def test_kpi_facts_and_trip_keys():
    arrival = stop(at(19, 12), 300)
    assert kpi.kpi_facts(arrival) == (kpi.ARRIVAL_METRIC, kpi.ON_TIME_METRIC)
    assert kpi.kpi_facts(stop(at(19, 12), 301)) == (kpi.ARRIVAL_METRIC,)
    assert kpi.trip_key(arrival) == "68|T1|2026-11-19"
    # 17:00 UTC is midnight in Vietnam: the service day changes.
    assert kpi.trip_key(stop(at(19, 17), 0)) == "68|T1|2026-11-20"
    assert kpi.trip_key(stop(at(19, 12), 0, trip=None)) == "68|bus-1@R1|2026-11-19"


def test_kpis_never_read_raw_events(kpi_store):
    """Every KPI query reads rollups and small state tables, never the events table."""
    import re
    from contextlib import contextmanager

    seen: list[str] = []
    original = kpi_store.transaction

    @contextmanager
    def spying():
        with original() as tx:
            fetch = tx.fetch

            def fetch_and_log(query, params=()):
                seen.append(query)
                return fetch(query, params)

            tx.fetch = fetch_and_log
            yield tx

    kpi_store.transaction = spying
    try:
        for key in ("24h", "7d", "30d"):
            w = kpi.make_window(key, NOW)
            for kpi_id in kpi.KPIS:
                kpi.unit_values(kpi_store, kpi_id, w)
                kpi.unit_values(kpi_store, kpi_id, w, province="68")
                kpi.total_value(kpi_store, kpi_id, w, ward=DALAT)
                kpi.trend(kpi_store, kpi_id, w, province="68")
    finally:
        kpi_store.transaction = original
    assert len(seen) > 100
    raw = [q for q in seen if re.search(r"\b(FROM|JOIN)\s+(events|alarms)\b", q)]
    assert raw == []


def test_trip_counted_once_even_after_a_rolled_back_batch(store):
    batch = [stop(at(19, 12), 0), stop(at(19, 12, 5), 10)]
    real = store._apply_device_state
    calls = {"n": 0}

    def fail_once(tx, latest):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated failure after the KPI state was written")
        return real(tx, latest)

    store._apply_device_state = fail_once
    with pytest.raises(RuntimeError):
        store.write_batch(batch)
    store.write_batch(batch)  # the redelivery
    store.write_batch([stop(at(19, 13), 20)])  # the same trip, later: now known
    store.write_batch([stop(at(19, 14), 30)])
    w = kpi.make_window("24h", NOW)
    trips = store.kpi_counts([kpi.TRIP_METRIC], w.since, w.until, group="total")
    assert [r["n"] for r in trips] == [1]
    assert store.kpi_table_sizes()["kpi_trips"] == 1
    on_time = kpi.total_value(store, "transport_on_time", w, province="68")
    assert (on_time.numerator, on_time.denominator) == (4, 4)
