"""Regenerate docs/screenshots/*.png from the demo, in headless Chromium.

    .venv/bin/python scripts/screenshots.py            # starts `ioc demo` in a temp dir
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8050 \\
        --credentials .ioc-data/demo-credentials.txt    # against a demo already running

Started here, the demo gets two additions so the pictures show a working shift
rather than the quiet minutes after midnight where the feed begins: a second replay
of the same Lâm Đồng feed from the morning rush (--morning), and a few
`ioc camera watch` processes on the synthetic test clips, so the camera wall has
real snapshots and health conditions from the camera adapters.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness_web import chrome_options, login  # noqa: E402

CLIPS = ROOT / "tests" / "fixtures" / "cameras" / "clips"
FEED = ROOT / "sample_feeds" / "lam-dong-68.jsonl.gz"
SECOND_FEED = ROOT / "sample_feeds" / "hue-46.jsonl.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=2).close()  # a local URL
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def read_credentials(path: Path) -> dict[str, str]:
    creds = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, password, *_ = line.split()
            creds[name] = password
    return creds


class Demo:
    """`ioc demo` in a temporary data directory, plus the extras described above."""

    def __init__(self, morning: str, cameras: int, keep: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ioc-screens-"))
        self.port = free_port()
        self.morning = morning
        self.cameras = cameras
        self.keep = keep
        self.procs: list[subprocess.Popen[bytes]] = []
        self.demo: subprocess.Popen[bytes] | None = None
        self.broker = ""
        self.watched: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ioc(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ioc",
            "--db-url",
            f"sqlite:///{self.dir / 'ioc.db'}",
            "--mqtt-url",
            self.broker,
            "--data-dir",
            str(self.dir),
            *args,
        ]

    def spawn(self, name: str, cmd: list[str]) -> None:
        with open(self.dir / f"{name}.log", "ab") as out:
            self.procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))

    def start(self) -> dict[str, str]:
        out = open(self.dir / "demo.out", "wb")  # owned by the child
        self.demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ioc",
                "--data-dir",
                str(self.dir),
                "demo",
                "--port",
                str(self.port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Ctrl+C stops the demo cleanly; make sure it is not inherited as ignored.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        out.close()
        wait_http(self.url)
        text = (self.dir / "demo.out").read_text()
        match = re.search(r"broker\s+(mqtt://\S+)", text)
        if not match:
            raise RuntimeError(f"no broker address in the demo output:\n{text}")
        self.broker = match.group(1)
        print(f"demo on {self.url}, broker {self.broker}, data in {self.dir}")
        if self.morning:
            # Without device status: the demo's own replay has announced the devices already.
            self.spawn(
                "morning",
                self.ioc(
                    "replay",
                    "--rebase-time",
                    "--from",
                    self.morning,
                    "--kinds",
                    "!status",
                    "--speed",
                    "1",
                    "--quiet",
                    str(FEED),
                ),
            )
        self._start_cameras()
        self._start_scenario()
        return read_credentials(self.dir / "demo-credentials.txt")

    def _start_scenario(self) -> None:
        """A few alarm-worthy events on real demo devices, replayed like any feed.

        The feed opens only a handful of alarms an hour; the pictures should show the
        alarm queue at work. Same path as everything else: a feed file, `ioc replay`,
        MQTT, ingest, the alarm rules.
        """
        import json

        from ioc.store import open_store

        store = open_store(f"sqlite:///{self.dir / 'ioc.db'}")
        try:
            buses = [d for d in store.devices(province="68", domain="transport") if d.lat]
            cams = [d for d in store.devices(province="68", domain="camera") if d.lat]
        finally:
            store.close()
        if not buses or len(cams) < 3:
            return
        start = "2026-11-20T01:00:00+00:00"
        bus, cam1, cam2 = buses[0], cams[-1], cams[-2]
        plan = [
            (
                2,
                bus,
                "transport/{s}/panic",
                "transport.panic",
                4,
                {"vehicle": bus.source, "route": "Tuyến 1"},
            ),
            (
                6,
                cam1,
                "security/{s}/fire",
                "security.fire",
                4,
                {"camera": cam1.source, "zone": "Khu chợ", "confidence": 0.87},
            ),
            (
                10,
                cam2,
                "security/{s}/intrusion",
                "security.intrusion",
                3,
                {"camera": cam2.source, "zone": "Cổng sau", "confidence": 0.93},
            ),
            (
                14,
                cam1,
                "power/{s}/outage_started",
                "power.outage_started",
                2,
                {
                    "village": "Thôn Đa Quý",
                    "outage": "scn-o1",
                    "households": 140,
                    "cause": "sự cố đường dây trung thế",
                },
            ),
            (
                18,
                cam2,
                "network/{s}/gap_opened",
                "network.gap_opened",
                2,
                {
                    "village": "Thôn K'Long",
                    "operator": "Viettel",
                    "gap": "scn-g1",
                    "households": 60,
                },
            ),
        ]
        lines = [
            json.dumps(
                {
                    "feed": "ioc-feed",
                    "version": 1,
                    "start": start,
                    "tz": "Asia/Ho_Chi_Minh",
                    "duration_s": 20.0,
                    "province": "68",
                }
            )
        ]
        for i, (t, dev, topic, kind, sev, attrs) in enumerate(plan):
            source = (
                "evn-68-scn"
                if kind.startswith("power")
                else ("probe-68-scn" if kind.startswith("network") else dev.source)
            )
            payload = {
                "id": f"scn-{i}",
                "ts": (datetime.fromisoformat(start) + timedelta(seconds=t)).isoformat(),
                "source": source,
                "kind": kind,
                "severity": sev,
                "province": "68",
                "lat": dev.lat + 0.002 * i,
                "lon": dev.lon + 0.002 * i,
                "attrs": attrs,
            }
            lines.append(
                json.dumps(
                    {
                        "t": float(t),
                        "topic": "ioc/v1/68/" + topic.format(s=source),
                        "qos": 1,
                        "retain": False,
                        "payload": payload,
                    },
                    ensure_ascii=False,
                )
            )
        feed = self.dir / "scenario.jsonl"
        feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.spawn(
            "scenario", self.ioc("replay", "--rebase-time", "--speed", "1", "--quiet", str(feed))
        )

    def _start_cameras(self) -> None:
        if not self.cameras or not CLIPS.is_dir():
            return
        from ioc.store import open_store

        store = open_store(f"sqlite:///{self.dir / 'ioc.db'}")
        try:
            deadline = time.monotonic() + 30
            cams: list[Any] = []
            while time.monotonic() < deadline and len(cams) < self.cameras:
                cams = [
                    d for d in store.devices(province="68", domain="camera") if d.lat is not None
                ][: self.cameras]
                time.sleep(1)
        finally:
            store.close()
        # The "moving" clip only: the fault clips loop every 8 s, so their conditions would
        # open and close all the time and fill the feed.
        self.watched = [cam.source for cam in cams]
        for cam in cams:
            clip = CLIPS / "moving.avi"
            self.spawn(
                f"camera-{cam.source}",
                self.ioc(
                    "camera",
                    "watch",
                    str(clip),
                    "--id",
                    cam.source,
                    "--lat",
                    str(cam.lat),
                    "--lon",
                    str(cam.lon),
                    "--name",
                    cam.name or cam.source,
                    "--loop",
                    "--realtime",
                    "--snapshot-interval",
                    "3",
                ),
            )
        print(f"{len(cams)} camera watchers on the test clips")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.demo is not None and self.demo.poll() is None:
            self.demo.send_signal(signal.SIGINT)
            try:
                self.demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.demo.pid, signal.SIGTERM)  # its own session: only what it started
                self.demo.wait(timeout=15)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Shooter:
    """One browser, one user at a time; saves PNGs."""

    def __init__(self, base_url: str, out: Path, width: int, height: int) -> None:
        from selenium import webdriver

        self.base = base_url
        self.out = out
        self.driver = webdriver.Chrome(options=chrome_options(width, height))
        self.saved: list[Path] = []

    def sign_in(self, user: str, password: str, path: str = "/live") -> None:
        self.driver.delete_all_cookies()
        login(self.driver, self.base, user, password, path)

    def go(self, path: str, settle: float = 4.0) -> None:
        self.driver.get(self.base + path)
        time.sleep(settle)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def click(self, selector: str, settle: float = 2.0) -> bool:
        # A DOM click in one script: live rows re-render every second under a WebElement.
        done = self.js(
            "const el = document.querySelector(arguments[0]); if (!el) return false;"
            "el.scrollIntoView({block: 'nearest'}); el.click(); return true;",
            selector,
        )
        time.sleep(settle)
        return bool(done)

    def wait_for(self, selector: str, timeout: float = 20) -> bool:
        from selenium.webdriver.common.by import By

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.driver.find_elements(By.CSS_SELECTOR, selector):
                return True
            time.sleep(0.3)
        return False

    def shot(self, name: str) -> None:
        path = self.out / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.saved.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    def quit(self) -> None:
        self.driver.quit()


def click_map_item(s: Shooter, trace: str, prefer: list[str]) -> bool:
    """Zoom to a point of a map trace (a preferred source if present) and click it for real."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    gd = "document.querySelector('#live-map .js-plotly-plot')"
    pick = (
        f"const gd = {gd}; const t = gd && gd.data.find(t => t.name === arguments[0]);"
        "if (!t || !t.lat.length) return null;"
        "let i = t.customdata.findIndex(c => arguments[1].includes(c[1])); if (i < 0) i = 0;"
    )
    ok = s.js(
        pick + "gd._fullLayout.map._subplot.map.jumpTo({center: [t.lon[i], t.lat[i]], zoom: 13},"
        " {originalEvent: new MouseEvent('mouseup')}); return true;",
        trace,
        prefer,
    )
    if not ok:
        return False
    time.sleep(1.5)
    xy = s.js(
        pick
        + "const m = gd._fullLayout.map._subplot.map; const p = m.project([t.lon[i], t.lat[i]]);"
        "const r = m.getCanvas().getBoundingClientRect(); return [p.x - r.width/2, p.y - r.height/2];",
        trace,
        prefer,
    )
    canvas = s.driver.find_element(By.CSS_SELECTOR, "#live-map .maplibregl-canvas")
    ActionChains(s.driver).move_to_element_with_offset(canvas, xy[0], xy[1]).click().perform()
    time.sleep(2.5)
    return True


