"""Shared helpers for the dashboard browser tests: users, realistic events, login."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from store_support import DALAT, HUE, validated_event

from ioc.auth import hash_password
from ioc.events import Event
from ioc.settings import Settings, load_settings
from ioc.store import Store, open_store

PASSWORD = "mat-khau-thu-nghiem"
_ids = itertools.count(1)


def add_user(store: Store, name: str, role: str, province: str | None = None) -> None:
    """An account with the shared test password."""
    store.add_user(name, hash_password(PASSWORD), role, province)


def ev(
    kind: str,
    *,
    source: str,
    province: str = "68",
    severity: int = 1,
    ts: datetime | None = None,
    at: tuple[float, float] | None = None,
    attrs: dict[str, Any] | None = None,
    id: str | None = None,
) -> Event:
    """A validated event (ward derived from lat/lon like ingest does)."""
    return validated_event(
        id or f"t-{next(_ids)}-{source}",
        ts or datetime.now(UTC),
        kind,
        source=source,
        severity=severity,
        province=province,
        at=at,
        attrs=attrs or {},
    )


def write_jpeg(
    path: Path, label: str, colour: tuple[int, int, int] = (40, 90, 160)
) -> dict[str, Any]:
    """A small labelled JPEG, returned as a SnapshotRef dict (path relative to snapshots/)."""
    import cv2
    import numpy as np

    img = np.zeros((180, 320, 3), dtype=np.uint8)
    img[:] = colour
    cv2.rectangle(img, (20, 110), (300, 160), (20, 20, 20), -1)
    cv2.putText(img, label, (30, 145), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (240, 240, 240), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    data = buf.tobytes()
    path.write_bytes(data)
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "width": 320,
        "height": 180,
    }


def snapshot_event(
    data_dir: Path,
    source: str,
    *,
    province: str = "68",
    at: tuple[float, float] | None = None,
    ts: datetime | None = None,
    colour: tuple[int, int, int] = (40, 90, 160),
) -> Event:
    """A camera.snapshot event whose JPEG exists under data_dir/snapshots."""
    ts = ts or datetime.now(UTC)
    rel = f"{source}/{ts:%Y%m%dT%H%M%S%f}.jpg"
    ref = write_jpeg(data_dir / "snapshots" / rel, source, colour)
    return ev(
        "camera.snapshot",
        source=source,
        province=province,
        severity=0,
        ts=ts,
        at=at,
        attrs={"reason": "interval", "snapshot": {"path": rel, **ref}},
    )


def seed(store: Store, data_dir: Path, now: datetime | None = None) -> dict[str, Any]:
    """A small, realistic picture of two provinces: incidents, alarms, buses, cameras, gaps, outages."""
    now = now or datetime.now(UTC)
    m = timedelta(minutes=1)
    events = [
        # Lâm Đồng (68), around Đà Lạt
        ev(
            "security.intrusion",
            source="cam-dl-01",
            severity=3,
            ts=now - 9 * m,
            at=(11.9404, 108.4583),
            attrs={"camera": "cam-dl-01", "zone": "Cổng chợ Đà Lạt", "confidence": 0.91},
        ),
        ev(
            "transport.panic",
            source="bus-dl-07",
            severity=4,
            ts=now - 6 * m,
            at=(11.9465, 108.4419),
            attrs={"vehicle": "bus-dl-07", "route": "Tuyến 3"},
        ),
        ev(
            "power.outage_started",
            source="evn-ld",
            severity=2,
            ts=now - 20 * m,
            at=(11.9000, 108.4000),
            attrs={
                "village": "Thôn Đa Quý",
                "outage": "o-ld-1",
                "households": 140,
                "cause": "sự cố đường dây",
            },
        ),
        ev(
            "network.gap_opened",
            source="probe-ld-3",
            severity=2,
            ts=now - 30 * m,
            at=(11.8500, 108.3500),
            attrs={
                "village": "Thôn K'Long",
                "operator": "Viettel",
                "gap": "g-ld-1",
                "households": 60,
            },
        ),
        ev(
            "camera.offline",
            source="cam-dl-02",
            severity=2,
            ts=now - 4 * m,
            at=(11.9350, 108.4300),
            attrs={"state": "opened", "condition": "c-1"},
        ),
        ev(
            "security.crowd",
            source="cam-dl-01",
            severity=1,
            ts=now - 3 * m,
            at=(11.9404, 108.4583),
            attrs={"camera": "cam-dl-01", "object_count": 35},
        ),
        # Huế (46)
        ev(
            "security.fire",
            source="cam-hue-01",
            province="46",
            severity=4,
            ts=now - 5 * m,
            at=(16.4637, 107.5909),
            attrs={"camera": "cam-hue-01", "zone": "Chợ Đông Ba"},
        ),
        ev(
            "transport.position",
            source="bus-hue-02",
            province="46",
            severity=0,
            ts=now - m,
            at=(16.4700, 107.5800),
            attrs={"vehicle": "bus-hue-02", "speed_kmh": 28.0, "heading": 45.0, "route": "Tuyến 1"},
        ),
    ]
    for i in range(3):
        events.append(
            ev(
                "transport.position",
                source=f"bus-dl-0{i + 1}",
                severity=0,
                ts=now - (i + 1) * m,
                at=(11.94 + 0.01 * i, 108.43 + 0.01 * i),
                attrs={
                    "vehicle": f"bus-dl-0{i + 1}",
                    "speed_kmh": 20.0 + i,
                    "heading": 90.0,
                    "route": "Tuyến 1",
                    "occupancy": 20,
                    "capacity": 60,
                },
            )
        )
    events += [
        snapshot_event(data_dir, "cam-dl-01", at=(11.9404, 108.4583), ts=now - 2 * m),
        snapshot_event(
            data_dir, "cam-dl-02", at=(11.9350, 108.4300), ts=now - 5 * m, colour=(60, 60, 60)
        ),
        snapshot_event(
            data_dir,
            "cam-hue-01",
            province="46",
            at=(16.4637, 107.5909),
            ts=now - 2 * m,
            colour=(30, 120, 60),
        ),
    ]
    result = store.write_batch(events)
    return {"events": events, "result": result}


def login(dash_duo: Any, username: str, password: str = PASSWORD, *, path: str = "/live") -> None:
    """Sign in through the real form and wait for the page."""
    dash_duo.driver.get(f"{dash_duo.server_url}/login?next={path}")
    dash_duo.wait_for_element("#login-username", timeout=10)
    dash_duo.find_element("#login-username").send_keys(username)
    dash_duo.find_element("#login-password").send_keys(password)
    dash_duo.find_element("#login-submit").click()


def dash_store(
    tmp_path: Path, *accounts: tuple[str, ...], **overrides: Any
) -> tuple[Settings, Store]:
    """Settings (more of them as keywords, such as mqtt_url) on a fresh, migrated SQLite
    store in tmp_path, with these accounts (name, role[, province]), all with PASSWORD."""
    settings = load_settings(
        data_dir=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'ioc.db'}", **overrides
    )
    store = open_store(settings.db_url, migrate=True)
    for account in accounts:
        add_user(store, *account)
    return settings, store


def form_login(client: Any, username: str, *, next_path: str = "/live") -> str:
    """Sign in through the login form with a Flask test client; the session's CSRF token."""
    r = client.post(
        "/auth/login", data={"username": username, "password": PASSWORD, "next": next_path}
    )
    assert r.status_code == 303 and r.headers["Location"] == next_path, r.headers
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    return cookie.value


