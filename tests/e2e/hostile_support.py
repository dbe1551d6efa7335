"""Helpers of the hardening tests (smuggling, hostile clients, upstream faults, resource limits).

- `RecordingUpstream`: an HTTP/1.1 server on 127.0.0.1 that records every byte it receives per
  connection and every request it reads with h11 (a strict, independent parser: what an unmodified
  server behind the gateway would see), and answers each one in the way its `mode` says: normally,
  or with one of the faults of a broken or hostile upstream.
- `fd_count`, `rss_kib`: a process's open descriptors and resident memory from /proc.
- `raw_exchange`: send bytes on a fresh connection and read until the peer closes or goes quiet.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import h11


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, quiet: float = 1.0) -> tuple[bytes, bool]:
    """Send `data` on a new connection; read until the peer closes (True) or sends nothing for `quiet`
    seconds after its last byte (False), within `timeout` overall."""
    out = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            try:
                piece = s.recv(65536)
            except (socket.timeout, TimeoutError):
                if out and time.monotonic() - last >= quiet:
                    break
                continue
            except ConnectionResetError:
                closed = True
                break
            if not piece:
                closed = True
                break
            out += piece
            last = time.monotonic()
    return out, closed


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parses a byte stream of responses (Content-Length framed, as the gateway's own answers are)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.decode().strip().lower()] = v.decode(errors="replace").strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    _, _, rest = rest.partition(b"\r\n")
                    break
                body += rest[:size]
                rest = rest[size + 2:]
        else:
            n = int(headers.get("content-length", "0"))
            body, rest = rest[:n], rest[n:]
        out.append((status, headers, body))
        data = rest
    return out


class RecordingUpstream:
    """A threaded HTTP/1.1 upstream that records what reaches it and answers per `mode`:

    - "ok": 200 JSON `{"method","target","body"}` (Content-Length), keep-alive; after `delay` seconds.
    - "sse": 200 `text/event-stream`, chunked, `events` events of `event_size` bytes, then the end.
    - "sse_forever": an SSE stream that writes an event every `interval` seconds until the client or
      the test goes away (for clients that never read).
    - "sse_cut": one complete SSE event, then half an event, then the connection is closed.
    - "close_before": reads the request, then closes without answering (FIN).
    - "close_reused": answers a connection's first request as "ok"; a later request on the same
      connection is read and the connection closed without an answer (an upstream that closed an idle
      keep-alive connection just as the request arrived).
    - "reset_before": reads the request, then resets the connection (RST).
    - "reset_during": sends a head announcing 1000 bytes and 10 of them, then resets.
    - "garbage": answers bytes that are not HTTP.
    - "huge_head": answers a head of about 80 KiB of fields.
    - "bad_framing": answers with both Content-Length and Transfer-Encoding.
    - "stall": reads the request and never answers.
    The mode can be changed between requests (`self.mode = ...`).
    """

    def __init__(self, mode: str = "ok", events: int = 3, event_size: int = 64, interval: float = 0.05,
                 bind_port: int = 0, delay: float = 0.0):
        self.mode = mode
        self.delay = delay
        self.events = events
        self.event_size = event_size
        self.interval = interval
        self.requests: list[dict] = []
        self.raw: list[bytes] = []
        self.accepted = 0
        self.sse_bytes_sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", bind_port))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def targets(self) -> list[str]:
        with self._lock:
            return [r["target"] for r in self.requests]

    def all_bytes(self) -> bytes:
        with self._lock:
            return b"".join(self.raw)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
                index = len(self.raw)
                self.raw.append(b"")
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        conn.settimeout(0.2)
        current: dict | None = None
        served = 0
        try:
            while not self._stop.is_set():
                event = parser.next_event()
                if event is h11.NEED_DATA:
                    try:
                        data = conn.recv(65536)
                    except (socket.timeout, TimeoutError):
                        continue
                    with self._lock:
                        self.raw[index] += data
                    parser.receive_data(data)
                    if not data:
                        return
                    continue
                if isinstance(event, h11.Request):
                    current = {
                        "method": event.method.decode(), "target": event.target.decode(),
                        "headers": [[k.decode(), v.decode("utf-8", "replace")] for k, v in event.headers.raw_items()],
                        "body": b"",
                    }
                elif isinstance(event, h11.Data) and current is not None:
                    current["body"] += bytes(event.data)
                elif isinstance(event, h11.EndOfMessage) and current is not None:
                    with self._lock:
                        self.requests.append(current)
                    if self.mode == "close_reused" and served > 0:
                        return
                    if not self._answer(conn, parser, current):
                        return
                    served += 1
                    current = None
                    if parser.our_state is h11.MUST_CLOSE:
                        return
                    parser.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (h11.ProtocolError, OSError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _answer(self, conn: socket.socket, parser: h11.Connection, request: dict) -> bool:
        """Answers one request; False when the connection is finished."""
        mode = "ok" if self.mode == "close_reused" else self.mode
        if mode == "ok" and self.delay:
            time.sleep(self.delay)
        if mode == "ok":
            body = json.dumps({"method": request["method"], "target": request["target"],
                               "body": request["body"].decode("utf-8", "replace")}).encode()
            conn.sendall(parser.send(h11.Response(status_code=200, headers=[
                ("Content-Type", "application/json"), ("Content-Length", str(len(body)))])))
            conn.sendall(parser.send(h11.Data(data=body)) + parser.send(h11.EndOfMessage()))
            return True
        if mode in ("sse", "sse_forever", "sse_cut"):
            conn.sendall(parser.send(h11.Response(status_code=200, headers=[
                ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                ("Transfer-Encoding", "chunked")])))
            n = 0
            while not self._stop.is_set():
                if mode == "sse" and n >= self.events:
                    conn.sendall(parser.send(h11.EndOfMessage()))
                    return True
                payload = b"x" * self.event_size
                event = b"id: %d\nevent: message\ndata: %s\n\n" % (n, payload)
                if mode == "sse_cut" and n == 1:
                    conn.sendall(parser.send(h11.Data(data=event[: len(event) // 2])))
                    time.sleep(0.1)
                    return False
                try:
                    conn.sendall(parser.send(h11.Data(data=event)))
                except OSError:
                    return False
                self.sse_bytes_sent += len(event)
                n += 1
                if mode != "sse":
                    time.sleep(self.interval)
            return False
        if mode == "close_before":
            return False
        if mode == "reset_before":
            reset(conn)
            return False
        if mode == "reset_during":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                         + b"{\"partial\":")
            time.sleep(0.1)
            reset(conn)
            return False
        if mode == "garbage":
            conn.sendall(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
            time.sleep(0.1)
            return False
        if mode == "huge_head":
            head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 100) for i in range(800))
            conn.sendall(head + b"Content-Length: 2\r\n\r\n{}")
            time.sleep(0.1)
            return False
        if mode == "bad_framing":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            time.sleep(0.1)
            return False
        if mode == "stall":
            while not self._stop.is_set():
                time.sleep(0.1)
            return False
        raise ValueError(mode)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
