"""Helpers of the traffic-policy, CORS and observability tests (test_traffic.py, test_cors_browser.py,
test_observability.py):

- `PolicyGateway`: a gateway whose whole configuration the test writes table by table (rate limits,
  CORS, headers, logging, the admin listener), optionally with environment variables and with its
  stdout on a pipe the test controls;
- `SourceConn`: a raw HTTP connection from a chosen loopback source address (127.0.0.2, ...), so one
  machine plays several clients;
- `PageServer` and `run_chromium`: a page served on 127.0.0.1:<port> (its origin) loaded by headless
  Chromium (Debian's `chromium`) with `--dump-dom`; the page's script writes what it saw into the DOM.

Everything binds 127.0.0.1 (or another 127/8 address) on a port chosen at run time; every wait is
bounded, and every process started here is killed by its pid in teardown.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import rawhttp
import support
from support import GATEHOUSE_BIN, GATEWAY_ENV_VARS, Gateway, free_port, wait_until

# The [headers] defaults of PRODUCT.md §7 (HSTS is sent on HTTPS only, so not on these plain gateways).
DEFAULT_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data: https:; font-src 'self'; connect-src 'self'; "
                               "frame-ancestors 'none';",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
HSTS = "Strict-Transport-Security"

# The CORS header values of §7.
EXPOSE_HEADERS = ("Mcp-Session-Id, WWW-Authenticate, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
                  "Retry-After")
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = ("Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, "
                 "Mcp-Method, Mcp-Name")

# The fields of §10, exactly.
COMMON_FIELDS = {"event_type", "timestamp", "ip_address", "user_agent", "request_id"}
EVENT_FIELDS = {
    "auth": COMMON_FIELDS | {"user_id", "success", "details"},
    "access": COMMON_FIELDS | {"resource", "action", "user_id", "allowed"},
    "security": COMMON_FIELDS | {"severity", "details"},
    "request": {"event_type", "timestamp", "method", "path", "status", "duration_ms", "bytes_in", "bytes_out",
                "upstream_ms", "user_id", "rpc_method", "tool", "request_id", "ip_address"},
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def touch(*managed) -> None:
    """Have the suite attach these processes' log tails to a failure report (conftest's list)."""
    touched = getattr(sys.modules.get("conftest"), "_TOUCHED", None)
    if touched is not None:
        touched.extend(managed)


def toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def render_tables(tables: dict[str, str]) -> str:
    return "# written by the Gatehouse end-to-end suite (traffic/observability)\n" + "".join(
        f"\n[{name}]\n{body.strip()}\n" for name, body in tables.items())


class PolicyGateway(Gateway):
    """`gatehouse run` with a configuration written table by table.

    The base is plain HTTP on 127.0.0.1:<free port>, the given API keys, rate limiting off and no admin
    listener. `tables` maps a table name to its body: `server` lines are added to the listen line, any
    other table replaces the base's body, and None removes a base table (its defaults apply then, e.g.
    no `admin` table means the default admin.listen). `admin=True` puts the admin listener on
    127.0.0.1:<free port> (`admin_port`). `env` is added to the environment, from which the gateway's own
    variables were removed first. With `pipe_stdout`, stdout is a pipe the test reads (`proc.stdout`) or
    leaves full; stderr goes to the log file either way.
    """

    def __init__(self, name: str, workdir: Path, upstream_url: str, api_keys: list[str],
                 tables: dict[str, str | None] | None = None, env: dict | None = None, admin: bool = False,
                 pipe_stdout: bool = False, wait_healthy: bool = True):
        if not Path(GATEHOUSE_BIN).exists():
            raise FileNotFoundError(
                f"gateway binary {GATEHOUSE_BIN} not found: build it (swift build) or set GATEHOUSE_BIN")
        self.port = free_port()
        self.upstream_url = upstream_url
        self.admin_port = free_port() if admin else None
        base: dict[str, str] = {
            "server": f'listen = "127.0.0.1:{self.port}"\ndrain_timeout = "5s"',
            "tls": "require_https = false",
            "upstream": f'url = "{upstream_url}"\nresponse_timeout = "5s"',
            "auth": f"api_keys = {toml_list(api_keys)}",
            "rate_limit": "enabled = false",
            "admin": f'listen = "127.0.0.1:{self.admin_port}"' if admin else 'listen = ""',
        }
        for table, body in (tables or {}).items():
            if table == "server":
                base["server"] += "\n" + (body or "")
            elif body is None:
                base.pop(table, None)
            else:
                base[table] = body
        self.tables = base
        self.config_path = workdir / f"gateway-{name}.conf"
        self.config_path.write_text(render_tables(base))
        run_env = {k: v for k, v in os.environ.items() if k not in GATEWAY_ENV_VARS}
        run_env.update(env or {})
        argv = [GATEHOUSE_BIN, "run", "--config", str(self.config_path)]
        log_path = workdir / f"gateway-{name}.log"
        if pipe_stdout:
            # Managed's bookkeeping, with stdout left to the test.
            self.name, self.argv, self.log_path = f"gateway-{name}", argv, log_path
            self._log = open(log_path, "wb")
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                         env=run_env, cwd=str(workdir), preexec_fn=support._die_with_parent)
            support._LIVE.append(self)
        else:
            support.Managed.__init__(self, f"gateway-{name}", argv, log_path, env=run_env, cwd=workdir)
        touch(self)
        if wait_healthy:
            try:
                wait_until(lambda: not self.alive() or self.healthy(), 20, what=f"gateway {name} /healthz")
            except TimeoutError:
                self.stop()
                raise
            if not self.alive():
                raise RuntimeError(f"gateway {name} exited with {self.proc.returncode}:\n{self.tail()}")

    def rewrite(self, tables: dict[str, str | None]) -> None:
        """Writes a changed configuration (same rules as the constructor, over the current tables)."""
        for table, body in tables.items():
            if table == "server":
                self.tables["server"] += "\n" + (body or "")
            elif body is None:
                self.tables.pop(table, None)
            else:
                self.tables[table] = body
        self.config_path.write_text(render_tables(self.tables))

    def admin_get(self, path: str, method: str = "GET", timeout: float = 10) -> rawhttp.Response:
        """One request to the admin listener."""
        assert self.admin_port, "this gateway has no admin listener"
        with rawhttp.Conn(self.admin_port, timeout=timeout) as conn:
            conn.send(rawhttp.request_bytes(method, path, [("Connection", "close")], host=conn.authority))
            return conn.read_response(method)

    def events(self, path: Path | None = None) -> list[dict]:
        """JSON lines of the log file (or of `path`)."""
        text = self.log_text() if path is None else (path.read_text(errors="replace") if path.exists() else "")
        return parse_json_lines(text)


_gateway_names = itertools.count()


@pytest.fixture
def policy_gateway(workdir, keys, need_gateway):
    """policy_gateway(name, upstream_url, tables=..., **PolicyGateway kwargs): gateways stopped in
    teardown (import this fixture into a test module to use it)."""
    started: list[PolicyGateway] = []

    def make(name: str, upstream_url: str, tables: dict | None = None, **kwargs) -> PolicyGateway:
        kwargs.setdefault("api_keys", keys.config_entries)
        gw = PolicyGateway(f"{name}-{next(_gateway_names)}", workdir, upstream_url, tables=tables, **kwargs)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def parse_json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class SourceConn(rawhttp.Conn):
    """A rawhttp.Conn whose socket is bound to `source` (any 127/8 address is this machine on Linux)."""

    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("rb", buffering=65536)
        self.host = "127.0.0.1"
        self.port = port


def get(port: int, path: str, headers: dict | list | None = None, source: str = "127.0.0.1",
        method: str = "GET", body: bytes | None = None) -> rawhttp.Response:
    """One request on its own connection."""
    with SourceConn(port, source) as conn:
        conn.send(rawhttp.request_bytes(method, path, headers, body, host=conn.authority))
        return conn.read_response(method)


# --- the browser ------------------------------------------------------------------------------------


def chromium_binary() -> str | None:
    """Debian's `chromium` (or $E2E_CHROMIUM), None when there is none."""
    explicit = os.environ.get("E2E_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class PageServer:
    """Serves an HTML page at `/page.html` on 127.0.0.1:<free port>, the origin of the test page. The page
    can be set after the server has started (`page`), when it needs to know URLs chosen later."""

    def __init__(self, page: str = ""):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.page = page
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if self.path == "/page.html":
                    body = outer.page.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/page.html"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


RESULT_ID = "gatehouse-e2e-result"


def page_with_script(script: str) -> str:
    """An HTML page running `script` (an async function body); whatever it returns is written as JSON
    into <pre id=RESULT_ID>, and a thrown error as {"script_error": ...}."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>gatehouse e2e</title></head>
<body><pre id="{RESULT_ID}">pending</pre>
<script>
(async () => {{
{script}
}})().then(
  (value) => {{ document.getElementById("{RESULT_ID}").textContent = JSON.stringify(value); }},
  (error) => {{ document.getElementById("{RESULT_ID}").textContent =
                  JSON.stringify({{script_error: String(error)}}); }});
</script></body></html>
"""


def run_chromium(url: str, profile: Path, timeout: float = 60, budget_ms: int = 15000) -> dict:
    """Loads `url` in headless Chromium and returns the JSON the page's script wrote into the DOM.
    `--virtual-time-budget` keeps the page alive until its fetches are done (virtual time does not move
    while network requests are pending) and its promise chain has settled."""
    binary = chromium_binary()
    assert binary, "chromium not found"
    argv = [binary, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
            "--dump-dom", url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=support._die_with_parent)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"chromium did not finish within {timeout}s:\n{err.decode(errors='replace')[-3000:]}")
    dom = out.decode(errors="replace")
    match = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', dom, re.S)
    if proc.returncode != 0 or not match:
        raise AssertionError(f"chromium exit {proc.returncode}, no result in the DOM:\n{dom[-2000:]}\n"
                             f"stderr: {err.decode(errors='replace')[-3000:]}")
    text = html.unescape(match.group(1))
    if text == "pending":
        raise AssertionError(f"the page's script had not finished when the DOM was dumped:\n{dom[-2000:]}")
    return json.loads(text)
