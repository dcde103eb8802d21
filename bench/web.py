"""`ioc bench web`: many operator and leader sessions driving the real pages over HTTP.

Each simulated session signs in through /auth/login, loads its page the way
dash-renderer does (/_dash-layout, /_dash-dependencies, the pages router), then
fires the page's server callbacks at their real rates: every callback whose input
is the 1 s `tick` together (one "tick"), `status-tick` every 2 s, `live-slow`
every 5 s; leaders load the KPI page and change the KPI every 30 s. Callback
bodies are built from /_dash-dependencies and the served layout, and the answers
(e.g. the signature stores) are fed back as the browser would, so a 204 or a
Patch costs what it costs in a browser.

By default the bench starts its own stack in a temporary directory: `ioc ingest`
and `ioc replay --loop --rebase-time` of a feed on the local Mosquitto (a private
topic prefix, so parallel runs do not share messages), users made with
`ioc users add`, and `ioc serve` (or `ioc serve --workers N`). `--url` points it at
a running server instead (then give --user/--password of an existing operator).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from bench.live import percentile

TICK_S = 1.0
STATUS_S = 2.0
SLOW_S = 5.0
KPI_CHANGE_S = 30.0
TIMEOUT_S = 30.0
KPI_CHOICES = ("incidents", "camera_uptime", "response_time")


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


# --- the browser side of a Dash page -----------------------------------------------------


def walk_layout(node: Any, props: dict[tuple[str, str], Any]) -> None:
    """Collect (id, prop) -> value of every component with a string id in a layout tree."""
    if isinstance(node, list):
        for child in node:
            walk_layout(child, props)
        return
    if not isinstance(node, dict):
        return
    p = node.get("props")
    if isinstance(p, dict) and "type" in node:
        cid = p.get("id")
        if isinstance(cid, str):
            props.setdefault((cid, "id"), cid)
            for key, value in p.items():
                if key not in ("id", "children"):
                    props[(cid, key)] = value
        walk_layout(p.get("children"), props)
        for value in p.values():
            if isinstance(value, dict) and "props" in value:
                walk_layout(value, props)
    else:
        for value in node.values():
            walk_layout(value, props)


def _outputs(spec: str) -> list[dict[str, str]]:
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    out = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        out.append({"id": cid, "property": prop})
    return out


class Page:
    """One browser tab: cookies, CSRF header, component props, the server callbacks."""

    def __init__(self, base_url: str, username: str, password: str, path: str) -> None:
        import requests

        self.base = base_url.rstrip("/")
        self.http = requests.Session()
        self.username = username
        self.password = password
        self.path, _, query = path.partition("?")
        self.search = f"?{query}" if query else ""
        self.props: dict[tuple[str, str], Any] = {}
        self.deps: list[dict[str, Any]] = []

    def login(self) -> None:
        """The login form, as a browser posts it."""
        r = self.http.post(
            f"{self.base}/auth/login",
            data={"username": self.username, "password": self.password, "next": self.path},
            allow_redirects=False,
            timeout=TIMEOUT_S,
        )
        if r.status_code != 303 or "error" in r.headers.get("Location", ""):
            raise RuntimeError(f"login of {self.username} failed: {r.status_code}")
        self.http.headers["X-CSRFToken"] = self.http.cookies.get("_csrf_token", "")

    def load(self) -> None:
        """Shell layout, dependencies and the page layout from the pages router."""
        layout = self.http.get(f"{self.base}/_dash-layout", timeout=TIMEOUT_S).json()
        walk_layout(layout, self.props)
        self.deps = [
            d
            for d in self.http.get(f"{self.base}/_dash-dependencies", timeout=TIMEOUT_S).json()
            if not d.get("clientside_function")
            and all(not i["id"].startswith("{") for i in d["inputs"] + d.get("state", []))
            and "{" not in d["output"]
        ]
        self.props[("_pages_location", "pathname")] = self.path
        self.props[("_pages_location", "search")] = self.search
        self.props[("_pages_location", "hash")] = ""
        self.props[("_pages_location", "href")] = f"{self.base}{self.path}{self.search}"
        router = next(d for d in self.deps if "_pages_content.children" in d["output"])
        self.call(router, ["_pages_location.pathname"])

    def callbacks(self, trigger: str) -> list[dict[str, Any]]:
        """Server callbacks with this input that the current page can fire."""
        cid, prop = trigger.split(".")
        return [
            d
            for d in self.deps
            if {"id": cid, "property": prop} in d["inputs"]
            and "_pages_content.children" not in d["output"]
            and all(i["id"] in self._present for i in d["inputs"])
        ]

    @property
    def _present(self) -> set[str]:
        return {cid for cid, _ in self.props}

    def initial(self) -> list[dict[str, Any]]:
        """Callbacks the renderer fires when the page mounts."""
        return [
            d
            for d in self.deps
            if not d.get("prevent_initial_call")
            and "_pages_content.children" not in d["output"]
            and all(i["id"] in self._present for i in d["inputs"])
            and all(o["id"] in self._present for o in _outputs(d["output"]))
        ]

    def call(self, dep: dict[str, Any], changed: list[str]) -> tuple[int, float]:
        """POST one callback; apply its answer to the props; (status, seconds)."""
        outs = _outputs(dep["output"])
        body = {
            "output": dep["output"],
            "outputs": outs if dep["output"].startswith("..") else outs[0],
            "inputs": [
                {**i, "value": self.props.get((i["id"], i["property"]))} for i in dep["inputs"]
            ],
            "state": [
                {**s, "value": self.props.get((s["id"], s["property"]))}
                for s in dep.get("state", [])
            ],
            "changedPropIds": changed,
        }
        began = time.perf_counter()
        r = self.http.post(f"{self.base}/_dash-update-component", json=body, timeout=TIMEOUT_S)
        took = time.perf_counter() - began
        if r.status_code == 200:
            answer = r.json().get("response", {})
            for cid, values in answer.items():
                for prop, value in values.items():
                    if isinstance(value, dict) and "__dash_patch_update" in value:
                        continue
                    self.props[(cid, prop.split("@")[0])] = value
                    if prop == "children":
                        walk_layout(value, self.props)
        return r.status_code, took


def _name(dep: dict[str, Any]) -> str:
    return _outputs(dep["output"])[0]["id"]


class Session(threading.Thread):
    """An operator (live page) or leader (KPI page) at the real rates until `stop`."""

    def __init__(
        self, page: Page, kind: str, pool: ThreadPoolExecutor, stop: threading.Event, rec: Rec
    ) -> None:
        super().__init__(daemon=True, name=f"{kind}-{page.username}")
        self.page, self.kind, self.pool, self.stop, self.rec = page, kind, pool, stop, rec

    def fire(self, trigger: str, *, tick: bool = False) -> None:
        page = self.page
        deps = page.callbacks(trigger)
        key = (trigger.split(".")[0], "n_intervals")
        page.props[key] = (page.props.get(key) or 0) + 1
        began = time.perf_counter()
        futures = [(d, self.pool.submit(page.call, d, [trigger])) for d in deps]
        for dep, fut in futures:
            try:
                status, took = fut.result()
            except Exception as exc:
                self.rec.error(_name(dep), repr(exc)[:120])
                continue
            self.rec.callback(_name(dep), status, took)
        if tick:
            self.rec.tick(time.perf_counter() - began)

    def run(self) -> None:
        page = self.page
        start = time.monotonic()
        timers = {"tick.n_intervals": TICK_S, "status-tick.n_intervals": STATUS_S}
        if self.kind == "operator":
            timers["live-slow.n_intervals"] = SLOW_S
        else:
            timers["kpi-select.value"] = KPI_CHANGE_S
        due = {k: start + v for k, v in timers.items()}
        while not self.stop.is_set():
            name, when = min(due.items(), key=lambda kv: kv[1])
            wait = when - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                break
            late = time.monotonic() - when
            if name == "kpi-select.value":
                current = page.props.get(("kpi-select", "value"))
                choices = [c for c in KPI_CHOICES if c != current]
                page.props[("kpi-select", "value")] = choices[int(time.time()) % len(choices)]
                self.fire(name)
            elif name == "tick.n_intervals" and self.kind == "operator":
                if late > TICK_S:
                    self.rec.skipped(int(late // TICK_S))
                self.fire(name, tick=True)
            else:
                self.fire(name)
            # A browser's interval keeps its rhythm; a tick still running when the next is due
            # makes that one late (counted), never a burst.
            due[name] = max(when + timers[name], time.monotonic())


class Rec:
    """Thread-safe tallies."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.ticks: list[float] = []
        self.late_skipped = 0
        self.errors: list[str] = []
        self.recording = False

    def callback(self, name: str, status: int, took: float) -> None:
        if not self.recording:
            return
        with self.lock:
            self.times[name].append(took)
            self.status[name][status] += 1
            if status >= 400:
                self.errors.append(f"{name}: HTTP {status}")

    def error(self, name: str, what: str) -> None:
        if self.recording:
            with self.lock:
                self.errors.append(f"{name}: {what}")

    def tick(self, took: float) -> None:
        if self.recording:
            with self.lock:
                self.ticks.append(took)

    def skipped(self, n: int) -> None:
        if self.recording:
            with self.lock:
                self.late_skipped += n