def dash_call(client: Any, csrf: str | None, output: str, values: dict[str, Any]) -> Any:
    """POST the body dash-renderer would send for the callback that owns `output` ("id.prop"),
    with `values` ("id.prop" -> value) for its inputs and state; the first one is the change."""
    deps = client.get("/_dash-dependencies")
    assert deps.status_code == 200
    # The callback that owns `output` (not a Patch writing it with allow_duplicate: "@hash").
    spec = next(d for d in deps.get_json() if output in d["output"].strip(".").split("..."))

    def items(kind: str) -> list[dict[str, Any]]:
        return [
            {
                "id": d["id"],
                "property": d["property"],
                "value": values.get(f"{d['id']}.{d['property']}"),
            }
            for d in spec[kind]
        ]

    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in spec["output"].strip(".").split("...")
    ]
    body = {
        "output": spec["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": items("inputs"),
        "state": items("state"),
        "changedPropIds": [next(iter(values))],
    }
    headers = {"X-CSRFToken": csrf} if csrf else {}
    return client.post("/_dash-update-component", json=body, headers=headers)


def write_feed(
    path: Path, *, seconds: int = 20, provinces: tuple[str, ...] = ("68", "46"), prefix: str = "rp"
) -> Path:
    """A small feed file in the documented format: one intrusion per second, alternating places."""
    import json

    start = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    header = {
        "feed": "ioc-feed",
        "version": 1,
        "start": start.isoformat(),
        "tz": "Asia/Ho_Chi_Minh",
        "duration_s": float(seconds),
        "province": provinces[0],
    }
    lines = [json.dumps(header)]
    for i in range(seconds):
        prov = provinces[i % len(provinces)]
        lat, lon = DALAT if prov == "68" else HUE
        source = f"cam-{prefix}-{prov}"
        payload = {
            "id": f"{prefix}-{i}",
            "ts": (start + timedelta(seconds=i)).isoformat(),
            "source": source,
            "kind": "security.intrusion",
            "severity": 2,
            "province": prov,
            "lat": lat,
            "lon": lon,
            "attrs": {"camera": source},
        }
        lines.append(
            json.dumps(
                {
                    "t": float(i),
                    "topic": f"ioc/v1/{prov}/security/{source}/intrusion",
                    "qos": 1,
                    "retain": False,
                    "payload": payload,
                }
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def ioc_command(settings: Any, *args: str) -> list[str]:
    """The `ioc` CLI as a subprocess, on the test's store and broker."""
    import sys

    return [
        sys.executable,
        "-m",
        "ioc",
        "--db-url",
        settings.db_url,
        "--mqtt-url",
        settings.mqtt_url,
        "--data-dir",
        str(settings.data_dir),
        *args,
    ]


def start_ingest(settings: Any, store: Store, log: Path, timeout: float = 30.0) -> Any:
    """`ioc ingest` as a subprocess; returns once it has written a heartbeat."""
    import subprocess
    import time

    out = open(log, "ab")  # handed to the child process
    proc = subprocess.Popen(
        ioc_command(settings, "ingest", "--heartbeat", "1"), stdout=out, stderr=subprocess.STDOUT
    )
    out.close()
    deadline = time.monotonic() + timeout
    while not store.workers():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"ingest did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_process(proc: Any, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Records each Dash callback round trip the page makes from now on (the renderer calls the
# global fetch), and when plotly last drew each graph, so a test can wait for "the next
# update has been drawn" instead of sleeping for a guess of how long that takes.
_WATCH_JS = """
if (!window.__dashCalls) {
  window.__dashCalls = [];
  const orig = window.fetch;
  window.fetch = function (url, init) {
    const answer = orig.apply(this, arguments);
    if (String(url).includes('_dash-update-component') && init && init.body) {
      let body = null;
      try { body = JSON.parse(init.body); } catch (e) { return answer; }
      const inputs = {};
      (body.inputs || []).flat().forEach(i => {
        if (i && i.id !== undefined) {
          const id = typeof i.id === 'string' ? i.id : JSON.stringify(i.id);
          inputs[id + '.' + i.property] = i.value;
        }
      });
      answer.then(r => window.__dashCalls.push(
        {output: body.output, inputs: inputs, status: r.status, t: performance.now()}
      ), () => {});
    }
    return answer;
  };
}
window.__drawn = window.__drawn || {};
document.querySelectorAll('.js-plotly-plot').forEach(gd => {
  const owner = gd.id ? gd : gd.parentElement && gd.parentElement.closest('[id]');
  const key = owner ? owner.id : '';
  if (gd.__iocWatched) return;
  gd.__iocWatched = true;
  gd.on('plotly_afterplot', () => { window.__drawn[key] = performance.now(); });
});
"""


def watch_dash_callbacks(dash_duo: Any) -> float:
    """Start recording callback answers and graph redraws; returns the page's clock now."""
    dash_duo.driver.execute_script(_WATCH_JS)
    return float(dash_duo.driver.execute_script("return performance.now()"))


def dash_calls(dash_duo: Any, output: str, since: float = 0.0) -> list[dict[str, Any]]:
    """Answers (status, inputs, t) to callbacks whose outputs include `output` ("id.prop")."""
    calls = dash_duo.driver.execute_script("return window.__dashCalls || []")
    return [c for c in calls if c["t"] >= since and output in _outputs(c["output"])]


def _outputs(spec: str) -> list[str]:
    # "..a.figure...b.data.." for several outputs; "@<hash>" marks allow_duplicate.
    return [o.split("@")[0] for o in spec.strip(".").split("...")]


def drawn_at(dash_duo: Any, graph_id: str) -> float:
    """When plotly last finished drawing the graph `graph_id` (page clock), 0 if not since watching."""
    return float(
        dash_duo.driver.execute_script(f"return (window.__drawn || {{}})[{graph_id!r}] || 0")
    )
