"""`ioc ingest` run as a user runs it (a subprocess), watched through its metrics endpoints.

A harness, so it lives in bench/: used by `ioc bench ingest` and by the tests that must
kill, restart and signal real worker processes (faults, cluster, retention, broker
security, snapshot trust).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ioc.broker import free_port


class WorkerProcess:
    """One `ioc ingest` command (with one or more workers) in a subprocess."""

    def __init__(
        self,
        *,
        db_url: str,
        mqtt_url: str,
        workers: int = 1,
        name: str = "ioc-ingest",
        group: str = "ingest",
        topic_prefix: str | None = None,
        args: Sequence[str] = (),
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.mqtt_url = mqtt_url
        self.workers = workers
        self.name = name
        self.group = group
        self.topic_prefix = topic_prefix
        self.args = list(args)
        self.log_path = log_path
        self.env = env or {}
        self.ports = self._free_ports(workers)
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _free_ports(n: int) -> list[int]:
        # Worker i listens on base+i-1: find a base with n free ports in a row.
        for _ in range(100):
            base = free_port()
            ports = list(range(base, base + n))
            if all(p == base or _is_free(p) for p in ports) and ports[-1] < 65536:
                return ports
        raise RuntimeError(f"no {n} consecutive free ports")

    def command(self) -> list[str]:
        """The command line, as a user would type it (with the current interpreter)."""
        return [
            sys.executable, "-m", "ioc", "--db-url", self.db_url, "--mqtt-url", self.mqtt_url,
            "-v", "ingest", "--workers", str(self.workers), "--name", self.name,
            "--group", self.group, "--metrics-port", str(self.ports[0]), *self.args,
        ]  # fmt: skip

    def start(self) -> WorkerProcess:
        """Start the process (again, after stop/kill: same name, so same broker sessions)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        if self.topic_prefix:
            env["IOC_TOPIC_PREFIX"] = self.topic_prefix
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=env
            )
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]
        return self

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def per_worker(self) -> list[dict[str, float]]:
        """ioc_ingest_* samples of each worker ({} for one that does not answer)."""
        return [_scrape(port) for port in self.ports]

    def metrics(self, scraped: list[dict[str, float]] | None = None) -> dict[str, float]:
        """ioc_ingest_* samples summed over workers; `_answering` counts the endpoints up."""
        out: dict[str, float] = {}
        for sample in self.per_worker() if scraped is None else scraped:
            if sample:
                out["_answering"] = out.get("_answering", 0.0) + 1
            for name, value in sample.items():
                out[name] = out.get(name, 0.0) + value
        return out

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until every worker is subscribed; raise with the log tail if it dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"ingest exited with {self.returncode()}:\n{self.log_tail()}")
            m = self.metrics()
            if m.get("_answering") == len(self.ports) and m.get("ioc_ingest_subscribed") == len(
                self.ports
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"ingest not subscribed after {timeout}s:\n{self.log_tail()}")

    def wait_until(self, predicate, timeout: float, poll: float = 0.1) -> dict[str, float]:
        """Poll metrics until predicate(metrics) is true; return them (TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if m and predicate(m):
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met after {timeout}s; metrics {m}")
            time.sleep(poll)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (drain and stop) and wait; return the exit code."""
        assert self.proc is not None
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye to the broker."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def worker_pids(self) -> list[int]:
        """PIDs of the worker processes a supervisor (--workers N) started (Linux)."""
        assert self.proc is not None
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        pids = []
        for child in map(int, children):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
                pids.append(child)
        return pids

    def returncode(self) -> int | None:
        """Exit code, None while running."""
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process log, for failure messages."""
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-chars:]
        return "(no log)"

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.alive:
            try:
                self.terminate(30)
            except subprocess.TimeoutExpired:
                pass


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # Histogram buckets carry an `le` label: keep only the per-worker totals.
            if sample.name.startswith("ioc_ingest_") and set(sample.labels) <= {"worker"}:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