# --- the server side -----------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process and its (living) children, from /proc."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = {pid}
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.add(int(entry))
        for p in pids:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tck
    except OSError:
        pass
    return total


class BenchStack:
    """ingest + replay + serve as `ioc` subprocesses on a private topic prefix."""

    def __init__(
        self, data_dir: Path, *, db_url: str | None, mqtt_url: str, workers: int, threads: int
    ) -> None:
        self.data_dir = data_dir
        self.db_url = db_url or f"sqlite:///{data_dir / 'ioc.db'}"
        self.mqtt_url = mqtt_url
        self.workers = workers
        self.threads = threads
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.port = _free_port()
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "IOC_DB_URL": self.db_url,
            "IOC_MQTT_URL": self.mqtt_url,
            "IOC_DATA_DIR": str(self.data_dir),
        }

    def ioc(self, name: str, *args: str, stdin: str | None = None) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ioc", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if stdin is not None else None,
                env=self.env(),
            )
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        self.procs[name] = proc
        return proc

    def add_user(self, username: str, role: str, province: str | None) -> str:
        password = secrets.token_urlsafe(12)
        args = ["users", "add", username, "--role", role, "--password-stdin"]
        if province:
            args += ["--province", province]
        proc = self.ioc(f"user-{username}", *args, stdin=password + "\n")
        if proc.wait(timeout=60) != 0:
            raise RuntimeError(f"ioc users add {username} failed; see {self.logs}")
        del self.procs[f"user-{username}"]
        return password

    def start(self, feed: Path | None, speed: str, feed_from: str | None) -> None:
        if self.mqtt_url == "private":
            self._private_broker()
        self.ioc("migrate", "db", "migrate").wait(timeout=120)
        self.procs.pop("migrate", None)
        self.ioc("ingest", "ingest", "--heartbeat", "1")
        time.sleep(2)  # subscribed before the replay starts publishing
        if feed is not None:
            args = ["replay", "--loop", "--rebase-time", "--speed", speed, "--quiet"]
            if feed_from:
                args += ["--from", feed_from]
            self.ioc("replay", *args, str(feed))
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers:
            serve += ["--workers", str(self.workers), "--threads", str(self.threads)]
        self.ioc("serve", *serve)
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.procs["serve"].poll() is not None:
                raise RuntimeError(f"ioc serve exited; see {self.logs / 'serve.log'}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("ioc serve did not answer /healthz within 60 s")

    def _private_broker(self) -> None:
        # Replays publish the feed's own topics: on a shared broker they would reach every
        # other ingest listening there. A Mosquitto of our own keeps the run to itself.
        port = _free_port()
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\n"
        )
        with open(self.logs / "mosquitto.log", "ab") as out:
            self.procs["mosquitto"] = subprocess.Popen(
                [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.mqtt_url = f"mqtt://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("mosquitto did not start")

    @property
    def serve_pid(self) -> int:
        return self.procs["serve"].pid

    def stop(self) -> None:
        # The broker last, so ingest drains through it.
        order = sorted(self.procs.items(), key=lambda kv: kv[0] == "mosquitto")
        for _name, proc in order:
            if proc.poll() is None:
                proc.terminate()
                if _name != "mosquitto":
                    continue
        for _name, proc in order:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_sessions(
    base_url: str,
    accounts: list[tuple[str, str, str, str]],
    *,
    duration: float,
    warmup: float,
    server_pid: int | None,
) -> dict[str, Any]:
    """Sign in every account, load its page, drive it for `duration` s; the tallies."""
    rec = Rec()
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(8, 6 * len(accounts)), thread_name_prefix="cb")
    sessions = []
    for username, password, kind, path in accounts:
        page = Page(base_url, username, password, path)
        page.login()
        page.load()
        for dep in page.initial():
            pool.submit(page.call, dep, [])
        sessions.append(Session(page, kind, pool, stop, rec))
    for s in sessions:
        s.start()
        time.sleep(TICK_S / max(1, len(sessions)))  # browsers opened over one second
    time.sleep(warmup)
    rec.recording = True
    cpu0 = proc_cpu_s(server_pid) if server_pid else None
    own0 = sum(os.times()[:2])
    t0 = time.monotonic()
    time.sleep(duration)
    span = time.monotonic() - t0
    cpu1 = proc_cpu_s(server_pid) if server_pid else None
    own = sum(os.times()[:2]) - own0
    rec.recording = False
    stop.set()
    for s in sessions:
        s.join(timeout=TIMEOUT_S)
    pool.shutdown(wait=False, cancel_futures=True)
    late = sum(1 for t in rec.ticks if t > TICK_S) + rec.late_skipped
    requests_total = sum(len(v) for v in rec.times.values())
    return {
        "duration_s": round(span, 1),
        "requests": requests_total,
        "requests_per_s": round(requests_total / span, 1),
        "callbacks": {
            name: {
                "n": len(v),
                "p50_ms": _ms(percentile(v, 50)),
                "p95_ms": _ms(percentile(v, 95)),
                "status": dict(rec.status[name]),
            }
            for name, v in sorted(rec.times.items())
        },
        "ticks": len(rec.ticks),
        "tick_p50_ms": _ms(percentile(rec.ticks, 50)),
        "tick_p95_ms": _ms(percentile(rec.ticks, 95)),
        "late_ticks": late,
        "late_share": round(late / max(1, len(rec.ticks) + rec.late_skipped), 4),
        "errors": len(rec.errors),
        "error_samples": rec.errors[:5],
        "server_cpu_s": None if cpu0 is None else round(cpu1 - cpu0, 1),
        "server_cpu_cores": None if cpu0 is None else round((cpu1 - cpu0) / span, 2),
        # The simulated browsers share the machine: what they cost is not the server's.
        "bench_client_cpu_cores": round(own / span, 2),
    }


@click.command("web")
@click.option("--operators", default=10, show_default=True, type=click.IntRange(min=0))
@click.option("--leaders", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--duration", default=30.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--warmup", default=5.0, show_default=True, help="Seconds driven before recording.")
@click.option("--province", default="68", show_default=True, help="Province of every session.")
@click.option("--workers", default=0, show_default=True, help="0: `ioc serve`; N: --workers N.")
@click.option("--threads", default=8, show_default=True, help="Threads per worker (--workers).")
@click.option("--db-url", help="Store URL (default: a fresh SQLite file in a temp directory).")
@click.option(
    "--mqtt-url",
    default="private",
    show_default=True,
    help="Broker; 'private' starts a Mosquitto of its own (replayed topics stay in the run).",
)
@click.option(
    "--feed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path(__file__).resolve().parent.parent / "sample_feeds" / "lam-dong-68.jsonl.gz",
    show_default=True,
    help="Feed replayed (looping, rebased) through real ingest meanwhile.",
)
@click.option("--no-feed", is_flag=True, help="Do not replay a feed.")
@click.option("--feed-speed", default="10", show_default=True)
@click.option("--feed-from", default="07:00", show_default=True)
@click.option("--url", help="Drive a running server instead (with --user/--password).")
@click.option("--user", "users", multiple=True, help="USER:PASSWORD:operator|leader (with --url).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_web(
    operators: int,
    leaders: int,
    duration: float,
    warmup: float,
    province: str,
    workers: int,
    threads: int,
    db_url: str | None,
    mqtt_url: str,
    feed: Path,
    no_feed: bool,
    feed_speed: str,
    feed_from: str,
    url: str | None,
    users: tuple[str, ...],
    as_json: bool,
) -> None:
    """Operators on the live page and leaders on the KPI page, over HTTP, at their real rates."""
    province = province.zfill(2)
    live = f"/live?province={province}"
    kpi = "/kpi"
    info: dict[str, Any] = {
        "operators": operators,
        "leaders": leaders,
        "server": f"ioc serve --workers {workers} --threads {threads}" if workers else "ioc serve",
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
    }
    if url:
        accounts = []
        for spec in users:
            name, password, kind = spec.rsplit(":", 2)
            accounts.append((name, password, kind, live if kind == "operator" else kpi))
        result = run_sessions(url, accounts, duration=duration, warmup=warmup, server_pid=None)
        info["backend"] = "external"
    else:
        with tempfile.TemporaryDirectory(prefix="ioc-bench-web-") as tmp:
            stack = BenchStack(
                Path(tmp), db_url=db_url, mqtt_url=mqtt_url, workers=workers, threads=threads
            )
            try:
                stack.start(None if no_feed else feed, feed_speed, feed_from or None)
                run = uuid.uuid4().hex[:4]
                wanted = [(f"op{run}{i}", "operator", live) for i in range(operators)]
                wanted += [(f"ld{run}{i}", "leader", kpi) for i in range(leaders)]
                # `ioc users add` per account, a few at a time (each is a process + Argon2id).
                with ThreadPoolExecutor(max_workers=4) as adders:
                    passwords = list(
                        adders.map(lambda w: stack.add_user(w[0], w[1], province), wanted)
                    )
                accounts = [
                    (name, pw, kind, path)
                    for (name, kind, path), pw in zip(wanted, passwords, strict=True)
                ]
                from ioc.store import open_store

                store = open_store(stack.db_url)
                try:
                    before = store.count_events()
                    began = time.monotonic()
                    result = run_sessions(
                        stack.base_url,
                        accounts,
                        duration=duration,
                        warmup=warmup,
                        server_pid=stack.serve_pid,
                    )
                    stored = store.count_events() - before
                    info["feed_events_per_s"] = round(stored / (time.monotonic() - began), 1)
                finally:
                    store.close()
                info["backend"] = "postgres" if stack.db_url.startswith("postgres") else "sqlite"
                info["feed"] = None if no_feed else f"{feed.name} x{feed_speed}"
            finally:
                stack.stop()
    info["load_after"] = os.getloadavg()
    result = {**info, **result}
    result["ok"] = bool(
        result["tick_p95_ms"] is not None
        and result["tick_p95_ms"] <= 250
        and result["late_ticks"] == 0
        and result["errors"] == 0
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"{operators} operators + {leaders} leaders, {result['backend']}, {info['server']}, "
        f"{result['requests_per_s']} req/s, server CPU {result['server_cpu_cores']} cores, "
        f"load {info['load_before'][0]:.2f} -> {info['load_after'][0]:.2f}, "
        f"feed {info.get('feed_events_per_s')} events/s stored"
    )
    for name, c in result["callbacks"].items():
        click.echo(f"  {name:28s} n {c['n']:6d}  p50 {c['p50_ms']} ms  p95 {c['p95_ms']} ms")
    click.echo(
        f"  tick p50 {result['tick_p50_ms']} ms  p95 {result['tick_p95_ms']} ms  late "
        f"{result['late_ticks']} ({result['late_share']:.1%})  errors {result['errors']}"
    )
