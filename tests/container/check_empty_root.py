"""Runs the stripped static binary in an empty root, the way the runtime image runs it.

The root holds only the binary at /usr/local/bin/gatehouse and the shared libraries `ldd` lists
(plus the test's own configuration and certificates, which a container gets by mounts). Every
gatehouse process is started by chroot into that root, in the image's WORKDIR /etc/gatehouse, as the
image's user 10001 (when running as root; in a user namespace the uid cannot change), with the
image's bare environment. A small HTTP upstream runs outside the root on loopback.

    python check_empty_root.py REPO_ROOT BINARY SECRETS_DIR REPORT_FILE

Checked: --version, --help, check (valid, invalid, environment alone, the compose and Kubernetes
configurations with their secrets where those files mount them), run with the HEALTHCHECK command
(`gatehouse probe`) against the admin listener, HTTPS requests through the gateway to the upstream
(authenticated and refused), every probe outcome (2xx, other status, refused, timeout, TLS
verification, not HTTP, usage errors), SIGHUP reload, SIGTERM drain and exit 0. The resident memory
after a burst of requests goes to REPORT_FILE (it sizes the Kubernetes requests).
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import yaml

REPO = os.path.abspath(sys.argv[1])
BINARY = os.path.abspath(sys.argv[2])
SECRETS = os.path.abspath(sys.argv[3])
REPORT = os.path.abspath(sys.argv[4])
IMAGE_UID = 10001
IMAGE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent"}
API_KEY = "gh_container-check-" + "k" * 24
CHECKS = 0


def ok(message: str) -> None:
    global CHECKS
    CHECKS += 1
    print(f"  ok  {message}")


def fail(message: str) -> None:
    print(f"  FAIL {message}", file=sys.stderr)
    raise SystemExit(1)


def expect(condition: bool, message: str, detail: str = "") -> None:
    if condition:
        ok(message)
    else:
        fail(message + (f"\n{detail}" if detail else ""))


# ---------------------------------------------------------------------------------------------
# The empty root


def libraries(binary: str) -> list[str]:
    """The paths `ldd` resolves for `binary` (the loader included, the vDSO left out)."""
    output = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in output.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].split("(")[0].strip()
            if target:
                paths.append(target)
        elif line.startswith("/"):
            paths.append(line.split("(")[0].strip())
    return paths


def make_root(root: str) -> list[str]:
    """Fills `root` with the binary and its libraries; returns the library paths."""
    libs = libraries(BINARY)
    for path in libs:
        destination = root + path
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(os.path.realpath(path), destination)
    os.makedirs(root + "/usr/local/bin", exist_ok=True)
    shutil.copy2(BINARY, root + "/usr/local/bin/gatehouse")
    os.makedirs(root + "/etc/gatehouse", exist_ok=True)
    return libs


def write(root: str, path: str, text: str, mode: int = 0o644) -> None:
    destination = root + path
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    with open(destination, "w") as handle:
        handle.write(text)
    os.chmod(destination, mode)


def open_up(root: str) -> None:
    """Folders 0755 and files readable by all, as image layers and read-only mounts are."""
    for folder, names, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)


class Root:
    """Starts gatehouse processes inside the root as the image does."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.drops_privileges = os.getuid() == 0 and not os.environ.get("CONTAINER_CHECK_USERNS")

    def _enter(self, cwd: str):
        def enter() -> None:
            os.chroot(self.path)
            os.chdir(cwd)
            if self.drops_privileges:
                os.setgroups([])
                os.setgid(IMAGE_UID)
                os.setuid(IMAGE_UID)

        return enter

    def start(self, args: list[str], cwd: str = "/etc/gatehouse", env: dict | None = None, stdout=None, stderr=None):
        return subprocess.Popen(
            ["/usr/local/bin/gatehouse", *args],
            preexec_fn=self._enter(cwd),
            env={**IMAGE_ENV, **(env or {})},
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=stderr if stderr is not None else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def run(self, args: list[str], cwd: str = "/etc/gatehouse", env: dict | None = None, timeout: float = 20):
        process = self.start(args, cwd=cwd, env=env)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            fail(f"gatehouse {' '.join(args)} did not finish in {timeout}s\n{out}\n{err}")
        return process.returncode, out, err


# ---------------------------------------------------------------------------------------------
# Loopback helpers outside the root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream(http.server.ThreadingHTTPServer):
    """A stand-in MCP server: answers every POST with a JSON-RPC result that reports what it saw."""

    daemon_threads = True
    seen: list[dict]


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body leave in separate writes; with Nagle on, the body waits for a delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": {"from": "upstream"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        body = b"not json"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_upstream() -> Upstream:
    server = Upstream(("127.0.0.1", 0), UpstreamHandler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def garbage_server() -> tuple[socket.socket, int]:
    """Answers any connection with bytes that are not HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            try:
                connection.recv(4096)
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            finally:
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def silent_server() -> tuple[socket.socket, int]:
    """Accepts into the backlog and never answers (a hung process)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener, listener.getsockname()[1]


def make_certificate(folder: str) -> tuple[str, str]:
    cert, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    return cert, key


def rss_kib(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                values[name] = int(rest.split()[0])
    return values


# ---------------------------------------------------------------------------------------------


def main() -> int:
    work = tempfile.mkdtemp(prefix="gatehouse-container-")
    root_path = os.path.join(work, "root")
    os.makedirs(root_path)
    process = None
    proc = ""
    try:
        libs = make_root(root_path)
        certificates = os.path.join(work, "certs")
        os.makedirs(certificates)
        cert, key = make_certificate(certificates)
        os.makedirs(root_path + "/etc/gatehouse/tls", exist_ok=True)
        shutil.copy(cert, root_path + "/etc/gatehouse/tls/tls.crt")
        shutil.copy(key, root_path + "/etc/gatehouse/tls/tls.key")

        upstream = start_upstream()
        gateway_port, admin_port = free_port(), free_port()
        digest = hashlib.sha256(API_KEY.encode()).hexdigest()
        config = f"""
[server]
listen = "127.0.0.1:{gateway_port}"
drain_timeout = "5s"

[tls]
cert = "/etc/gatehouse/tls/tls.crt"
key = "/etc/gatehouse/tls/tls.key"

[upstream]
url = "http://127.0.0.1:{upstream.server_address[1]}"

[auth]
api_keys = ["sha256:{digest}"]

[rate_limit]
capacity = 100000
refill_per_second = 100000

[admin]
listen = "127.0.0.1:{admin_port}"
"""
        write(root_path, "/etc/gatehouse/gateway.conf", config)
        write(root_path, "/broken/gateway.conf", config + "\n[server2]\nlisten = 1\n")
        stage_compose(root_path)
        example = stage_example(root_path, digest)
        kubernetes_env = stage_kubernetes(root_path, cert, key)
        open_up(root_path)
        root = Root(root_path)
        contents = sorted(
            os.path.relpath(os.path.join(folder, name), root_path)
            for folder, _, names in os.walk(root_path)
            for name in names
        )
        # Every container runtime mounts /proc, and the binary needs it: the static Swift runtime reads
        # its arguments from /proc/self/cmdline (without it CommandLine.arguments is empty).
        proc = mount_proc(root_path)
        print(f"empty root ({'as uid 10001' if root.drops_privileges else 'in a user namespace'}): "
              f"the binary and {len(libs)} libraries from ldd: {', '.join(os.path.basename(p) for p in libs)}")

        code, out, err = root.run(["--version"])
        expect(code == 0 and out.startswith("gatehouse "), f"--version: {out.strip()}", err)
        code, out, _ = root.run(["--help"])
        expect(code == 0 and "gatehouse probe URL" in out, "--help lists probe")
        code, out, _ = root.run(["probe", "--help"])
        expect(code == 0 and "--insecure" in out, "probe --help")

        code, out, err = root.run(["check"])
        expect(code == 0 and "gateway.conf is valid" in out, "check: ./gateway.conf in the WORKDIR is valid", out + err)
        code, out, err = root.run(["check"], cwd="/broken")
        expect(code == 2 and err.startswith("gatehouse: error: gateway.conf:") and "server2" in err,
               "check: an unknown table is refused with file, line and key (exit 2)", f"{code} {err}")
        env_only = {
            "MCP_API_KEYS": f"sha256:{digest}",
            "MCP_TLS_CERT_PATH": "/etc/gatehouse/tls/tls.crt",
            "MCP_TLS_KEY_PATH": "/etc/gatehouse/tls/tls.key",
            "GATEHOUSE_UPSTREAM": "http://127.0.0.1:8000",
        }
        code, out, err = root.run(["check"], cwd="/", env=env_only)
        expect(code == 0 and "environment and defaults" in out, "check: the environment alone configures it", out + err)
        code, out, err = root.run(["check"], cwd="/", env={})
        expect(code == 2 and "gatehouse: error:" in err, "check: no file and no environment is refused (exit 2)", err)

        compose_env = dict(line.strip().split("=", 1) for line in open(os.path.join(SECRETS, "gatehouse.env")) if "=" in line)
        code, out, err = root.run(["check"], cwd="/checks/compose", env=compose_env)
        expect(code == 0, "check: docker/config/gateway.conf with the compose secrets at /run/secrets", out + err)
        code, out, err = root.run(["check"], cwd="/checks/kubernetes", env=kubernetes_env)
        expect(code == 0, "check: the ConfigMap's gateway.conf with the Secrets where the Deployment mounts them", out + err)

        logs = open(os.path.join(work, "gateway.log"), "w+")
        process = root.start(["run"], stdout=logs, stderr=subprocess.STDOUT)
        health = ["probe", "--timeout", "2s", f"http://127.0.0.1:{admin_port}/healthz"]
        deadline = time.monotonic() + 15
        while True:
            code, out, err = root.run(health)
            if code == 0 or time.monotonic() > deadline or process.poll() is not None:
                break
            time.sleep(0.2)
        logs.seek(0)
        expect(code == 0, f"HEALTHCHECK command: gatehouse {' '.join(health)} -> {out.strip()}", err + logs.read())
        code, out, err = root.run(["probe", f"http://127.0.0.1:{admin_port}/readyz"])
        expect(code == 0, "probe /readyz: the upstream accepts connections", out + err)

        context = ssl.create_default_context(cafile=cert)
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"})
        connection = http.client.HTTPSConnection("127.0.0.1", gateway_port, context=context, timeout=10)
        connection.request("POST", "/mcp", body=body, headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream"})
        response = connection.getresponse()
        answer = response.read()
        expect(response.status == 200 and json.loads(answer).get("result") == {"from": "upstream"},
               "an authenticated MCP request reaches the upstream through TLS", f"{response.status} {answer!r}")
        seen = upstream.seen[-1]
        expect("authorization" not in seen and seen.get("x-gatehouse-principal", "").startswith("key:"),
               "the upstream sees the principal, not the credential", str(seen))
        expect(response.getheader("X-Content-Type-Options") == "nosniff", "security headers on the answer")
        connection.request("POST", "/mcp", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        expect(response.status == 401 and json.loads(answer)["error"] == "Missing Authorization header",
               "a request without a credential gets 401", f"{response.status} {answer!r}")
        connection.close()

        gateway_health = f"https://127.0.0.1:{gateway_port}/healthz"
        code, out, err = root.run(["probe", "--cacert", "/etc/gatehouse/tls/tls.crt", gateway_health])
        expect(code == 0 and out.startswith("200 "), "probe https with --cacert: 200, exit 0", out + err)
        code, out, err = root.run(["probe", "--insecure", gateway_health])
        expect(code == 0, "probe https --insecure: exit 0", out + err)
        code, out, err = root.run(["probe", gateway_health])
        expect(code == 1 and "certificate" in err.lower(),
               "probe https without a trust anchor (the root has no CA store): verification fails, exit 1", err)
        code, out, err = root.run(["probe", "--insecure", f"https://127.0.0.1:{gateway_port}/mcp"])
        expect(code == 1 and out.startswith("401 "), "probe of a 401 answer: exit 1", out + err)
        code, out, err = root.run(["probe", f"http://127.0.0.1:{free_port()}/healthz"])
        expect(code == 1 and "refused" in err.lower(), "probe of a closed port: refused, exit 1", err)
        silent, silent_port = silent_server()
        started = time.monotonic()
        code, out, err = root.run(["probe", "--timeout", "500ms", f"http://127.0.0.1:{silent_port}/"])
        elapsed = time.monotonic() - started
        silent.close()
        expect(code == 1 and "timed out" in err and elapsed < 3, f"probe of a silent server: timed out after {elapsed:.1f}s, exit 1", err)
        garbage, garbage_port = garbage_server()
        code, out, err = root.run(["probe", f"http://127.0.0.1:{garbage_port}/"])
        garbage.close()
        expect(code == 1 and "not HTTP" in err, "probe of a non-HTTP answer: exit 1", err)
        code, out, err = root.run(["probe", f"https://127.0.0.1:{admin_port}/healthz", "--insecure", "--timeout", "2s"])
        expect(code == 1, "probe https against a plain listener: handshake fails, exit 1", err)
        for args, what in [
            ([], "no URL"),
            (["ftp://127.0.0.1/"], "another scheme"),
            (["http://127.0.0.1:99999/"], "a bad port"),
            (["--timeout", "soon", "http://127.0.0.1/"], "a bad --timeout"),
            (["--insecure", "--cacert", "/x", "https://127.0.0.1/"], "--insecure with --cacert"),
            (["--verbose", "http://127.0.0.1/"], "an unknown option"),
            (["http://127.0.0.1/", "http://127.0.0.2/"], "two URLs"),
        ]:
            code, out, err = root.run(["probe", *args])
            expect(code == 2 and err.startswith("gatehouse: error:"), f"probe with {what}: usage error, exit 2", f"{code} {err}")

        # A burst over a few keep-alive connections, then the resident memory (Kubernetes requests).
        before = rss_kib(process.pid)
        started = time.monotonic()
        requests = 0
        for _ in range(4):
            connection = http.client.HTTPSConnection("127.0.0.1", gateway_port, context=context, timeout=10)
            for _ in range(100):
                connection.request("POST", "/mcp", body=body, headers={
                    "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    fail(f"burst request answered {response.status}")
                requests += 1
            connection.close()
        seconds = time.monotonic() - started
        after = rss_kib(process.pid)
        expect(True, f"{requests} requests in {seconds:.2f}s; RSS {before['VmRSS'] // 1024} MiB at start, "
                     f"{after['VmRSS'] // 1024} MiB after (peak {after['VmHWM'] // 1024} MiB, {after['Threads']} threads)")

        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        code, out, err = root.run(health)
        logs.seek(0)
        log_text = logs.read()
        expect(code == 0 and process.poll() is None and "config_reloaded" in log_text,
               "SIGHUP reloads and the gateway stays healthy", err + log_text[-2000:])

        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            fail("SIGTERM: still running after 15s")
        expect(exit_code == 0, f"SIGTERM drains and exits 0 (exit {exit_code})")
        process = None

        if example:
            check_example_server(root, example, context)
        else:
            print("  --  the example MCP server leg is skipped: no .venv-e2e with the MCP SDK 2.x (make e2e makes it)")

        with open(REPORT, "w") as handle:
            json.dump({
                "libraries": [os.path.basename(p) for p in libs],
                "root_files": contents,
                "rss_start_kib": before["VmRSS"], "rss_after_kib": after["VmRSS"], "rss_peak_kib": after["VmHWM"],
                "threads": after["Threads"], "requests": requests, "seconds": round(seconds, 3),
            }, handle, indent=1)
        print(f"empty root: {CHECKS} checks passed")
        return 0
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if proc:
            subprocess.run(["umount", "-l", proc], check=False)
        if not os.path.ismount(os.path.join(root_path, "proc")):
            shutil.rmtree(work, ignore_errors=True)


def mount_proc(root: str) -> str:
    """Mounts proc at ROOT/proc (a fresh instance; a bind of the host's in a user namespace). The caller
    runs in its own mount namespace (unshare --mount), so nothing leaks to the host."""
    target = os.path.join(root, "proc")
    os.makedirs(target, exist_ok=True)
    for command in (["mount", "-t", "proc", "proc", target], ["mount", "--rbind", "/proc", target]):
        if subprocess.run(command, capture_output=True).returncode == 0:
            return target
    fail("cannot mount /proc in the empty root (run as root, or where unshare --user works)")


def sdk_python() -> str | None:
    """The e2e suite's venv interpreter when it has the MCP SDK 2.x the example server is written for."""
    python = os.path.join(REPO, ".venv-e2e", "bin", "python")
    if os.path.exists(python) and subprocess.run([python, "-c", "import mcp.server.mcpserver"], capture_output=True).returncode == 0:
        return python
    return None


def stage_example(root: str, digest: str) -> dict | None:
    """A gateway configuration in front of docker/example-server/server.py (run outside the root)."""
    python = sdk_python()
    if python is None:
        return None
    ports = {"python": python, "server": free_port(), "gateway": free_port(), "admin": free_port()}
    write(root, "/checks/example/gateway.conf", f"""
[server]
listen = "127.0.0.1:{ports['gateway']}"
[tls]
cert = "/etc/gatehouse/tls/tls.crt"
key = "/etc/gatehouse/tls/tls.key"
[upstream]
url = "http://127.0.0.1:{ports['server']}"
[auth]
api_keys = ["sha256:{digest}"]
[admin]
listen = "127.0.0.1:{ports['admin']}"
""")
    return ports


def mcp_post(port: int, context, message: dict, session: str | None) -> tuple[int, dict | None, str | None]:
    """POSTs one JSON-RPC message through the gateway; returns the status, the JSON-RPC answer (from a
    JSON body or the first SSE data line) and the session id."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=20)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    if session:
        headers["Mcp-Session-Id"] = session
    connection.request("POST", "/mcp", body=json.dumps(message), headers=headers)
    response = connection.getresponse()
    body = response.read().decode()
    session = response.getheader("Mcp-Session-Id") or session
    connection.close()
    answer = None
    if response.getheader("Content-Type", "").startswith("text/event-stream"):
        for line in body.splitlines():
            if line.startswith("data:") and line[5:].strip():
                answer = json.loads(line[5:])
                break
    elif body.strip():
        answer = json.loads(body)
    return response.status, answer, session


def check_example_server(root: Root, ports: dict, context) -> None:
    """docker/example-server/server.py behind the gateway from the empty root: initialize, then tools/call."""
    server = subprocess.Popen(
        [ports["python"], os.path.join(REPO, "docker", "example-server", "server.py"), "--port", str(ports["server"])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    gateway = root.start(["run"], cwd="/checks/example", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            code, _, err = root.run(["probe", "--timeout", "1s", f"http://127.0.0.1:{ports['admin']}/readyz"])
            if code == 0 or time.monotonic() > deadline or server.poll() is not None or gateway.poll() is not None:
                break
            time.sleep(0.3)
        expect(code == 0, "the example MCP server is ready behind the gateway (probe /readyz)", err)
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "container-check", "version": "0"}}}
        status, answer, session = mcp_post(ports["gateway"], context, initialize, None)
        name = ((answer or {}).get("result") or {}).get("serverInfo", {}).get("name")
        expect(status == 200 and name == "gatehouse-example", f"initialize through the gateway: serverInfo {name}", f"{status} {answer}")
        mcp_post(ports["gateway"], context, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}
        status, answer, _ = mcp_post(ports["gateway"], context, call, session)
        text = json.dumps((answer or {}).get("result", {}))
        expect(status == 200 and '"5"' in text, "tools/call add(2, 3) on the example server answers 5", f"{status} {answer}")
    finally:
        for process in (gateway, server):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stage_compose(root: str) -> None:
    """docker/config/gateway.conf and the secrets where compose.yaml mounts them."""
    with open(os.path.join(REPO, "docker", "compose.yaml")) as handle:
        compose = yaml.safe_load(handle)
    with open(os.path.join(REPO, "docker", "config", "gateway.conf")) as handle:
        write(root, "/checks/compose/gateway.conf", handle.read())
    for name, secret in compose["secrets"].items():
        source = os.path.join(SECRETS, os.path.basename(secret["file"]))
        with open(source) as handle:
            write(root, f"/run/secrets/{name}", handle.read())


def stage_kubernetes(root: str, cert: str, key: str) -> dict:
    """The ConfigMap's gateway.conf and test values for the Secrets, at the Deployment's mount paths.
    Returns the environment the Deployment sets from Secrets."""
    folder = os.path.join(REPO, "docker", "kubernetes")
    documents = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            documents += [d for d in yaml.safe_load_all(handle) if d]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    gateway = next(c for c in spec["containers"] if c["name"] == "gatehouse")
    volumes = {v["name"]: v for v in spec["volumes"]}
    test_values = {
        "tls.crt": open(cert).read(),
        "tls.key": open(key).read(),
        "api_keys": f"sha256:{hashlib.sha256(API_KEY.encode()).hexdigest()} name=container-check\n",
        "jwt-secret": "k8s-" + "s" * 40,
    }
    for mount in gateway["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            config_map = next(d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"])
            write(root, "/checks/kubernetes/gateway.conf", config_map["data"]["gateway.conf"])
        elif "secret" in volume:
            secret = next(d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == volume["secret"]["secretName"])
            keys = volume["secret"].get("items") or [{"key": k, "path": k} for k in secret["stringData"]]
            for item in keys:
                write(root, os.path.join(mount["mountPath"], item["path"]), test_values[item["key"]])
    env = {}
    for variable in gateway.get("env", []):
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        env[variable["name"]] = test_values[reference["key"]] if reference else variable["value"]
    return env


if __name__ == "__main__":
    sys.exit(main())
