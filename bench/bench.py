#!/usr/bin/env python3
"""`make bench`: Gatehouse, HAProxy 2.6 and nginx 1.22 doing the same MCP gateway job, on loopback.

    bench/bench.py [--gatehouse PATH]

Every target gets the same request: a ~400-byte MCP `tools/call` POST with `Authorization: Bearer
<HS256 JWT>`, keep-alive, TLS 1.3 with one self-signed certificate, to an nginx upstream answering a
fixed JSON-RPC result over plain HTTP. "direct" sends it to that upstream itself: the ceiling.

  haproxy    TLS + jwt_verify HS256 + exp check + stick-table rate limit + six headers + keep-alive
  nginx      TLS + API-key map on Authorization + limit_req + six headers + upstream keepalive
  gatehouse  TLS + JWT HS256 + rate limit + headers + MCP inspection + access/security log files

Scenarios (each one in alternating rounds: A B C A B C ..., the median of the rounds is reported):
  c64        wrk -t2 -c64, keep-alive
  c1000      wrk -t2 -c1000, keep-alive
  handshake  wrk -t2 -c64 with `Connection: close`: a new TLS connection (full handshake) per request
  latency    a fixed low rate (about 1,000 req/s: 10 connections, 10 ms between requests), p50/p99,
             and the latency added over direct
  sse        one long-lived SSE stream from an upstream that writes as fast as it is read; events/s
             counted at the client
  idle       10,000 TLS keep-alive connections, one request each, then idle: the proxy's RSS

For each: req/s (or handshakes/s, events/s), p50, p99, the proxy's CPU time per request (utime+stime
of all its processes from /proc/<pid>/stat), its peak RSS (VmHWM, reset before every run through
/proc/<pid>/clear_refs), and the ratio to HAProxy.

Environment: BENCH_QUICK (default 1: short runs), BENCH_SECONDS (seconds per run; default 3 quick,
10 otherwise), BENCH_ROUNDS (default 3), BENCH_IDLE_CONNECTIONS (10000), BENCH_IDLE_ROUNDS (default
1 quick, 2 otherwise), BENCH_SCENARIOS (comma list, default all), BENCH_TARGETS (comma list of
haproxy,nginx,gatehouse), BENCH_KEEP_TMP=1 keeps bench/results/tmp/, BENCH_NOTE (a line added to the
notes of the results, e.g. which build was measured).

Results: bench/results/<date>.json, bench/results/<date>.png (when matplotlib is importable) and
bench/results/<date>.md (the markdown table, also printed). Everything listens on 127.0.0.1 with
ports chosen at run time; every load is bounded in time; every process started here is stopped.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROXIES = ["haproxy", "nginx", "gatehouse"]
SCENARIOS = ["c64", "c1000", "handshake", "latency", "sse", "idle"]
SECURITY_HEADERS = ["x-frame-options", "x-content-type-options", "x-xss-protection",
                    "strict-transport-security", "content-security-policy", "referrer-policy"]

# The request body: a tools/call of about 400 bytes.
BODY = json.dumps({
    "jsonrpc": "2.0", "id": 42, "method": "tools/call",
    "params": {
        "name": "search_documents",
        "arguments": {
            "query": "quarterly revenue report for the northeast region, compared with the same quarter last year",
            "limit": 10,
            "filters": {"department": "finance", "year": 2026, "tags": ["report", "revenue", "q3", "northeast"]},
            "include_snippets": True,
            "snippet_length": 240,
            "language": "en",
        },
        "_meta": {"progressToken": "bench-42"},
    },
}, separators=(",", ":")).encode()
BODY = BODY[:-1] + b' ' * max(0, 400 - len(BODY)) + b'}'   # padded to 400 bytes with JSON whitespace

ANSWER = json.dumps({
    "jsonrpc": "2.0", "id": 42,
    "result": {"content": [{"type": "text", "text": "3 documents found: Q3 revenue northeast (2026), "
                                                    "Q3 revenue northeast (2025), regional summary."}],
               "isError": False},
}, separators=(",", ":"))


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------------
# Settings


class Settings:
    """The run's knobs, read from the environment."""

    def __init__(self) -> None:
        quick = os.environ.get("BENCH_QUICK", "1") not in ("0", "", "no", "false")
        self.quick = quick
        self.seconds = float(os.environ.get("BENCH_SECONDS") or (3 if quick else 10))
        self.rounds = int(os.environ.get("BENCH_ROUNDS") or 3)
        self.idle_connections = int(os.environ.get("BENCH_IDLE_CONNECTIONS") or 10000)
        self.idle_rounds = int(os.environ.get("BENCH_IDLE_ROUNDS") or (1 if quick else 2))
        self.scenarios = [s for s in (os.environ.get("BENCH_SCENARIOS") or ",".join(SCENARIOS)).split(",") if s]
        self.proxies = [p for p in (os.environ.get("BENCH_TARGETS") or ",".join(PROXIES)).split(",") if p]
        self.keep_tmp = os.environ.get("BENCH_KEEP_TMP") == "1"
        for s in self.scenarios:
            if s not in SCENARIOS:
                raise SystemExit(f"bench: unknown scenario {s!r} (known: {', '.join(SCENARIOS)})")
        for p in self.proxies:
            if p not in PROXIES:
                raise SystemExit(f"bench: unknown target {p!r} (known: {', '.join(PROXIES)})")

    def as_json(self) -> dict:
        return {"quick": self.quick, "seconds_per_run": self.seconds, "rounds": self.rounds,
                "idle_connections": self.idle_connections, "idle_rounds": self.idle_rounds,
                "scenarios": self.scenarios, "targets": ["direct"] + self.proxies}


