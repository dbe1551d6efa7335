"""Processes of the end-to-end suite: upstream MCP servers, the gateway, the 1.x client.

Every process binds 127.0.0.1 on a port chosen free at run time, every wait is bounded, and every
process started here is registered so that teardown (or interpreter exit) kills it by its pid.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVERS = HERE / "servers"
CLIENTS = HERE / "clients"

V2_PYTHON = os.environ.get("E2E_V2_PYTHON", sys.executable)
V1_PYTHON = os.environ.get("E2E_V1_PYTHON", str(REPO / ".venv-e2e-v1" / "bin" / "python"))
GATEHOUSE_BIN = os.environ.get("GATEHOUSE_BIN", str(REPO / ".build" / "debug" / "gatehouse"))
DIRECT = os.environ.get("E2E_DIRECT") == "1"

# Environment variables the gateway reads; removed so the developer's shell cannot change a test.
GATEWAY_ENV_VARS = (
    "MCP_API_KEYS", "MCP_JWT_SECRET", "MCP_CORS_ORIGINS", "MCP_TLS_CERT_PATH", "MCP_TLS_KEY_PATH",
    "MCP_REQUIRE_HTTPS", "MCP_ENCRYPTION_PASSWORD", "MCP_ENCRYPTION_SALT", "GATEHOUSE_CONFIG",
    "GATEHOUSE_UPSTREAM", "GATEHOUSE_LISTEN",
)

_LIVE: list["Managed"] = []


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the test process dies without a teardown (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort on other platforms
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def sha256_form(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "e2e_" + secrets.token_urlsafe(32)


class Managed:
    """A child process with its output in a log file; `stop` ends it by pid, escalating to SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=str(cwd) if cwd else None, preexec_fn=_die_with_parent,
        )
        _LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 5.0) -> int | None:
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(grace) is None:
                self.proc.kill()
                self.wait(5.0)
        if self in _LIVE:
            _LIVE.remove(self)
        self._log.close()
        return self.proc.returncode


def _kill_leftovers() -> None:
    for m in list(_LIVE):
        try:
            if m.alive():
                m.proc.kill()
                m.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(_kill_leftovers)


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- upstream servers ------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamSpec:
    """Which official SDK server to run and how."""

    sdk: str                 # "v2" or "v1"
    transport: str = "streamable-http"   # or "sse" (the old HTTP+SSE transport)
    json_response: bool = False
    stateless: bool = False

    @property
    def path(self) -> str:
        return "/sse" if self.transport == "sse" else "/mcp"


UPSTREAMS: dict[str, UpstreamSpec] = {
    "v2-json": UpstreamSpec("v2", json_response=True),
    "v2-sse": UpstreamSpec("v2"),
    "v2-stateless": UpstreamSpec("v2", stateless=True),
    "v2-oldsse": UpstreamSpec("v2", transport="sse"),
    "v1-sse": UpstreamSpec("v1"),
}


