"""Village and camera registers: import from CSV/XLSX (good and bad files) on both backends,
programme progress from declarations and from probe/camera events, the generator and the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ioc.events import Event
from ioc.programmes import PROGRAMMES, Programme, progress
from ioc.registers.importer import RegisterFileError, parse_cameras, parse_villages, write_csv
from ioc.registers.models import COVERED_AFTER_DAYS, VillageRow
from ioc.store import Store
from ioc.store.register_reads import split_incidents

LAC_DUONG = "24848"  # Xã Lạc Dương, Lâm Đồng
XUAN_HUONG = "24781"  # Phường Xuân Hương - Đà Lạt
HEADER = [
    "province",
    "commune_code",
    "village",
    "kind",
    "lat",
    "lon",
    "households",
    "residents",
    "signal",
    "power",
    "declared_on",
]
GOOD = [
    ["68", LAC_DUONG, "Thôn Đưng K'Si", "thôn", "12.13", "108.60", "120", "480", "none", "off_grid", "2025-06-01"],
    ["68", LAC_DUONG, "Bon Đưng K'Nớ", "buôn", "12.15", "108.55", "90", "350", "2G", "connected", "2025-06-01"],
    ["68", LAC_DUONG, "Thôn Păng Tiêng", "thôn", "", "", "200", "800", "4G", "connected", "2025-06-01"],
    ["68", XUAN_HUONG, "Tổ dân phố 5", "tổ dân phố", "11.90", "108.44", "300", "1200", "5G", "connected", "2025-06-01"],
]  # fmt: skip


def write_rows(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(header)
        for r in rows:
            sheet.append(r)
        book.save(path)
    else:
        with path.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f)
            out.writerow(header)
            out.writerows(rows)
    return path


def ioc(*args: str, db_url: str):
    return subprocess.run(
        [sys.executable, "-m", "ioc", "--db-url", db_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


# --- importer ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_good_file_parses_every_row(tmp_path, suffix):
    result = parse_villages(write_rows(tmp_path / f"v{suffix}", GOOD))
    assert result.errors == []
    assert [v.name for v in result.villages] == [r[2] for r in GOOD]
    assert result.villages[2].lat is None
    assert result.villages[0].households == 120


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_bad_rows_are_reported_by_line(tmp_path, suffix):
    rows = [
        *GOOD[:2],
        ["68", "99999", "Thôn 1", "thôn", "", "", "10", "40", "none", "none", "2025-06-01"],
        [*GOOD[0][:2], " Thôn  Đưng K'Si ", *GOOD[0][3:]],  # same village, spaced differently
        ["68", LAC_DUONG, "Thôn 9", "thôn", "48.85", "2.35", "10", "40", "none", "none", "2025-06-01"],
        ["68", LAC_DUONG, "Thôn 10", "thôn", "12.1", "108.6", "10", "40", "LTE", "none", "2025-06-01"],
        ["68", "00004", "Thôn 11", "thôn", "", "", "10", "40", "none", "none", "2025-06-01"],
    ]  # fmt: skip
    result = parse_villages(write_rows(tmp_path / f"bad{suffix}", rows))
    by_line = {e.line: e.message for e in result.errors}
    assert sorted(by_line) == [4, 5, 6, 7, 8]
    assert "unknown commune code '99999'" in by_line[4]
    assert "duplicate village" in by_line[5] and "line 2" in by_line[5]
    assert "outside Vietnam" in by_line[6]
    assert "signal" in by_line[7]
    assert "not in province 68" in by_line[8]


def test_commune_by_name_and_missing_columns(tmp_path):
    header = ["ma_tinh", "ten_xa", "ten_thon", "loai", "so_ho", "so_dan", "song", "dien"]
    rows = [
        ["68", "Lac Duong", "Thôn 1", "thôn", "10", "40", "none", "none"],
        ["68", "Không Có Xã Này", "Thôn 2", "thôn", "10", "40", "none", "none"],
    ]
    result = parse_villages(write_rows(tmp_path / "names.csv", rows, header))
    assert [v.ward for v in result.villages] == [LAC_DUONG]
    assert result.errors[0].line == 3 and "unknown commune" in result.errors[0].message
    with pytest.raises(RegisterFileError, match="missing columns"):
        parse_villages(write_rows(tmp_path / "short.csv", [], ["province", "commune_code", "name"]))
    (tmp_path / "junk.xlsx").write_bytes(b"not a zip")
    with pytest.raises(RegisterFileError, match="XLSX"):
        parse_villages(tmp_path / "junk.xlsx")


def test_camera_register_rows(tmp_path):
    header = ["id", "province", "commune_code", "owner", "vendor", "route", "planned_on"]
    rows = [
        ["CAM-1", "68", XUAN_HUONG, "security", "Hikvision", "", "2025-07-01"],
        ["CAM-2", "68", XUAN_HUONG, "transport", "Dahua", "BUS-01", "2025-07-01"],
        ["CAM-1", "68", XUAN_HUONG, "traffic", "Dahua", "", "2025-07-01"],
        ["CAM 3", "68", XUAN_HUONG, "police", "Dahua", "", "2025-07-01"],
    ]
    result = parse_cameras(write_rows(tmp_path / "c.csv", rows, header))
    assert [c.id for c in result.cameras] == ["CAM-1", "CAM-2"]
    assert [e.line for e in result.errors] == [4, 5]
    assert "duplicate camera" in result.errors[0].message
    assert "id" in result.errors[1].message and "owner" in result.errors[1].message


# --- store: both backends ---------------------------------------------------------


def test_load_counts_and_declared_progress(store: Store, tmp_path):
    result = parse_villages(write_rows(tmp_path / "v.csv", GOOD))
    loaded = store.load_register(result.villages)
    assert (loaded.villages_added, loaded.villages_updated) == (4, 0)
    counts = {r.key: r for r in store.programme_counts(by="ward", province="68")}
    # Lạc Dương: two villages below 4G (one with none, one 2G), one off the grid.
    assert counts[LAC_DUONG].signal_target == 2 and counts[LAC_DUONG].signal_done == 0
    assert counts[LAC_DUONG].power_target == 1
    assert counts[LAC_DUONG].signal_households_left == 120 + 90
    assert XUAN_HUONG not in counts  # covered everywhere: in no programme

    # A later declaration covers one village; an older one is ignored.
    later = [GOOD[0][:8] + ["4G", "connected", "2025-09-15"]]
    older = [GOOD[1][:8] + ["4G", "connected", "2025-05-01"]]
    store.load_register(parse_villages(write_rows(tmp_path / "later.csv", later)).villages)
    stale = store.load_register(parse_villages(write_rows(tmp_path / "old.csv", older)).villages)
    assert stale.villages_stale == 1
    before = {r.key: r for r in store.programme_counts(by="ward", on=date(2025, 9, 14))}
    after = {r.key: r for r in store.programme_counts(by="ward", on=date(2025, 9, 15))}
    assert before[LAC_DUONG].signal_done == 0 and after[LAC_DUONG].signal_done == 1
    assert after[LAC_DUONG].power_done == 1 and after[LAC_DUONG].power_target == 1
    assert after[LAC_DUONG].signal_households_left == 90
    target, per_day = store.programme_timeline("signal", "68")
    assert (target, per_day) == (2, [(date(2025, 9, 15), 1)])
    rows = {v["name"]: v for v in store.villages(ward=LAC_DUONG)}
    assert rows["Thôn Đưng K'Si"]["signal_covered_on"] == date(2025, 9, 15)
    assert rows["Thôn Đưng K'Si"]["in_signal"] is True  # the baseline stays


def test_bad_file_imports_nothing_cli(store_url: str, tmp_path):
    bad = write_rows(
        tmp_path / "bad.xlsx",
        [*GOOD, ["68", LAC_DUONG, "Thôn 9", "thôn", "91", "108", "1", "4", "none", "none", ""]],
    )
    run = ioc("registers", "import", str(bad), db_url=store_url)
    assert run.returncode == 1
    assert "line 6" in run.stderr and "nothing imported" in run.stderr
    show = ioc("registers", "show", "--province", "68", "--json", db_url=store_url)
    assert show.returncode == 0, show.stderr
    assert '"places": []' in show.stdout

    good = write_rows(tmp_path / "good.csv", GOOD)
    run = ioc("registers", "import", str(good), db_url=store_url)
    assert run.returncode == 0, run.stderr
    assert "4 villages added" in run.stdout
    show = ioc("registers", "show", "--province", "68", "--on", "2025-07-01", db_url=store_url)
    assert "Xã Lạc Dương" in show.stdout


def samples(
    ward: str, village: str, operator: str, tech: str, start: datetime, days: int
) -> list[Event]:
    return [
        Event.model_validate(
            {
                "id": f"s-{abs(hash(village))}-{operator}-{tech}-{start:%m%d}-{d}",
                "ts": (start + timedelta(days=d)).isoformat(),
                "source": f"probe-{operator}",
                "kind": "network.signal_sample",
                "severity": 0,
                "province": "68",
                "ward": ward,
                "attrs": {
                    "probe": "p1",
                    "village": village,
                    "operator": operator,
                    "technology": tech,
                },
            }
        )  # fmt: skip
        for d in range(days + 1)
    ]


def test_probe_run_covers_village_after_n_days(store: Store, tmp_path):
    store.load_register(parse_villages(write_rows(tmp_path / "v.csv", GOOD)).villages)
    start = datetime(2025, 9, 1, 3, tzinfo=UTC)  # 10:00 local
    name = "Thôn Đưng K'Si, xã Lạc Dương"  # as probes name it
    # One day short of the run, then a 2G sample breaks it: not covered.
    store.write_batch(samples(LAC_DUONG, name, "Viettel", "4G", start, COVERED_AFTER_DAYS - 1))
    store.write_batch(samples(LAC_DUONG, name, "Viettel", "2G", start + timedelta(days=7), 0))
    assert store.programme_timeline("signal", "68") == (2, [])
    # A full run on another operator, in two batches.
    run_start = start + timedelta(days=10)
    later = samples(LAC_DUONG, name, "VNPT", "4G", run_start, COVERED_AFTER_DAYS)
    store.write_batch(later[:3])
    store.write_batch(later[3:])
    covered_on = (run_start + timedelta(days=COVERED_AFTER_DAYS, hours=7)).date()
    assert store.programme_timeline("signal", "68") == (2, [(covered_on, 1)])
    v = {r["name"]: r for r in store.villages(ward=LAC_DUONG)}["Thôn Đưng K'Si"]
    assert (v["signal"], v["signal_source"]) == ("4G", "probe")
    assert v["operators"] == {"VNPT": "4G"}
    # A village not in the register is ignored, not an error.
    store.write_batch(samples(LAC_DUONG, "Thôn Lạ", "VNPT", "4G", run_start, 8))


def test_camera_reporting_in_is_integrated(store: Store, tmp_path):
    header = ["id", "province", "commune_code", "owner", "vendor", "route", "planned_on"]
    rows = [
        ["cam-a", "68", XUAN_HUONG, "security", "Hikvision", "", "2025-07-01"],
        ["cam-b", "68", XUAN_HUONG, "transport", "Dahua", "BUS-01", "2025-07-01"],
        ["cam-c", "68", LAC_DUONG, "traffic", "Dahua", "", "2025-07-01"],
    ]
    store.load_register(cameras=parse_cameras(write_rows(tmp_path / "c.csv", rows, header)).cameras)
    ts = datetime(2025, 8, 10, 18, tzinfo=UTC)  # 01:00 on the 11th, local
    ev = Event.model_validate(
        {"id": "m1", "ts": ts.isoformat(), "source": "cam-b", "kind": "camera.motion",
         "severity": 0, "province": "68", "ward": XUAN_HUONG, "attrs": {"area": 0.2}}
    )  # fmt: skip
    store.write_batch([ev])
    counts = store.camera_counts("68")
    by_id = {(c.ward, c.owner): c for c in counts}
    assert by_id[(XUAN_HUONG, "transport")].integrated == 1
    assert by_id[(XUAN_HUONG, "security")].integrated == 0
    assert store.programme_timeline("cameras", "68") == (3, [(date(2025, 8, 11), 1)])
    assert sum(c.integrated for c in store.camera_counts("68", on=date(2025, 8, 10))) == 0


# --- programme arithmetic: known answers ------------------------------------------


def test_progress_known_answers():
    prog = Programme("x", start=date(2025, 1, 1), deadline=date(2025, 1, 31))
    assert prog.planned_share(date(2025, 1, 16)) == pytest.approx(0.5)
    # 60 to do; 30 done over the last 30 days (one a day) by Jan 31.
    done = [(date(2025, 1, 1) + timedelta(days=d), 1) for d in range(1, 31)]
    p = progress(prog, 60, done, date(2025, 1, 31))
    assert (p.done, p.remaining, p.days_to_deadline) == (30, 30, 0)
    assert p.rate_per_day == pytest.approx(1.0)
    assert p.projected_completion == date(2025, 3, 2)
    assert p.ahead_of_plan == -30
    # Days after `today` do not count.
    assert progress(prog, 60, done, date(2025, 1, 10)).done == 9
    finished = progress(prog, 30, done, date(2025, 2, 15))
    assert finished.finished == date(2025, 1, 31) and finished.projected_completion is None
    # Milestones bend the plan line.
    bent = Programme("y", date(2025, 1, 1), date(2025, 1, 31), ((date(2025, 1, 11), 0.8),))
    assert bent.planned_share(date(2025, 1, 6)) == pytest.approx(0.4)
    assert bent.planned_share(date(2025, 1, 21)) == pytest.approx(0.9)
    assert set(PROGRAMMES) == {"signal", "power", "cameras"}


def test_incident_split():
    order, traffic = split_incidents(
        [("security.intrusion", 3), ("security.traffic_violation", 10), ("security.plate_read", 50)]
    )
    assert (order, traffic) == (3, 10)


# --- generator --------------------------------------------------------------------


def test_generator_is_deterministic_and_loads(store: Store, tmp_path):
    from sample_feeds.registers import _remote, generate_register

    a = generate_register(["68"], start=date(2025, 6, 1), until=date(2025, 12, 1), seed=3)
    b = generate_register(["68"], start=date(2025, 6, 1), until=date(2025, 12, 1), seed=3)
    assert a == b
    from ioc.geo import geography

    geo = geography()
    assert {v.ward for v in a.baseline} == {c.code for c in geo.communes_of("68")}
    gap = {"remote": [0, 0], "near": [0, 0], "phường": [0, 0]}
    for v in a.baseline:
        zone = _remote(geo.commune(v.ward))
        gap[zone][0] += v.signal not in ("4G", "5G")
        gap[zone][1] += 1
    assert gap["phường"][0] == 0
    assert gap["remote"][0] / gap["remote"][1] > 2 * gap["near"][0] / gap["near"][1]
    # Files round-trip through the importer.
    write_csv(a.baseline, tmp_path / "villages.csv")
    back = parse_villages(tmp_path / "villages.csv")
    assert back.errors == [] and back.villages == a.baseline
    store.load_register(a.baseline, a.cameras)
    store.load_register(a.updates)
    target, per_day = store.programme_timeline("signal", "68")
    assert target == gap["remote"][0] + gap["near"][0]
    in_programme = {v.id for v in a.baseline if v.signal not in ("4G", "5G")}
    expected = {v.id for v in a.updates if v.signal in ("4G", "5G") and v.id in in_programme}
    assert 0 < len(expected) < len(in_programme)
    assert sum(n for _, n in per_day) == len(expected)


def test_village_row_rejects_impossible_counts():
    with pytest.raises(ValueError, match="fewer residents"):
        VillageRow(province="68", ward=LAC_DUONG, name="Thôn 1", kind="thôn", households=10,
                   residents=5, signal="none", power="none", declared_on=date(2025, 6, 1))  # fmt: skip


def test_camera_summary_and_moves(store: Store):
    from ioc.registers.models import CameraRow

    def cam(i: str, ward: str, owner: str, route: str | None, done: date | None) -> CameraRow:
        return CameraRow(id=i, province="68", ward=ward, owner=owner, vendor="Dahua",
                         route=route, planned_on=date(2025, 7, 1), integrated_on=done)  # fmt: skip

    store.load_register(
        cameras=[
            cam("c1", XUAN_HUONG, "transport", "BUS-1", date(2025, 8, 1)),
            cam("c2", XUAN_HUONG, "transport", "BUS-2", None),
            cam("c3", LAC_DUONG, "security", None, date(2025, 9, 1)),
        ]
    )
    s = store.camera_summary("68", on=date(2025, 8, 15))
    assert s.places == {XUAN_HUONG: (2, 1), LAC_DUONG: (1, 0)}
    assert s.owners == {"transport": (2, 1), "security": (1, 0)}
    assert s.coverage == {"all_communes": 2, "communes": 1, "all_routes": 2, "routes": 1}
    assert store.camera_summary(on=date(2025, 9, 1)).places == {"68": (3, 2)}
    assert store.register_moves(date(2025, 8, 1), date(2025, 9, 1), "68") == {LAC_DUONG: (0, 0, 1)}
    assert store.register_moves(date(2025, 7, 31), date(2025, 9, 1)) == {"68": (0, 0, 2)}


def test_security_order_kpi_is_apart_from_traffic_order(store: Store):
    from ioc import kpi
    from ioc.geo import geography

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ts = (now - timedelta(hours=2)).isoformat()

    def sec(i: int, kind: str, attrs: dict) -> Event:
        return Event.model_validate(
            {"id": f"k{i}", "ts": ts, "source": f"cam-{i}", "kind": kind, "severity": 1,
             "province": "68", "ward": XUAN_HUONG, "attrs": attrs}
        )  # fmt: skip

    store.write_batch(
        [sec(i, "security.intrusion", {}) for i in range(2)]
        + [sec(10 + i, "security.traffic_violation", {"violation": "red_light"}) for i in range(3)]
    )
    w = kpi.make_window("24h", now + timedelta(hours=1))
    order = kpi.total_value(store, "security_incidents", w, province="68")
    traffic = kpi.total_value(store, "traffic_violations", w, province="68")
    assert (order.numerator, traffic.numerator) == (2, 3)
    pop = geography().province("68").population
    assert traffic.value == pytest.approx(3 / pop * 10_000)


def test_demo_generates_registers_once(tmp_path):
    from ioc.demo import DEMO_REGISTER_PROVINCES, ensure_demo_registers
    from ioc.settings import load_settings
    from ioc.store import open_store

    settings = load_settings(data_dir=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'ioc.db'}")
    ensure_demo_registers(settings)
    store = open_store(settings.db_url)
    try:
        first = store.programme_counts()
        assert {r.key for r in first} == set(DEMO_REGISTER_PROVINCES)
        assert all(0 < r.signal_done < r.signal_target for r in first)
        ensure_demo_registers(settings)  # a second start keeps what is there
        assert store.programme_counts() == first
    finally:
        store.close()


def test_bench_programmes_times_every_view(store: Store):
    from bench.programmes import run_bench
    from sample_feeds.registers import generate_register

    reg = generate_register(["46"], start=date(2025, 6, 1), until=date(2025, 9, 1), seed=2)
    store.load_register(reg.baseline, reg.cameras)
    store.load_register(reg.updates)
    result = run_bench(store, on=date(2025, 10, 1), provinces=("46",), repeat=1)
    got = {(r["callback"], r["view"]) for r in result["results"]}
    assert got == {
        (cb, view)
        for cb in ("programmes:signal", "programmes:power", "programmes:cameras", "review")
        for view in ("national", "46")
    }
    assert all(r["samples"] >= 1 and r["max_ms"] >= r["p50_ms"] for r in result["results"])


def test_signal_per_operator(store: Store, tmp_path):
    header = ["ma_xa", "province", "ten_thon", "loai", "so_ho", "so_dan", "dien",
              "song_viettel", "signal_vnpt", "signal_mobifone"]  # fmt: skip
    rows = [
        [LAC_DUONG, "68", "Bản A", "bản", "10", "40", "none", "3G", "2G", "none"],
        [LAC_DUONG, "68", "Bản B", "bản", "10", "40", "none", "4G", "", ""],
        [LAC_DUONG, "68", "Bản C", "bản", "10", "40", "none", "6G", "", ""],
    ]
    result = parse_villages(write_rows(tmp_path / "ops.csv", rows, header))
    assert [v.signal for v in result.villages] == ["3G", "4G"]
    assert result.villages[0].operators == {"Viettel": "3G", "VNPT": "2G", "MobiFone": "none"}
    assert [e.line for e in result.errors] == [4]
    # A declared best level that the operators do not reach is refused.
    with pytest.raises(ValueError, match="not the best"):
        VillageRow(province="68", ward=LAC_DUONG, name="Bản D", kind="bản", households=1,
                   residents=4, signal="4G", power="none", declared_on=date(2025, 6, 1),
                   operators={"Viettel": "3G"})  # fmt: skip
    store.load_register(result.villages)
    stored = {v["name"]: v["operators"] for v in store.villages(ward=LAC_DUONG)}
    assert stored["Bản A"] == {"MobiFone": "none", "VNPT": "2G", "Viettel": "3G"}
    # The CSV writer keeps the operators.
    write_csv(result.villages, tmp_path / "back.csv")
    assert parse_villages(tmp_path / "back.csv").villages == result.villages


def test_generate_files_then_import_them_cli(store_url: str, tmp_path):
    out = tmp_path / "reg"
    run = ioc("registers", "generate", "--province", "46", "--until", "2025-12-01",
              "--out", str(out), db_url=store_url)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "(synthetic)" in run.stdout
    base = parse_villages(out / "villages.csv").villages
    files = ["villages.csv", *sorted(p.name for p in out.glob("village-updates-*.csv"))]
    assert files[1:3] == ["village-updates-1.csv", "village-updates-2.csv"]
    for name, flag in [(f, ()) for f in files] + [("cameras.csv", ("--cameras",))]:
        run = ioc("registers", "import", str(out / name), *flag, db_url=store_url)
        assert run.returncode == 0, run.stderr
    show = ioc("registers", "show", "--province", "46", "--on", "2025-12-01", "--json",
               db_url=store_url)  # fmt: skip
    import json

    data = json.loads(show.stdout)
    assert data["programmes"]["signal"]["target"] == sum(v.signal not in ("4G", "5G") for v in base)
    assert data["programmes"]["cameras"]["done"] > 0
    # The same progress as the generator's own declarations give (first 4G day per village).
    from ioc.programmes import PROGRAMMES, progress
    from sample_feeds.registers import generate_register

    reg = generate_register(["46"], start=date(2025, 6, 1), until=date(2025, 12, 1), seed=1)
    in_prog = {v.id for v in reg.baseline if v.signal not in ("4G", "5G")}
    covered: dict[str, date] = {}
    for v in reg.updates:
        if v.id in in_prog and v.signal == "4G":
            covered.setdefault(v.id, v.declared_on)
    per_day: dict[date, int] = {}
    for d in covered.values():
        per_day[d] = per_day.get(d, 0) + 1
    want = progress(PROGRAMMES["signal"], len(in_prog), sorted(per_day.items()), date(2025, 12, 1))
    assert data["programmes"]["signal"]["done"] == want.done > 0
    bad = ioc("registers", "generate", "--province", "99", db_url=store_url)
    assert bad.returncode == 2 and "unknown province" in bad.stderr