# --------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: "Service", seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.popen.poll() is not None:
                raise SystemExit(f"bench: {proc.name} exited with {proc.popen.returncode} before listening; "
                                 f"its output:\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {proc.name} not listening on {port} after {seconds:.0f} s:\n{proc.tail()}")
            time.sleep(0.05)


class Service:
    """A process started by the benchmark in its own process group, with /proc accounting over it and
    every process below it."""

    running: list["Service"] = []

    def __init__(self, name: str, argv: list[str], tmp: Path, env: dict | None = None) -> None:
        self.name = name
        self.output = tmp / f"{name}.out"
        self._out = open(self.output, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, cwd=tmp, env=env)
        Service.running.append(self)

    def tail(self, limit: int = 3000) -> str:
        try:
            return self.output.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        found, todo = [], [self.popen.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    todo.extend(int(c) for c in children)
            except OSError:
                pass
        return found

    def cpu_seconds(self) -> float:
        """utime + stime of every process of the service (all threads), in seconds."""
        ticks = 0
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15 of stat)
        return ticks / CLK_TCK

    def _status_kib(self, key: str) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total

    def rss_kib(self) -> int:
        return self._status_kib("VmRSS")

    def hwm_kib(self) -> int:
        return self._status_kib("VmHWM")

    def reset_hwm(self) -> None:
        """Sets each process's peak RSS to its current RSS (Linux: "5" into /proc/<pid>/clear_refs)."""
        for pid in self.pids():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(10)
        else:
            # The leader is gone; its group may still hold children (nginx workers).
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._out.close()
        if self in Service.running:
            Service.running.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for service in list(reversed(cls.running)):
            service.stop()