def capture(s: Shooter, creds: dict[str, str], cameras: list[str]) -> None:
    operator = next((u for u in ("vanhanh", "operator") if u in creds), None)
    admin = "admin" if "admin" in creds else None
    engineer = next((u for u in ("kysu", "engineer") if u in creds), None)

    s.driver.delete_all_cookies()
    s.go("/login", 2)
    s.shot("login")

    if operator:
        s.sign_in(operator, creds[operator])
        s.wait_for("#live-feed .feed-item")
        s.wait_for("#live-map .maplibregl-canvas", 30)
        time.sleep(4)
        s.shot("live")
        if s.click("#live-alarms .alarm-card", 3):
            # Acknowledge and assign, so the picture shows timers, state and the action log.
            s.click("#alarm-ack", 2)
            s.js(
                "const i = document.querySelector('#alarm-assignee-input');"
                "const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
                "set.call(i, 'Cảnh sát PCCC và CNCH'); i.dispatchEvent(new Event('input', {bubbles: true}));"
            )
            s.click("#alarm-assign", 3)
            s.shot("live-alarm")
        if click_map_item(s, "Camera", cameras):
            s.shot("live-map-camera")
        # An event with device codes (vendor event, violation), shown in words.
        if s.js(
            "const rows = [...document.querySelectorAll('#live-feed .feed-item')];"
            "const row = rows.find(r => /Vi phạm giao thông|Xâm nhập|Vượt hàng rào/.test(r.textContent))"
            " || rows.find(r => /cam-/.test(r.textContent)) || rows[0];"
            "if (row) row.click(); return !!row;"
        ):
            time.sleep(3)
            s.shot("live-event")
        s.go("/live", 1)
        s.wait_for("#lang-en")
        s.click("#lang-en", 5)
        s.shot("live-en")
        s.click("#lang-vi", 3)
        s.go("/cameras", 5)
        s.shot("cameras")
        if s.click("#cam-wall .cam-card:not(.status-unknown) img", 4) or s.click(
            "#cam-wall .cam-card", 4
        ):
            s.js("document.querySelector('#cam-history-body')?.scrollIntoView()")
            time.sleep(1)
            s.shot("camera-history")

    if engineer:
        s.sign_in(engineer, creds[engineer], "/replay")
        s.wait_for("#replay-feed")
        time.sleep(3)
        # The demo's own replays (started by `ioc demo`, not this page) show as running.
        s.wait_for(".replay-external", 10)
        s.shot("replay-demo")
        s.js(
            "const d = document.querySelector('#replay-flags input[value=loop]');"
            "if (d && !d.checked) d.click();"
        )
        if SECOND_FEED.exists():
            from selenium.webdriver.common.by import By

            s.click("#replay-feed", 1)
            for option in s.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
                if option.text.startswith(SECOND_FEED.name):
                    option.click()
                    break
            time.sleep(1)
        s.click("#replay-start", 6)
        s.shot("replay")
        s.click("#replay-stop", 3)

    if admin:
        s.sign_in(admin, creds[admin])
        s.go("/live", 8)
        s.shot("live-national")
        hrefs = s.js(
            "return [...document.querySelectorAll('.nav-link')].map(a => a.getAttribute('href'))"
        )
        for href in hrefs:
            name = href.strip("/").replace("/", "-")
            if name in ("live", "cameras", "replay") or not name:
                continue
            s.go(href, 6)
            s.shot(name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", help="A running demo (else one is started in a temp dir).")
    parser.add_argument("--credentials", type=Path, help="demo-credentials.txt of that demo.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--warmup", type=float, default=45.0, help="Seconds of traffic before the first picture."
    )
    parser.add_argument(
        "--morning", default="07:30", help="Also replay the feed from this local time ('' to skip)."
    )
    parser.add_argument("--cameras", type=int, default=6, help="Camera watchers on test clips.")
    parser.add_argument("--width", type=int, default=1680)
    parser.add_argument("--height", type=int, default=1050)
    parser.add_argument("--keep", action="store_true", help="Keep the demo's data directory.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    demo = None
    try:
        if args.url:
            if not args.credentials:
                parser.error("--url needs --credentials")
            base, creds = args.url.rstrip("/"), read_credentials(args.credentials)
        else:
            demo = Demo(args.morning, args.cameras, args.keep)
            creds = demo.start()
            base = demo.url
            print(f"warming up for {args.warmup:.0f} s")
            time.sleep(args.warmup)
        shooter = Shooter(base, args.out, args.width, args.height)
        try:
            capture(shooter, creds, demo.watched if demo else [])
        finally:
            shooter.quit()
        print(f"{len(shooter.saved)} screenshots in {args.out}")
    finally:
        if demo is not None:
            demo.stop()


if __name__ == "__main__":
    main()
