#!/usr/bin/env python3
"""Soak: 1,000,000 requests through the gateway's full policy chain (API key, rate limit by principal,
MCP inspection with sanitization and authorization, session binding, security headers, access and
security logs to files) to a fast in-process upstream, with `wrk`.

    tests/soak/soak.py [--requests 1000000] [--reference 200000] [--gatehouse .build/release/gatehouse]

The requests are sent in wrk runs of `--phase-seconds` each until `--requests` are done; after each
run the gateway's RSS and open descriptors are sampled. It passes when every answer was 200, the RSS
at the end is within 10% of the RSS at the first sample past `--reference` requests (200k), and the
descriptors are back to the baseline once the load stops: the cold count, plus the idle upstream
connections the keep-alive pool holds by design (counted on the upstream side). Every process binds 127.0.0.1 only, and
the whole run is bounded (at most `--max-seconds`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = "soak_" + "k" * 40

CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"text": "hello <b>soak</b>"}}})
ANSWER = json.dumps({"jsonrpc": "2.0", "id": 1,
                     "result": {"content": [{"type": "text", "text": "hello"}], "isError": False}}).encode()

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer %(key)s"
wrk.headers["Mcp-Session-Id"] = "soak-session"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  seen = 0
  bad = 0
end
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total, errors = 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("seen")
    errors = errors + t:get("bad")
  end
  io.write(string.format("SOAK seen=%%d non200=%%d sockerr=%%d\\n", total, errors,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


class Upstream:
    """A minimal keep-alive HTTP/1.1 server answering every request with a JSON-RPC result (asyncio)."""

    def __init__(self):
        self.port = 0
        self.open = 0   # connections open now (the gateway's pooled keep-alive connections, once idle)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: soak-session\r\n"
                b"Content-Length: %d\r\n\r\n" % len(ANSWER)) + ANSWER

        outer = self

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport
                self.buffer = b""
                outer.open += 1

            def connection_lost(self, exc):
                outer.open -= 1

            def data_received(self, data):
                self.buffer += data
                while True:
                    end = self.buffer.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    header = self.buffer[:end].lower()
                    length = 0
                    at = header.find(b"content-length:")
                    if at >= 0:
                        length = int(header[at + 15:].split(b"\r\n", 1)[0])
                    if len(self.buffer) < end + 4 + length:
                        return
                    self.buffer = self.buffer[end + 4 + length:]
                    self.transport.write(head)

        server = loop.run_until_complete(loop.create_server(Protocol, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        loop.run_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--reference", type=int, default=200_000)
    ap.add_argument("--phase-seconds", type=int, default=15)
    ap.add_argument("--max-seconds", type=int, default=1800)
    ap.add_argument("--gatehouse", default=str(ROOT / ".build" / "release" / "gatehouse"))
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-dir", default=None, help="write the access and security logs here (default: /dev/null)")
    args = ap.parse_args()
    wrk = shutil.which("wrk")
    if not wrk:
        print("soak: wrk not found (Debian package wrk)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="gatehouse-soak-"))
    upstream = Upstream()
    port = free_port()
    config = work / "gateway.conf"
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    logs = args.log_dir or str(work)
    if args.log_dir is None:
        # Every line is formatted and queued as usual, then written where writes never lag: a log
        # writer that falls behind fills its bounded buffer (4 MiB per log, kept once grown), which
        # shows as a one-time RSS step that says nothing about leaks. --log-dir keeps real files.
        os.symlink("/dev/null", work / "security.log")
        os.symlink("/dev/null", work / "access.log")
    config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"

[tls]
require_https = false

[upstream]
url = "http://127.0.0.1:{upstream.port}"
response_timeout = "10s"

[[auth.api_key]]
name = "soak"
hash = "sha256:{digest}"
permissions = ["tools:call"]

[rate_limit]
enabled = true
per = "principal"
capacity = 100000000
refill_per_second = 100000000

[authorization]
rules = [{{ match = "tools/call:*", require = ["tools:call"] }}, {{ match = "*", require = [] }}]

[mcp]
sanitize = "reject"
bind_sessions = true

[logging]
security_log = "{logs}/security.log"
access_log = "{logs}/access.log"

[admin]
listen = ""
""")
    log = open(work / "gateway.out", "wb")
    gw = subprocess.Popen([args.gatehouse, "run", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if gw.poll() is not None or time.monotonic() > deadline:
                    print((work / "gateway.out").read_text()[-2000:], file=sys.stderr)
                    return 1
                time.sleep(0.1)
        cold_fds = fd_count(gw.pid)
        script = work / "soak.lua"
        script.write_text(WRK_SCRIPT % {"body": CALL, "key": KEY})
        samples = []
        total = 0
        errors = 0
        started = time.monotonic()
        while total < args.requests:
            if time.monotonic() - started > args.max_seconds:
                print(f"soak: stopped after {args.max_seconds} s with {total} requests", file=sys.stderr)
                return 1
            out = subprocess.run([wrk, "-t", str(args.threads), "-c", str(args.connections),
                                  "-d", f"{args.phase_seconds}s",
                                  "-s", str(script), f"http://127.0.0.1:{port}/mcp"],
                                 capture_output=True, text=True, timeout=args.phase_seconds + 60)
            line = next((l for l in out.stdout.splitlines() if l.startswith("SOAK ")), None)
            if line is None:
                print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
                return 1
            fields = dict(kv.split("=") for kv in line.split()[1:])
            total += int(fields["seen"])
            errors += int(fields["non200"]) + int(fields["sockerr"])
            rps = next((l.split()[1] for l in out.stdout.splitlines() if l.startswith("Requests/sec")), "?")
            time.sleep(1)   # the load is off: closed client connections are gone, the pool stays warm
            samples.append((total, rss_kib(gw.pid), fd_count(gw.pid), upstream.open))
            print(f"soak: {total:>9} requests  {rps:>10} req/s  RSS {samples[-1][1] // 1024} MiB  "
                  f"fds {samples[-1][2]} ({samples[-1][3]} pooled)  errors {errors}", flush=True)
        elapsed = time.monotonic() - started
        time.sleep(2)
        fds_after = fd_count(gw.pid)
        pooled = upstream.open
        reference = next((s for s in samples if s[0] >= args.reference), samples[0])
        first_rss = reference[1]
        last_rss = samples[-1][1]
        growth = (last_rss - first_rss) / first_rss
        print(f"soak: {total} requests in {elapsed:.0f} s; RSS {first_rss} KiB at {reference[0]} -> {last_rss} KiB "
              f"at {total} ({growth:+.1%}); descriptors {cold_fds} cold, {fds_after} at the end of which "
              f"{pooled} idle upstream connections; "
              f"{errors} error answers")
        ok = errors == 0 and abs(growth) <= 0.10 and fds_after - pooled <= cold_fds + 2
        print("soak: PASS" if ok else "soak: FAIL")
        return 0 if ok else 1
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(15)
        except subprocess.TimeoutExpired:
            gw.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
