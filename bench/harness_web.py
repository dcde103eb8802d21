"""A whole stack on one machine for benchmarks and screenshots: broker, `ioc ingest`,
optionally `ioc replay`, and the dashboards web app served from a thread.

Ingest and replay run as the same `ioc` subcommands a user runs (this module never
imports them), so what is measured is the real pipeline.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from ioc.settings import Settings, load_settings
from ioc.store import Store, open_store

logger = logging.getLogger(__name__)


def chrome_options(width: int = 1680, height: int = 1050, *, hide_scrollbars: bool = True) -> Any:
    """Headless Chromium options: no sandbox (root), nothing fetched from outside.

    Benchmarks and screenshots hide the scrollbars; the browser tests keep them."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        *(["--hide-scrollbars"] if hide_scrollbars else []),
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    return options


def login(driver: Any, base_url: str, username: str, password: str, path: str = "/live") -> None:
    """Sign in through the real form."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/login?next={path}")
    wait = WebDriverWait(driver, 20)
    wait.until(ec.presence_of_element_located((By.ID, "login-username"))).send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".shell .user-name")))


class Stack:
    """Broker + ingest worker + web app, in one data directory; a context manager."""

    def __init__(
        self,
        data_dir: Path,
        *,
        db_url: str | None = None,
        mqtt_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ingest_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.db_url = db_url
        self.external_mqtt = mqtt_url
        self.host = host
        self.port = port
        self.ingest_args = ingest_args
        self.broker: Any = None
        self.settings: Settings | None = None
        self.store: Store | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.log_dir = self.data_dir / "logs"

    @property
    def base_url(self) -> str:
        """Where the web app listens."""
        assert self.server is not None
        return f"http://{self.host}:{self.server.server_port}"

    def ioc(self, *args: str) -> list[str]:
        """An `ioc` command line on this stack's store and broker."""
        assert self.settings is not None
        return [
            sys.executable,
            "-m",
            "ioc",
            "--db-url",
            self.settings.db_url,
            "--mqtt-url",
            self.settings.mqtt_url,
            "--data-dir",
            str(self.data_dir),
            *args,
        ]

    def start(self, *, web: bool = True) -> Stack:
        """Broker, then ingest (waits for its first heartbeat), then the web app."""
        from ioc.broker import embedded_broker

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        mqtt_url = self.external_mqtt
        if mqtt_url is None:
            self.broker = embedded_broker(self.data_dir)
            self.broker.start()
            mqtt_url = self.broker.url
        self.settings = load_settings(
            data_dir=str(self.data_dir), db_url=self.db_url, mqtt_url=mqtt_url
        )
        self.store = open_store(self.settings.db_url, migrate=True)
        self.spawn("ingest", "ingest", "--heartbeat", "1", *self.ingest_args)
        deadline = time.monotonic() + 30
        while not self.store.workers():
            if self.procs["ingest"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ingest did not start; see {self.log_dir / 'ingest.log'}")
            time.sleep(0.2)
        if web:
            self.start_web()
        return self

    def start_web(self) -> None:
        """Serve create_app(settings) from a thread (threaded WSGI server)."""
        from dashboards.app import create_app

        assert self.settings is not None
        app = create_app(self.settings)
        # One line per request would drown a benchmark's output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = make_server(self.host, self.port, app.server, threaded=True)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="web")
        self._thread.start()

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Run an `ioc` subcommand with its output in logs/NAME.log."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_dir / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(self.ioc(*args), stdout=out, stderr=subprocess.STDOUT, env=env)
        self.procs[name] = proc
        return proc

    def add_user(self, username: str, role: str, province: str | None = None) -> str:
        """Create an account with a random password and return the password."""
        from ioc.auth import hash_password

        assert self.store is not None
        password = secrets.token_urlsafe(12)
        self.store.add_user(username, hash_password(password), role, province)
        return password

    def stop(self) -> None:
        """Stop everything started here (SIGTERM first, so ingest drains)."""
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