class Upstream(Managed):
    """An official SDK MCP server on 127.0.0.1:<free port>."""

    def __init__(self, name: str, spec: UpstreamSpec, workdir: Path):
        self.spec = spec
        self.port = free_port()
        python = V2_PYTHON if spec.sdk == "v2" else V1_PYTHON
        script = SERVERS / ("server_v2.py" if spec.sdk == "v2" else "server_v1.py")
        argv = [python, str(script), "--transport", spec.transport, "--port", str(self.port)]
        if spec.json_response:
            argv.append("--json-response")
        if spec.stateless:
            argv.append("--stateless")
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        super().__init__(f"upstream-{name}", argv, workdir / f"upstream-{name}.log", env=env)
        try:
            wait_until(lambda: not self.alive() or port_accepts(self.port), 30, what=f"{name} to listen")
        except TimeoutError:
            self.stop()
            raise
        if not self.alive():
            raise RuntimeError(f"upstream {name} exited:\n{self.tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, needle: str) -> int:
        return self.log_text().count(needle)


# --- the gateway -----------------------------------------------------------------------------


def render_config(
    listen_port: int,
    upstream_url: str,
    api_keys: list[str],
    response_timeout: str = "3s",
    drain_timeout: str = "10s",
    extra: str = "",
    server_extra: str = "",
) -> str:
    """A test configuration: plain HTTP on 127.0.0.1, no rate limit, no admin listener. `server_extra`
    lines go into [server]; `extra` is appended at the end (more tables)."""
    keys = ", ".join(json.dumps(k) for k in api_keys)
    return f"""# written by the Gatehouse end-to-end suite
[server]
listen = "127.0.0.1:{listen_port}"
drain_timeout = "{drain_timeout}"
{server_extra}

[tls]
require_https = false

[upstream]
url = "{upstream_url}"
response_timeout = "{response_timeout}"

[auth]
api_keys = [{keys}]

[rate_limit]
enabled = false

[admin]
listen = ""
{extra}
"""


class Gateway(Managed):
    """`gatehouse run --config <file>` in front of one upstream URL."""

    def __init__(
        self,
        name: str,
        upstream_url: str,
        workdir: Path,
        api_keys: list[str],
        response_timeout: str = "3s",
        drain_timeout: str = "10s",
        extra: str = "",
        server_extra: str = "",
        wait_healthy: bool = True,
    ):
        if not Path(GATEHOUSE_BIN).exists():
            raise FileNotFoundError(
                f"gateway binary {GATEHOUSE_BIN} not found: build it (swift build) or set GATEHOUSE_BIN"
            )
        self.port = free_port()
        self.upstream_url = upstream_url
        self.config_path = workdir / f"gateway-{name}.conf"
        self.config_path.write_text(
            render_config(self.port, upstream_url, api_keys, response_timeout, drain_timeout, extra, server_extra)
        )
        env = {k: v for k, v in os.environ.items() if k not in GATEWAY_ENV_VARS}
        super().__init__(
            f"gateway-{name}", [GATEHOUSE_BIN, "run", "--config", str(self.config_path)],
            workdir / f"gateway-{name}.log", env=env, cwd=workdir,
        )
        if wait_healthy:
            try:
                wait_until(lambda: not self.alive() or self.healthy(), 20, what=f"gateway {name} /healthz")
            except TimeoutError:
                self.stop()
                raise
            if not self.alive():
                raise RuntimeError(f"gateway {name} exited with {self.proc.returncode}:\n{self.tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.settimeout(2)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    piece = s.recv(4096)
                    if not piece:
                        break
                    data += piece
            return data.startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def log_events(self) -> list[dict]:
        out = []
        for line in self.log_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


class Direct:
    """Stands in for a gateway when E2E_DIRECT=1: clients talk to the upstream itself."""

    def __init__(self, upstream: Upstream):
        self.port = upstream.port
        self.upstream_url = upstream.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 40) -> str:
        return "(direct mode: no gateway)"

    def alive(self) -> bool:
        return True


# --- the 1.x client ----------------------------------------------------------------------------


def run_client_v1(url: str, key: str | None, transport: str = "streamable-http", timeout: float = 90,
                  extra: list[str] | None = None) -> dict:
    """Run clients/client_v1.py in the 1.x venv; return its JSON output (raises on failure)."""
    argv = [V1_PYTHON, str(CLIENTS / "client_v1.py"), "--url", url, "--transport", transport]
    if key:
        argv += ["--key", key]
    argv += extra or []
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          preexec_fn=_die_with_parent)
    out = proc.stdout.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not out:
        raise AssertionError(
            f"1.x client failed (exit {proc.returncode}):\nstdout: {proc.stdout.decode(errors='replace')[-3000:]}"
            f"\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}"
        )
    return json.loads(out[-1])


# --- in-process fake upstreams -------------------------------------------------------------------


class StallUpstream:
    """Accepts connections and reads requests, but never answers (for 504)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.received = b""
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                conn.settimeout(0.05)
                self._held.append(conn)
                self.accepted += 1
            except (socket.timeout, TimeoutError):
                pass
            except OSError:
                return
            for c in list(self._held):
                try:
                    data = c.recv(65536)
                    if data:
                        self.received += data
                except (socket.timeout, TimeoutError, BlockingIOError):
                    pass
                except OSError:
                    self._held.remove(c)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for c in self._held:
            c.close()
        self.sock.close()


class EchoUpstream:
    """A plain HTTP server that answers every request with a JSON description of what it received
    (method, path, headers in order, body), and records it; for checking what the gateway forwards."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body": body.decode("utf-8", "replace"),
                }
                outer.requests.append(record)
                out = json.dumps(record).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Upstream", "echo")
                self.send_header("X-Frame-Options", "SAMEORIGIN")   # the gateway must replace it
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
