"""An incremental reader for the never-ending multipart bodies cameras stream.

Hikvision's alertStream (multipart/mixed) and Dahua's eventManager attach
(multipart/x-mixed-replace) differ in details real devices get wrong: some parts
have Content-Length, some not; some lengths are off by the trailing CRLF; some
streams declare `boundary=--x` and then write `--x` or `----x`. The reader
accepts all of these and skips junk between parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PART_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One part: lower-cased header names and the raw body."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def filename(self) -> str | None:
        """The part's file name from Content-Disposition or Content-ID, if any."""
        disp = self.headers.get("content-disposition", "")
        m = re.search(r'filename="?([^";]+)"?', disp) or re.search(r'name="?([^";]+)"?', disp)
        if m:
            return m.group(1)
        cid = self.headers.get("content-id")
        return cid.strip("<> ") if cid else None


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type header."""
    m = re.search(r'boundary\s*=\s*"?([^";,]+)"?', content_type, re.IGNORECASE)
    if not m:
        raise ValueError(f"no multipart boundary in Content-Type {content_type!r}")
    return m.group(1).strip()


class MultipartReader:
    """Feed bytes as they arrive; get complete parts back."""

    def __init__(self, boundary: str) -> None:
        bare = boundary.strip().lstrip("-").encode("latin-1")
        if not bare:
            raise ValueError("empty multipart boundary")
        self._bare = bare
        self._buf = bytearray()
        self._state = "boundary"
        self._headers: dict[str, str] = {}
        self._length: int | None = None
        self.skipped_bytes = 0

    def _is_delimiter(self, line: bytes) -> bool:
        s = line.strip()
        return s.startswith(b"--") and s.strip(b"-") == self._bare or s == self._bare

    def _line(self) -> bytes | None:
        i = self._buf.find(b"\n")
        if i < 0:
            if len(self._buf) > MAX_LINE_BYTES:
                self.skipped_bytes += len(self._buf)
                self._buf.clear()
            return None
        line = bytes(self._buf[: i + 1])
        del self._buf[: i + 1]
        return line

    def feed(self, data: bytes) -> list[Part]:
        """Add bytes; returns the parts they complete."""
        self._buf += data
        out: list[Part] = []
        while True:
            if self._state == "boundary":
                line = self._line()
                if line is None:
                    return out
                if self._is_delimiter(line):
                    if not line.strip().endswith(self._bare + b"--"):  # not the closing one
                        self._state, self._headers, self._length = "headers", {}, None
                elif line.strip():
                    self.skipped_bytes += len(line)
            elif self._state == "headers":
                line = self._line()
                if line is None:
                    return out
                text = line.decode("latin-1").strip()
                if not text:
                    self._state = "body"
                elif ":" in text:
                    name, value = text.split(":", 1)
                    self._headers[name.strip().lower()] = value.strip()
                    if name.strip().lower() == "content-length" and value.strip().isdigit():
                        self._length = int(value.strip())
                elif self._is_delimiter(line):
                    self._headers, self._length = {}, None  # an empty part: start again
            else:
                part = self._body()
                if part is None:
                    return out
                out.append(part)
                self._state = "boundary"

    def _body(self) -> Part | None:
        if self._length is not None and self._length <= MAX_PART_BYTES:
            if len(self._buf) < self._length:
                return None
            body = bytes(self._buf[: self._length])
            del self._buf[: self._length]
            return Part(self._headers, body)
        # No length: the body runs to the next delimiter line.
        m = re.search(rb"\r?\n--+" + re.escape(self._bare) + rb"(?:--)?[ \t]*\r?\n", self._buf)
        if m is None:
            if len(self._buf) > MAX_PART_BYTES:
                self.skipped_bytes += len(self._buf)
                self._buf.clear()
                self._state = "boundary"
            return None
        body = bytes(self._buf[: m.start()])
        del self._buf[: m.start() + 1]  # keep the delimiter line for the boundary state
        return Part(self._headers, body)

    def close(self) -> list[Part]:
        """The stream ended: a last part without a trailing delimiter, if complete enough."""
        if self._state == "body" and self._length is None and self._buf.strip():
            part = Part(self._headers, bytes(self._buf).rstrip(b"\r\n"))
            self._buf.clear()
            self._state = "boundary"
            return [part]
        return []
