"""gunicorn settings for the dashboard: `ioc serve --workers N` uses this file.

Run by hand: `gunicorn -c dashboards/gunicorn.conf.py 'dashboards.wsgi:create_server()'`
with IOC_* settings in the environment (or ioc.toml). Everything here can be changed
through the IOC_WEB_* variables that `ioc serve` sets; see docs/deployment.md.
"""

from __future__ import annotations

import os

bind = os.environ.get("IOC_WEB_BIND", "127.0.0.1:8050")
workers = int(os.environ.get("IOC_WEB_WORKERS", "2"))
# Threads, not processes, per worker: callbacks wait on the store and the render cache is
# per process, so one process serving many sessions renders each answer once.
worker_class = "gthread"
threads = int(os.environ.get("IOC_WEB_THREADS", "8"))
# Browsers keep a connection per tab and reuse it every second; nginx upstream keep-alive
# (docs/deployment.md) holds it 60 s. Longer here than there, so nginx closes first.
keepalive = int(os.environ.get("IOC_WEB_KEEPALIVE", "75"))
timeout = 60  # a worker silent this long is restarted
graceful_timeout = 20
# Recycle workers now and then (memory of long-lived Plotly/pandas processes).
max_requests = 50_000
max_requests_jitter = 5_000
# No preload: each worker opens its own store (and pool) after the fork.
preload_app = False
# Behind nginx on the same host: trust its X-Forwarded-* headers, nobody else's.
forwarded_allow_ips = os.environ.get("IOC_WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips
accesslog = os.environ.get("IOC_WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = "warning"
# Per-worker heartbeat files in memory, not on a (possibly slow) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
