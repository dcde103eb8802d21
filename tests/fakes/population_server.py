"""A local fake of the remote population service (docs/population-api.md), backed by a
SyntheticRegistry. Faults can be scripted: error statuses, delays, malformed replies."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ioc.population.synthetic import SyntheticRegistry

ID_RE = re.compile(r"^[0-9]{12}$")
COMMUNE_RE = re.compile(r"^[0-9]{5}$")


@dataclass
class Fault:
    """What the server does instead of answering normally, once."""

    status: int | None = None
    delay_s: float = 0.0
    retry_after: str | None = None
    body: bytes | None = None


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class FakePopulationServer:
    """Context manager: serves on 127.0.0.1 on a free port in a background thread."""

    registry: SyntheticRegistry = field(default_factory=SyntheticRegistry)
    token: str | None = None
    faults: deque[Fault] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (without the /v1 prefix)."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakePopulationServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- protocol ----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in h.headers.items()}
        self.received.append(Received(method, h.path, headers, body))
        if self.faults:
            fault = self.faults.popleft()
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.body is not None:
                return self._send(h, fault.status or 200, fault.body)
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._error(h, fault.status, "fault", "scripted fault", headers)
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(h, 401, "unauthorized", "missing or wrong bearer token")
        if method == "GET" and h.path == "/v1/health":
            return self._json(h, 200, {"status": "ok", "records": "synthetic"})
        if method == "POST" and h.path == "/v1/persons/search":
            return self._search(h, body)
        return self._error(h, 404, "not_found", f"no route {method} {h.path}")

    def _search(self, h: BaseHTTPRequestHandler, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
            return self._error(h, 400, "invalid_request", "body must be an object with a query")
        for key in ("request_id", "purpose", "case_number", "requested_by"):
            if not isinstance(body.get(key), str) or not body[key]:
                return self._error(h, 400, "invalid_request", f"{key} is required")
        if h.headers.get("X-Request-ID") != body["request_id"]:
            return self._error(h, 400, "invalid_request", "X-Request-ID must equal request_id")
        limit = body.get("limit", 20)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            return self._error(h, 400, "invalid_request", "limit must be 1..100")
        q = body["query"]
        if set(q) == {"national_id"} and ID_RE.match(str(q["national_id"])):
            people = self.registry.find_by_id(q["national_id"])
        elif (
            set(q) == {"commune_code", "full_name", "birth_year"}
            and COMMUNE_RE.match(str(q["commune_code"]))
            and self.registry.geo.is_commune(q["commune_code"])
            and isinstance(q["full_name"], str)
            and isinstance(q["birth_year"], int)
        ):
            people = self.registry.find_by_name(
                q["commune_code"], q["full_name"], q["birth_year"], limit=limit + 1
            )
        else:
            return self._error(h, 400, "invalid_query", "query must be by national_id or by name")
        results = [
            {
                "national_id": p.national_id,
                "full_name": p.full_name,
                "sex": p.sex,
                "birth_date": p.birth_date.isoformat(),
                "commune_code": p.commune_code,
                "household_size": p.household_size,
            }
            for p in people[:limit]
        ]
        reply = {
            "request_id": body["request_id"],
            "results": results,
            "truncated": len(people) > limit,
        }
        return self._json(h, 200, reply)

    def _json(self, h: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
        self._send(h, status, json.dumps(doc, ensure_ascii=False).encode())

    def _error(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self._send(h, status, body, headers)

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)
