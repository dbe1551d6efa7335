#!/usr/bin/env python3
"""Reads one long-lived SSE stream and counts the events that arrive, measured at the client.

    sse_client.py HOST PORT TLS(0|1) TOKEN WARMUP_SECONDS SECONDS

Sends `GET /mcp` with `Accept: text/event-stream` and the bearer token, decodes the chunked body, and
counts events (blank-line terminated) for SECONDS after a warm-up of WARMUP_SECONDS. Prints one JSON
line: events and seconds of the measured window, and the totals since the request was sent.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import time


def main() -> int:
    host, port, use_tls, token = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
    warmup, seconds = float(sys.argv[5]), float(sys.argv[6])
    sock = socket.create_connection((host, port), timeout=10)
    if use_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        sock = ctx.wrap_socket(sock)
    sock.sendall((f"GET /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
                  f"MCP-Protocol-Version: 2025-06-18\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
    started = time.monotonic()
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            print(json.dumps({"error": "closed before the head", "head": buf[:300].decode("latin-1")}))
            return 1
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        print(json.dumps({"error": "status", "head": head.decode("latin-1")}))
        return 1
    chunked = b"transfer-encoding: chunked" in head.lower()

    pending = bytearray(rest)      # undecoded bytes (chunk framing included when chunked)
    remaining = 0                  # bytes left in the current chunk
    last = b""                     # last byte of the previous payload piece (a "\n\n" may straddle)
    total_events = 0
    total_bytes = 0
    window_start_events = None
    window_start = started + warmup
    deadline = window_start + seconds
    window_events = 0
    sock.settimeout(10)

    def count(piece: bytes) -> int:
        nonlocal last
        if not piece:
            return 0
        n = piece.count(b"\n\n")
        if last == b"\n" and piece[:1] == b"\n":
            n += 1
        last = piece[-1:]
        return n

    while True:
        now = time.monotonic()
        if window_start_events is None and now >= window_start:
            window_start_events = total_events
            window_start = now
            deadline = now + seconds
        if now >= deadline:
            window_events = total_events - (window_start_events or 0)
            window_seconds = now - window_start
            break
        if not chunked:
            total_events += count(bytes(pending))
            total_bytes += len(pending)
            pending.clear()
        else:
            while pending:
                if remaining > 0:
                    take = min(remaining, len(pending))
                    total_events += count(bytes(pending[:take]))
                    total_bytes += take
                    del pending[:take]
                    remaining -= take
                    if remaining == 0:
                        remaining = -2          # the CRLF after the chunk data
                    continue
                if remaining < 0:
                    take = min(-remaining, len(pending))
                    del pending[:take]
                    remaining += take
                    continue
                line_end = pending.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(bytes(pending[:line_end]).split(b";", 1)[0], 16)
                del pending[:line_end + 2]
                if size == 0:
                    print(json.dumps({"error": "stream ended", "events": total_events}))
                    return 1
                remaining = size
        data = sock.recv(262144)
        if not data:
            print(json.dumps({"error": "closed", "events": total_events}))
            return 1
        pending += data
    elapsed = time.monotonic() - started
    print(json.dumps({"events": window_events, "seconds": round(window_seconds, 4),
                      "events_per_second": window_events / max(window_seconds, 1e-9),
                      "total_events": total_events, "total_bytes": total_bytes,
                      "total_seconds": round(elapsed, 4)}))
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