# --------------------------------------------------------------------------------------------------
# Credentials


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_hs256(secret: str, claims: dict) -> str:
    """An HS256 JWT exactly as PyJWT writes one (compact JSON, header alg+typ)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


def make_certificate(tmp: Path) -> tuple[Path, Path, Path]:
    cert, key, pem = tmp / "cert.pem", tmp / "key.pem", tmp / "haproxy.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    return cert, key, pem


# --------------------------------------------------------------------------------------------------
# The targets


class Bench:
    """Starts the upstreams and proxies, runs the scenarios, and keeps every measurement."""

    def __init__(self, settings: Settings, gatehouse: Path, tmp: Path) -> None:
        self.s = settings
        self.gatehouse_bin = gatehouse
        self.tmp = tmp
        self.cert, self.key, self.pem = make_certificate(tmp)
        self.secret = secrets.token_hex(24)
        self.body_file = tmp / "body.json"
        self.body_file.write_bytes(BODY)
        self.token = ""
        self.upstream: Service | None = None
        self.upstream_port = 0
        self.emitter: Service | None = None
        self.emitter_port = 0
        self.proxies: dict[str, tuple[Service, int]] = {}
        self.results: dict[str, dict[str, list[dict]]] = {}
        self.notes: list[str] = []

    # -- configuration files --
    # Descriptor limits come from this process's RLIMIT_NOFILE (inherited by every child).

    def render(self, template: str, out: str, **values) -> Path:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        text = string.Template((BENCH / "configs" / template).read_text()).substitute(
            tmp=self.tmp, cert=self.cert, key=self.key, pem=self.pem, secret=self.secret, token=self.token,
            answer=ANSWER, nofile=nofile, worker_connections=nofile - 256,
            maxconn=self.maxconn(values.get("name", "")), **values)
        path = self.tmp / out
        path.write_text(text)
        return path

    @staticmethod
    def haproxy_maxconn() -> int:
        """HAProxy refuses to start when 2 x maxconn (+ a few) exceeds RLIMIT_NOFILE: it reserves a
        server-side descriptor for every client connection."""
        return (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100) // 2

    def maxconn(self, name: str) -> int:
        want = self.s.idle_connections + 1000
        return min(want, self.haproxy_maxconn()) if name == "haproxy" else want

    def idle_count(self, name: str) -> int:
        """How many idle connections a proxy is given: all that were asked for, fewer for HAProxy when
        the descriptor limit cannot hold twice as many."""
        return min(self.s.idle_connections, self.maxconn(name) - 50)

    def start_upstream(self) -> None:
        self.upstream_port = free_port()
        conf = self.render("upstream-nginx.conf", "upstream-nginx.conf", port=self.upstream_port)
        self.upstream = Service("upstream-nginx", ["nginx", "-p", str(self.tmp), "-c", str(conf)], self.tmp)
        wait_listening(self.upstream_port, self.upstream)

    def start_emitter(self) -> None:
        self.emitter_port = free_port()
        self.emitter = Service("sse-emitter", [sys.executable, str(BENCH / "sse_emitter.py"),
                                               str(self.emitter_port)], self.tmp)
        wait_listening(self.emitter_port, self.emitter)

    def start_proxy(self, name: str, upstream_port: int) -> None:
        port = free_port()
        if name == "haproxy":
            conf = self.render("haproxy.cfg", "haproxy.cfg", port=port, upstream_port=upstream_port, name=name)
            argv = ["haproxy", "-db", "-f", str(conf)]
        elif name == "nginx":
            conf = self.render("nginx.conf", "nginx.conf", port=port, upstream_port=upstream_port)
            argv = ["nginx", "-p", str(self.tmp), "-c", str(conf)]
        else:
            conf = self.render("gatehouse.conf", "gatehouse.conf", port=port, upstream_port=upstream_port)
            argv = [str(self.gatehouse_bin), "run", "--config", str(conf)]
        service = Service(name, argv, self.tmp, env=dict(os.environ, MCP_JWT_SECRET=self.secret))
        wait_listening(port, service)
        self.proxies[name] = (service, port)

    def stop_proxy(self, name: str) -> None:
        service, _ = self.proxies.pop(name)
        service.stop()

    def mint_token(self) -> str:
        """The bearer token: `gatehouse token` with the benchmark's secret; PyJWT-equivalent minting
        when that command is not there."""
        now = int(time.time())
        conf = self.render("gatehouse.conf", "gatehouse-token.conf", port=free_port(), upstream_port=1)
        try:
            out = subprocess.run([str(self.gatehouse_bin), "token", "--sub", "bench-client", "--permissions",
                                  "tools:call", "--ttl", "24h", "--config", str(conf)],
                                 capture_output=True, text=True, timeout=30,
                                 env=dict(os.environ, MCP_JWT_SECRET=self.secret))
            token = out.stdout.strip()
            if out.returncode == 0 and token.count(".") == 2:
                return token
        except OSError:
            pass
        self.notes.append("token minted in Python (HS256, PyJWT's layout): `gatehouse token` unavailable")
        return mint_hs256(self.secret, {"sub": "bench-client", "iat": now, "exp": now + 86400,
                                        "permissions": ["tools:call"]})

    def target(self, name: str) -> tuple[str, int, bool, Service]:
        """(host, port, tls, service to account) of a target."""
        if name == "direct":
            return "127.0.0.1", self.upstream_port, False, self.upstream
        service, port = self.proxies[name]
        return "127.0.0.1", port, True, service

    def url(self, name: str) -> str:
        host, port, tls, _ = self.target(name)
        return f"{'https' if tls else 'http'}://{host}:{port}/mcp"

    # -- checks that every target really does the job --

    def request(self, name: str, token: str) -> tuple[int, dict, bytes]:
        host, port, tls, _ = self.target(name)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request("POST", "/mcp", body=BODY, headers={
                "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-06-18", "Authorization": f"Bearer {token}"})
            version = conn.sock.version() if tls else "plain"
            answer = conn.getresponse()
            headers = {k.lower(): v for k, v in answer.getheaders()}
            headers[":tls"] = version
            return answer.status, headers, answer.read()
        finally:
            conn.close()

    def check_targets(self, names: list[str]) -> None:
        now = int(time.time())
        forged = mint_hs256("x" * 48, {"sub": "bench-client", "iat": now, "exp": now + 3600,
                                       "permissions": ["tools:call"]})
        expired = mint_hs256(self.secret, {"sub": "bench-client", "iat": now - 7200, "exp": now - 3600,
                                           "permissions": ["tools:call"]})
        for name in names:
            status, headers, body = self.request(name, self.token)
            problems = []
            if status != 200 or body != ANSWER.encode():
                problems.append(f"answer {status} {body[:200]!r}")
            if name != "direct":
                missing = [h for h in SECURITY_HEADERS if h not in headers]
                if missing:
                    problems.append(f"security headers missing: {', '.join(missing)}")
                if headers[":tls"] != "TLSv1.3":
                    problems.append(f"negotiated {headers[':tls']}")
                for label, bad in (("a forged token", forged), ("an expired token", expired)):
                    bad_status, _, _ = self.request(name, bad)
                    if bad_status != 401:
                        problems.append(f"{label} got {bad_status}, not 401")
            if problems:
                _, _, _, service = self.target(name)
                raise SystemExit(f"bench: {name} does not do the job: {'; '.join(problems)}\n{service.tail()}")
            log(f"  {name:<9} checked: 200 with the upstream's answer"
                + ("" if name == "direct" else ", TLS 1.3, six security headers, forged and expired tokens 401"))

    # -- one measurement --

    def upstream_requests(self) -> int:
        """Requests the upstream nginx has served so far (its stub_status counter, all workers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=5)
        try:
            conn.request("GET", "/bench-status")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        return int(text.splitlines()[2].split()[2])

    def wrk(self, name: str, connections: int, seconds: float, close: bool = False, delay_ms: int = 0) -> dict:
        """One wrk run of `warm + seconds`. The rate and the CPU per request come from the steady window
        after the warm-up second (connections opened, TLS handshakes done): requests counted by the
        upstream, CPU from /proc, both sampled at the window's edges. Latency percentiles are wrk's over
        the whole run."""
        _, _, _, service = self.target(name)
        env = dict(os.environ, BENCH_BODY=str(self.body_file), BENCH_TOKEN=self.token,
                   BENCH_CLOSE="1" if close else "0", BENCH_DELAY_MS=str(delay_ms))
        warm = 1
        whole = warm + max(1, round(seconds))
        argv = ["wrk", "-t2", f"-c{connections}", f"-d{whole}s", "--timeout", "10s",
                "-s", str(BENCH / "wrk" / "mcp.lua"), self.url(name)]
        service.reset_hwm()
        started = time.monotonic()
        wrk = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(warm)
            t0, cpu0, n0 = time.monotonic(), service.cpu_seconds(), self.upstream_requests()
            time.sleep(max(0.5, started + whole - 0.25 - time.monotonic()))
            t1, cpu1, n1 = time.monotonic(), service.cpu_seconds(), self.upstream_requests()
            stdout, stderr = wrk.communicate(timeout=whole + 90)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        line = next((l for l in stdout.splitlines() if l.startswith("BENCHJSON ")), None)
        if line is None:
            raise SystemExit(f"bench: wrk against {name} printed no result:\n{stdout[-2000:]}\n{stderr[-2000:]}")
        w = json.loads(line[len("BENCHJSON "):])
        served = max(n1 - n0 - 1, 1)          # less the second status request itself
        cpu = cpu1 - cpu0
        errors = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
        return {
            "rate": served / (t1 - t0), "window_seconds": round(t1 - t0, 3), "window_requests": served,
            "wrk_rate": w["requests"] / (w["duration_us"] / 1e6), "wrk_requests": w["requests"],
            "p50_us": w["p50_us"], "p99_us": w["p99_us"], "p90_us": w["p90_us"], "mean_us": w["mean_us"],
            "max_us": w["max_us"], "cpu_seconds": round(cpu, 3), "cpu_us_per_op": cpu * 1e6 / served,
            "peak_rss_mib": service.hwm_kib() / 1024, "socket_errors": errors, "non_2xx": w["status_errors"],
            "valid": w["status_errors"] == 0 and errors <= 0.01 * max(w["requests"], 1),
        }

    def sse(self, name: str, seconds: float) -> dict:
        host, port, tls, service = self.target(name)
        if name == "direct":
            port, service = self.emitter_port, self.emitter
        warmup = 0.5
        service.reset_hwm()
        cpu_before = service.cpu_seconds()
        out = subprocess.run([sys.executable, str(BENCH / "sse_client.py"), host, str(port), "1" if tls else "0",
                              self.token, str(warmup), str(seconds)],
                             capture_output=True, text=True, timeout=seconds + 60)
        cpu = service.cpu_seconds() - cpu_before
        try:
            r = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            r = {"error": out.stdout[-500:] + out.stderr[-1500:]}
        if "error" in r:
            # One failed round (a stalled stream, say) is recorded as such, not the end of the whole run.
            print(f"bench: the SSE stream through {name} failed this round: {str(r)[-400:]}", file=sys.stderr)
            return {"rate": 0.0, "events": 0, "seconds": 0.0, "mib_per_second": 0.0, "cpu_seconds": round(cpu, 3),
                    "cpu_us_per_op": 0.0, "peak_rss_mib": service.hwm_kib() / 1024, "valid": False,
                    "error": str(r)[-400:]}
        return {"rate": r["events_per_second"], "events": r["events"], "seconds": r["seconds"],
                "mib_per_second": r["total_bytes"] / r["total_seconds"] / 2**20,
                "cpu_seconds": round(cpu, 3), "cpu_us_per_op": cpu * 1e6 / max(r["total_events"], 1),
                "peak_rss_mib": service.hwm_kib() / 1024, "valid": True}

    def idle(self, name: str) -> dict:
        """Starts the proxy afresh, opens the idle connections, measures, closes them, stops the proxy."""
        self.start_proxy(name, self.upstream_port)
        host, port, _, service = self.target(name)
        count = self.idle_count(name)
        try:
            time.sleep(0.5)
            base_kib = service.rss_kib()
            service.reset_hwm()
            cpu_before = service.cpu_seconds()
            started = time.monotonic()
            client = subprocess.Popen([sys.executable, str(BENCH / "idle_client.py"), host, str(port),
                                       str(count), self.token, str(self.body_file)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      start_new_session=True)
            try:
                ready = ""
                deadline = time.monotonic() + 180
                while not ready.startswith("READY") and time.monotonic() < deadline:
                    ready = client.stdout.readline()
                    if not ready:
                        break
                opened = time.monotonic() - started
                if not ready.startswith("READY"):
                    raise SystemExit(f"bench: idle client against {name} did not finish: {ready!r}")
                _, held, failed = ready.split()
                first_failure = ""
                if int(failed):
                    first_failure = client.stdout.readline().strip()
                cpu = service.cpu_seconds() - cpu_before
                time.sleep(2)            # idle: let buffers settle
                rss_kib = service.rss_kib()
                hwm_kib = service.hwm_kib()
            finally:
                try:
                    client.stdin.close()
                    client.wait(30)
                except (subprocess.TimeoutExpired, BrokenPipeError):
                    client.kill()
                    client.wait(10)
            connections = int(held)
            per_connection = (rss_kib - base_kib) / max(connections, 1)
            return {"rate": connections / opened, "connections": connections, "failed": int(failed),
                    "first_failure": first_failure, "measured_rss_mib": rss_kib / 1024,
                    "rss_mib": (base_kib + per_connection * self.s.idle_connections) / 1024,
                    "scaled_to": self.s.idle_connections if connections != self.s.idle_connections else 0,
                    "baseline_rss_mib": base_kib / 1024, "kib_per_connection": per_connection,
                    "peak_rss_mib": hwm_kib / 1024, "cpu_seconds": round(cpu, 3),
                    "cpu_us_per_op": cpu * 1e6 / max(connections, 1),
                    "valid": int(failed) == 0 and connections == count}
        finally:
            self.stop_proxy(name)

    # -- the run --

    def rounds(self, scenario: str, names: list[str], measure, rounds: int) -> None:
        self.results[scenario] = {n: [] for n in names}
        for r in range(rounds):
            for name in names:
                m = measure(name)
                self.results[scenario][name].append(m)
                log(f"  {scenario:<9} round {r + 1}/{rounds}  {name:<9} {describe(scenario, m)}")

    def run(self) -> None:
        s = self.s
        proxies = s.proxies
        throughput = [x for x in ("c64", "c1000", "handshake", "latency") if x in s.scenarios]
        if throughput or "idle" in s.scenarios:
            self.start_upstream()
        self.token = self.mint_token()
        if throughput:
            log("bench: starting the upstream and the proxies")
            for name in proxies:
                self.start_proxy(name, self.upstream_port)
            self.check_targets(["direct"] + proxies)
            for name in ["direct"] + proxies:      # warm-up, not recorded
                self.wrk(name, 64, 1)
            if "c64" in throughput:
                self.rounds("c64", ["direct"] + proxies, lambda n: self.wrk(n, 64, s.seconds), s.rounds)
            if "c1000" in throughput:
                self.rounds("c1000", ["direct"] + proxies, lambda n: self.wrk(n, 1000, s.seconds), s.rounds)
            if "handshake" in throughput:
                self.rounds("handshake", proxies, lambda n: self.wrk(n, 64, s.seconds, close=True), s.rounds)
            if "latency" in throughput:
                self.rounds("latency", ["direct"] + proxies,
                            lambda n: self.wrk(n, 10, s.seconds, delay_ms=10), s.rounds)
            for name in list(self.proxies):
                self.stop_proxy(name)
        if "sse" in s.scenarios:
            log("bench: SSE: the proxies in front of the SSE emitter")
            self.start_emitter()
            for name in proxies:
                self.start_proxy(name, self.emitter_port)
            self.rounds("sse", ["direct"] + proxies, lambda n: self.sse(n, s.seconds), s.rounds)
            for name in list(self.proxies):
                self.stop_proxy(name)
            self.emitter.stop()
        if "idle" in s.scenarios:
            log(f"bench: idle: {s.idle_connections} TLS keep-alive connections to each proxy, started afresh")
            self.rounds("idle", proxies, self.idle, s.idle_rounds)


# --------------------------------------------------------------------------------------------------
# Reporting


def describe(scenario: str, m: dict) -> str:
    flag = "" if m.get("valid", True) else "  INVALID"
    if scenario == "idle":
        scaled = f", {m['rss_mib']:.0f} MiB scaled to {m['scaled_to']:,}" if m["scaled_to"] else ""
        return (f"{m['connections']} open ({m['failed']} failed) RSS {m['measured_rss_mib']:.0f} MiB "
                f"({m['kib_per_connection']:.1f} KiB/conn{scaled}), peak {m['peak_rss_mib']:.0f} MiB{flag}")
    if scenario == "sse":
        return (f"{m['rate']:>10,.0f} events/s  {m['mib_per_second']:.0f} MiB/s  "
                f"CPU {m['cpu_us_per_op']:.2f} µs/event  peak {m['peak_rss_mib']:.0f} MiB{flag}")
    unit = "handshakes/s" if scenario == "handshake" else "req/s"
    errors = f"  errors {m['socket_errors']}/{m['non_2xx']} non-2xx" if (m["socket_errors"] or m["non_2xx"]) else ""
    return (f"{m['rate']:>10,.0f} {unit}  p50 {m['p50_us'] / 1000:.2f} ms  p99 {m['p99_us'] / 1000:.2f} ms  "
            f"CPU {m['cpu_us_per_op']:.1f} µs/op  peak {m['peak_rss_mib']:.0f} MiB{errors}{flag}")


def median_of(runs: list[dict]) -> dict:
    """Medians over the valid rounds (all rounds when none is); `valid` stays false if any round failed."""
    use = [r for r in runs if r.get("valid", True)] or runs
    out = {}
    for key, value in use[0].items():
        if isinstance(value, bool):
            out[key] = all(r.get(key, False) for r in runs)
        elif isinstance(value, (int, float)):
            out[key] = statistics.median(r[key] for r in use)
        else:
            out[key] = value
    out["rounds"] = len(runs)
    return out


def summarize(results: dict) -> dict:
    summary: dict = {}
    for scenario, by_target in results.items():
        summary[scenario] = {name: median_of(runs) for name, runs in by_target.items() if runs}
    # latency added over direct
    lat = summary.get("latency", {})
    if "direct" in lat:
        for name, m in lat.items():
            m["added_p50_us"] = m["p50_us"] - lat["direct"]["p50_us"]
            m["added_p99_us"] = m["p99_us"] - lat["direct"]["p99_us"]
    # ratios to HAProxy
    for scenario, by_target in summary.items():
        base = by_target.get("haproxy")
        if not base:
            continue
        for name, m in by_target.items():
            ratios = {}
            for key in ("rate", "p50_us", "p99_us", "cpu_us_per_op", "peak_rss_mib", "rss_mib",
                        "added_p50_us", "added_p99_us"):
                if key in m and key in base and base[key]:
                    ratios[key] = m[key] / base[key]
            m["vs_haproxy"] = ratios
    return summary


def goals(summary: dict) -> list[dict]:
    out = []
    gh, ha = summary.get("c64", {}).get("gatehouse"), summary.get("c64", {}).get("haproxy")
    if gh and ha:
        out.append({"goal": "c64: req/s >= 1.3x HAProxy with p99 no higher",
                    "measured": f"{gh['rate'] / ha['rate']:.2f}x, p99 {gh['p99_us'] / 1000:.2f} ms vs "
                                f"{ha['p99_us'] / 1000:.2f} ms",
                    "met": gh["rate"] >= 1.3 * ha["rate"] and gh["p99_us"] <= ha["p99_us"]})
    if gh:
        out.append({"goal": "CPU per request <= 12 µs (c64)", "measured": f"{gh['cpu_us_per_op']:.1f} µs",
                    "met": gh["cpu_us_per_op"] <= 12})
    idle = summary.get("idle", {}).get("gatehouse")
    if idle:
        out.append({"goal": f"{idle['connections']:,} idle TLS connections in <= 400 MiB RSS",
                    "measured": f"{idle['rss_mib']:.0f} MiB", "met": idle["rss_mib"] <= 400
                    and idle["connections"] >= 10000})
    lat = summary.get("latency", {}).get("gatehouse")
    if lat and "added_p50_us" in lat:
        out.append({"goal": "added p50 latency over direct at ~1k req/s <= 100 µs",
                    "measured": f"{lat['added_p50_us']:.0f} µs (at {lat['rate']:,.0f} req/s)",
                    "met": lat["added_p50_us"] <= 100})
    return out


def ratio_text(m: dict, key: str) -> str:
    r = m.get("vs_haproxy", {}).get(key)
    return "" if r is None else f"{r:.2f}×"


def markdown(summary: dict, meta: dict) -> str:
    lines = [f"Gatehouse vs HAProxy {meta['versions']['haproxy']} vs nginx {meta['versions']['nginx']} — "
             f"{meta['date']}, {meta['machine']['cpu']} ({meta['machine']['cores']} cores, shared by wrk, "
             f"the proxies, the upstream and the clients; nothing pinned), median of "
             f"{meta['settings']['rounds']} alternating rounds of {meta['settings']['seconds_per_run']:g} s "
             f"(idle: {meta['settings']['idle_rounds']} round{'s' if meta['settings']['idle_rounds'] > 1 else ''})"
             + (f"; load average {meta['load_average_before'][0]:.1f} before the run" if meta.get("load_average_before")
                else "") + ".", "",
             "| scenario | target | rate | p50 | p99 | CPU per op | peak RSS | vs HAProxy |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    notes: list[str] = []
    titles = {"c64": "64 connections", "c1000": "1,000 connections", "handshake": "new TLS connection per request",
              "latency": "fixed ~1k req/s", "sse": "SSE stream", "idle": "idle TLS connections"}
    for scenario in SCENARIOS:
        for name, m in summary.get(scenario, {}).items():
            mark = "" if m.get("valid", True) else " ⚠"
            if scenario == "idle":
                held = f"{m['connections']:,.0f}" + (f", scaled to {m['scaled_to']:,.0f}†" if m["scaled_to"] else "")
                lines.append(f"| {titles[scenario]} ({held}) | {name}{mark} | {m['rate']:,.0f} conn/s | — | — | "
                             f"{m['cpu_us_per_op']:.0f} µs/conn | {m['rss_mib']:.0f} MiB "
                             f"({m['kib_per_connection']:.1f} KiB/conn) | {ratio_text(m, 'rss_mib')} RSS |")
                if m["scaled_to"]:
                    notes.append(f"† {name}: {m['connections']:,.0f} connections held (RLIMIT_NOFILE "
                                 f"{meta['nofile']:,} here, and HAProxy reserves two descriptors per connection); "
                                 f"RSS = baseline + measured KiB/conn × {m['scaled_to']:,.0f}.")
            elif scenario == "sse":
                lines.append(f"| {titles[scenario]} | {name}{mark} | {m['rate']:,.0f} events/s | — | — | "
                             f"{m['cpu_us_per_op']:.2f} µs/event | {m['peak_rss_mib']:.0f} MiB | "
                             f"{ratio_text(m, 'rate')} |")
            elif scenario == "latency":
                added = "" if name == "direct" else f" ({m['added_p50_us']:+.0f})"
                added99 = "" if name == "direct" else f" ({m['added_p99_us']:+.0f})"
                lines.append(f"| {titles[scenario]} | {name}{mark} | {m['rate']:,.0f} req/s | "
                             f"{m['p50_us']:.0f} µs{added} | {m['p99_us']:.0f} µs{added99} | "
                             f"{m['cpu_us_per_op']:.1f} µs/req | {m['peak_rss_mib']:.0f} MiB | "
                             f"{'—' if name == 'direct' else ratio_text(m, 'added_p50_us') + ' added p50'} |")
            else:
                unit = "handshakes/s" if scenario == "handshake" else "req/s"
                lines.append(f"| {titles[scenario]} | {name}{mark} | {m['rate']:,.0f} {unit} | "
                             f"{m['p50_us'] / 1000:.2f} ms | {m['p99_us'] / 1000:.2f} ms | "
                             f"{m['cpu_us_per_op']:.1f} µs/req | {m['peak_rss_mib']:.0f} MiB | "
                             f"{ratio_text(m, 'rate')} |")
    lines.append("")
    lines.extend(notes)
    lines.extend(meta.get("notes") or [])
    lines.append("CPU per op: utime+stime of all the target's processes over the run, divided by the requests "
                 "(events, handshakes) it served; for direct it is the upstream nginx's. Latency rows: the added "
                 "latency over direct in parentheses. ⚠ marks a median over a run with errors.")
    g = goals(summary)
    if g:
        lines.append("")
        lines.append("| goal (issue 10) | measured | met |")
        lines.append("|---|---|---|")
        for item in g:
            lines.append(f"| {item['goal']} | {item['measured']} | {'yes' if item['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def chart(summary: dict, meta: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    colors = {"direct": "#9e9e9e", "haproxy": "#1f77b4", "nginx": "#2ca02c", "gatehouse": "#d62728"}
    panels = [("c64", "rate", "req/s, 64 connections"), ("c1000", "rate", "req/s, 1,000 connections"),
              ("handshake", "rate", "handshakes/s (new TLS conn.)"), ("sse", "rate", "SSE events/s"),
              ("c64", "cpu_us_per_op", "CPU µs per request (c64)"), ("c64", "p99_us", "p99 ms (c64)"),
              ("idle", "rss_mib", "RSS MiB, idle TLS connections"), ("latency", "latency", "latency µs at ~1k req/s (log)")]
    panels = [p for p in panels if p[0] in summary]
    cols = 4
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (scenario, key, title) in zip(axes.flat, panels):
        data = summary[scenario]
        names = list(data)
        if key == "latency":
            x = range(len(names))
            p50 = [data[n]["p50_us"] for n in names]
            p99 = [data[n]["p99_us"] for n in names]
            ax.bar([i - 0.2 for i in x], p50, 0.4, color=[colors[n] for n in names], label="p50")
            ax.bar([i + 0.2 for i in x], p99, 0.4, color=[colors[n] for n in names], alpha=0.45, label="p99")
            ax.set_yscale("log")
            ax.legend(fontsize=7, loc="upper left")
            for i, (a, b) in enumerate(zip(p50, p99)):
                ax.text(i - 0.2, a, f"{a:,.0f}", ha="center", va="bottom", fontsize=6)
                ax.text(i + 0.2, b, f"{b:,.0f}", ha="center", va="bottom", fontsize=6)
        else:
            values = [data[n][key] / (1000 if key == "p99_us" else 1) for n in names]
            bars = ax.bar(range(len(names)), values, color=[colors[n] for n in names])
            for bar, v in zip(bars, values):
                label = f"{v:,.0f}" if v >= 100 else f"{v:.2f}" if v < 10 else f"{v:.1f}"
                ax.text(bar.get_x() + bar.get_width() / 2, v, label, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}"))
        ax.margins(y=0.15)
    fig.suptitle(f"Gatehouse vs HAProxy {meta['versions']['haproxy']} vs nginx {meta['versions']['nginx']} — "
                 f"{meta['date']}, {meta['machine']['cores']} shared cores, median of {meta['settings']['rounds']} rounds"
                 + (f", load average {meta['load_average_before'][0]:.1f} before" if meta.get("load_average_before") else ""),
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_info(gatehouse: Path) -> tuple[dict, dict]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    machine = {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
               "kernel": platform.release(), "pinning": "none: wrk, the proxies, the upstream and the "
                                                        "Python clients share every core"}
    haproxy = first_line(["haproxy", "-v"]).split()
    nginx = first_line(["nginx", "-v"]).rsplit("/", 1)[-1]
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    versions = {"haproxy": haproxy[2].split("-")[0] if len(haproxy) > 2 else "?", "haproxy_package": " ".join(haproxy[2:3]),
                "nginx": nginx,
                "wrk": first_line(["wrk", "--version"]).split()[1] if first_line(["wrk", "--version"]) != "?" else "?",
                "openssl": first_line(["openssl", "version"]), "python": platform.python_version(),
                "gatehouse": first_line([str(gatehouse), "--version"]), "gatehouse_commit": rev,
                "gatehouse_binary": str(gatehouse)}
    return machine, versions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gatehouse", default=os.environ.get("GATEHOUSE_BIN") or str(ROOT / ".build/release/gatehouse"))
    ap.add_argument("--report", metavar="JSON", help="only redraw the table and chart of an earlier run's JSON")
    args = ap.parse_args()
    if args.report:
        document = json.loads(Path(args.report).read_text())
        table = markdown(document["summary"], document)
        Path(args.report).with_suffix(".md").write_text(table)
        drew = chart(document["summary"], document, Path(args.report).with_suffix(".png"))
        log(table)
        log(f"bench: {Path(args.report).with_suffix('.md')}" + (f", {Path(args.report).with_suffix('.png')}" if drew else ""))
        return 0
    settings = Settings()
    gatehouse = Path(args.gatehouse).resolve()
    for tool in ("wrk", "haproxy", "nginx", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} not found (bench/bench.sh installs Debian's)")
    if "gatehouse" in settings.proxies and not gatehouse.exists():
        raise SystemExit(f"bench: {gatehouse} not found (make bench builds it)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * settings.idle_connections + 4096
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if "idle" in settings.scenarios and nofile < settings.idle_connections + 1024:
        raise SystemExit(f"bench: RLIMIT_NOFILE is {nofile}, too low for {settings.idle_connections} connections")

    date = datetime.date.today().isoformat()
    tmp = RESULTS / "tmp" / time.strftime("%Y%m%d-%H%M%S")
    tmp.mkdir(parents=True, exist_ok=True)
    machine, versions = machine_info(gatehouse)
    meta = {"date": date, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine, "versions": versions, "settings": settings.as_json(), "nofile": nofile,
            "request": {"body_bytes": len(BODY), "answer_bytes": len(ANSWER), "tls": "TLSv1.3, ECDSA P-256 "
                        "self-signed certificate shared by all", "path": "POST /mcp"}}
    meta["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    log(f"bench: load average {meta['load_average_before'][0]:.2f} before the run"
        + (": other work is running on this machine, expect low and noisy figures"
           if meta["load_average_before"][0] > 1.0 else ""))
    log(f"bench: {machine['cpu']}, {machine['cores']} cores shared by everything (nothing pinned); "
        f"{settings.seconds:g} s per run, {settings.rounds} rounds; RLIMIT_NOFILE {nofile}")
    log(f"bench: HAProxy {versions['haproxy']}, nginx {versions['nginx']}, wrk {versions['wrk']}, "
        f"{versions['gatehouse']} ({gatehouse})")

    bench = Bench(settings, gatehouse, tmp)

    def on_signal(signum, _frame):
        raise SystemExit(f"bench: stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        bench.run()
    finally:
        Service.stop_all()
        if not settings.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                (RESULTS / "tmp").rmdir()
            except OSError:
                pass
    meta["elapsed_seconds"] = round(time.monotonic() - started)
    meta["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["notes"] = bench.notes + ([os.environ["BENCH_NOTE"]] if os.environ.get("BENCH_NOTE") else [])
    summary = summarize(bench.results)
    document = {**meta, "summary": summary, "goals": goals(summary), "rounds": bench.results}
    RESULTS.mkdir(exist_ok=True)
    json_path = RESULTS / f"{date}.json"
    json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    table = markdown(summary, meta)
    (RESULTS / f"{date}.md").write_text(table)
    png = RESULTS / f"{date}.png"
    drew = chart(summary, meta, png)
    log("")
    log(table)
    log(f"bench: {json_path.relative_to(ROOT)}, {(RESULTS / f'{date}.md').relative_to(ROOT)}"
        + (f", {png.relative_to(ROOT)}" if drew else " (no chart: matplotlib not importable)")
        + f" written in {meta['elapsed_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
