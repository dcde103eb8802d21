"""`ioc bench web` drives the real pages' callbacks: bodies the app accepts, answers it uses."""

from __future__ import annotations

import threading

import pytest
from dash_support import PASSWORD, dash_store, seed
from werkzeug.serving import make_server

from bench.web import run_sessions


@pytest.mark.slow
def test_bench_sessions_sign_in_and_drive_live_and_kpi_pages(tmp_path):
    settings, store = dash_store(tmp_path, ("op68", "operator", "68"), ("ld68", "leader", "68"))
    seed(store, tmp_path)
    from dashboards.app import create_app

    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run_sessions(
            f"http://127.0.0.1:{server.server_port}",
            [
                ("op68", PASSWORD, "operator", "/live?province=68"),
                ("ld68", PASSWORD, "leader", "/kpi"),
            ],
            duration=2.5,
            warmup=1.0,
            server_pid=None,
        )
    finally:
        server.shutdown()
        app.server.extensions["ioc"].close()
        store.close()
    assert result["errors"] == 0, result["error_samples"]
    assert result["ticks"] >= 1 and result["tick_p95_ms"] is not None
    calls = result["callbacks"]
    # The live page's one tick callback and the shell's status, each answered (200 or 204).
    assert {"live-feed", "shell-status"} <= set(calls), calls
    assert all(set(c["status"]) <= {"200", 200, "204", 204} for c in calls.values()), calls
