"""A tiny HTTP/1.1 client over raw sockets, for the tests that must control every byte.

It writes exactly the bytes given and reads responses one at a time from a buffered stream, so
keep-alive, pipelining, chunked uploads, malformed requests and SSE arrival times can be observed
without any library normalising them. Every read is bounded by the socket timeout.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Response:
    """One HTTP response as read from the wire."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def json(self):
        return json.loads(self.body)

    def sse_events(self) -> list["Event"]:
        parser = SSEParser()
        return parser.feed(self.body) + parser.flush()

    def rpc_messages(self) -> list[dict]:
        """The JSON-RPC messages of the body, whether JSON or SSE."""
        ctype = (self.header("content-type") or "").lower()
        if ctype.startswith("text/event-stream"):
            return [json.loads(e.data) for e in self.sse_events() if e.data]
        if not self.body:
            return []
        value = json.loads(self.body)
        return value if isinstance(value, list) else [value]

    def __repr__(self) -> str:
        body = self.body[:300]
        return f"<Response {self.status} {self.reason} headers={self.headers} body={body!r}>"


@dataclass
class Event:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    arrived: float = 0.0


@dataclass
class SSEParser:
    """Incremental text/event-stream parser (LF, CRLF or CR line ends)."""

    buffer: bytes = b""
    current: dict = field(default_factory=dict)

    def feed(self, data: bytes, now: float = 0.0) -> list[Event]:
        self.buffer += data
        events: list[Event] = []
        while True:
            idx = -1
            ln = 0
            for sep in (b"\r\n", b"\n", b"\r"):
                i = self.buffer.find(sep)
                if i != -1 and (idx == -1 or i < idx or (i == idx and len(sep) > ln)):
                    idx, ln = i, len(sep)
            if idx == -1:
                break
            # A lone CR at the very end may be the first half of CRLF: wait for more.
            if ln == 1 and self.buffer[idx:idx + 1] == b"\r" and idx == len(self.buffer) - 1:
                break
            line = self.buffer[:idx].decode("utf-8")
            self.buffer = self.buffer[idx + ln:]
            if line == "":
                if self.current:
                    ev = Event(
                        event=self.current.get("event", "message"),
                        data="\n".join(self.current.get("data", [])),
                        id=self.current.get("id"),
                        arrived=now,
                    )
                    events.append(ev)
                self.current = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self.current.setdefault("data", []).append(value)
            elif name in ("event", "id", "retry"):
                self.current[name] = value
        return events

    def flush(self) -> list[Event]:
        return self.feed(b"\n\n") if self.current or self.buffer else []


class Conn:
    """One client connection; `send` writes raw bytes, `read_response` reads exactly one response."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("rb", buffering=65536)
        self.host = host
        self.port = port

    @property
    def authority(self) -> str:
        """What a client puts in Host for this connection."""
        return f"{self.host}:{self.port}"

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def settimeout(self, seconds: float) -> None:
        self.sock.settimeout(seconds)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def _line(self) -> bytes:
        line = self.reader.readline(70000)
        if not line:
            raise ConnectionError("connection closed while reading a line")
        return line

    def read_head(self) -> Response:
        """Read a status line and headers (1xx responses are returned too)."""
        line = self._line()
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"bad status line {line!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers: list[tuple[str, str]] = []
        while True:
            h = self._line()
            if h in (b"\r\n", b"\n"):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        return Response(status, reason, headers)

    def read_response(self, method: str = "GET", skip_informational: bool = True) -> Response:
        """Read one whole response (body by Content-Length, chunked, or to EOF)."""
        while True:
            resp = self.read_head()
            if skip_informational and 100 <= resp.status < 200:
                continue
            break
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            resp.chunked = True
            resp.body = b"".join(data for data, _ in self.iter_chunks())
        elif resp.header("content-length") is not None:
            n = int(resp.header("content-length"))
            resp.body = self._exact(n)
        else:
            resp.body = self.reader.read()
        return resp

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            piece = self.reader.read(n - len(out))
            if not piece:
                raise ConnectionError(f"connection closed after {len(out)} of {n} body bytes")
            out += piece
        return out

    def iter_chunks(self):
        """Yield (data, arrival time) for each chunk of a chunked body; ends after the last chunk."""
        while True:
            size_line = self._line().decode("latin-1").strip()
            size = int(size_line.split(";", 1)[0], 16)
            if size == 0:
                while self._line() not in (b"\r\n", b"\n"):
                    pass
                return
            data = self._exact(size)
            now = time.monotonic()
            if self.reader.read(2) != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            yield data, now

    def iter_body_pieces(self, resp: Response):
        """Yield (bytes, arrival time) pieces of a streamed body, chunked or to EOF / Content-Length."""
        if "chunked" in (resp.header("transfer-encoding") or "").lower():
            yield from self.iter_chunks()
            return
        remaining = resp.header("content-length")
        left = int(remaining) if remaining is not None else None
        while left is None or left > 0:
            piece = self.reader.read1(65536 if left is None else min(left, 65536))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
            yield piece, time.monotonic()

    def iter_events(self, resp: Response):
        """Yield SSE events of a streamed response as they arrive, each stamped with its arrival time."""
        parser = SSEParser()
        for data, when in self.iter_body_pieces(resp):
            for ev in parser.feed(data, when):
                yield ev

    def is_closed_by_peer(self, wait: float = 3.0) -> bool:
        """True when the peer closes the connection (EOF or reset) within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            leftover = self.reader.read1(65536)
            while leftover:
                leftover = self.reader.read1(65536)
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False


def request_bytes(
    method: str,
    path: str,
    headers: list[tuple[str, str]] | dict | None = None,
    body: bytes | None = None,
    *,
    host: str,
) -> bytes:
    """Serialise a request; adds `Host: host` unless a Host header is given, and Content-Length when
    a body is given without Transfer-Encoding. The SDK servers want `127.0.0.1:<port>` (Conn.authority)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in items}
    if "host" not in names:
        items.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(body: bytes, sizes: list[int], extension: str = "") -> bytes:
    """Encode `body` as chunks of the given sizes (the rest in one last chunk), then the last-chunk."""
    out = b""
    pos = 0
    for s in sizes:
        piece = body[pos:pos + s]
        if not piece:
            break
        out += f"{len(piece):x}{extension}\r\n".encode() + piece + b"\r\n"
        pos += len(piece)
    if pos < len(body):
        out += f"{len(body) - pos:x}\r\n".encode() + body[pos:] + b"\r\n"
    return out + b"0\r\n\r\n"
