"""Certificates and TLS gateways for the TLS end-to-end tests (test_tls.py).

- `PKI`: a test CA, a foreign CA and the leaf certificates the tests need, made with the openssl CLI
  into a temporary folder (EC P-256 unless asked for RSA 2048, 30 days, so that Mozilla's
  "intermediate" profile accepts them).
- `TLSGateway`: `gatehouse run` with a `[tls]` section (support.Gateway writes `require_https = false`
  and cannot take one), health-checked over HTTPS.
- `TLSConn`: rawhttp.Conn over Python's ssl, so the byte-exact client and mcp_raw work over HTTPS.
- `s_client(...)`: one `openssl s_client` session, bounded, with the output to assert on.
- `TLSForwarder`: a TLS-terminating stub in front of a plain upstream (for `upstream.url = "https://…"`),
  recording the SNI names and handshake failures it saw.
- `run_until_exit(...)`: a `gatehouse` command that is expected to stop by itself (refusals, exit 2).

Every process binds 127.0.0.1 on a port chosen at run time, every wait is bounded, and every process
started here is a support.Managed (killed by pid in teardown or at interpreter exit).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import rawhttp
import support
from support import GATEHOUSE_BIN, GATEWAY_ENV_VARS, Gateway, Managed, free_port, wait_until

OPENSSL = shutil.which("openssl") or "openssl"
CURL = shutil.which("curl") or "curl"
REPO = support.REPO
EXAMPLE_CONFIG = REPO / "gateway.conf.example"

# The product's defaults (PRODUCT.md §2 [tls] and [headers]).
DEFAULT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS"
DEFAULT_HSTS = "max-age=31536000; includeSubDomains"
HTTPS_REQUIRED = "TLS certificate and key paths required when HTTPS is enabled"

_names = itertools.count(1)


def unique(name: str) -> str:
    """`name` with a number that no other gateway of this run has (config and log file names)."""
    return f"{name}-{next(_names)}"


def clean_env(extra: dict | None = None) -> dict:
    """The environment without the variables the gateway reads, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_ENV_VARS}
    env.update(extra or {})
    return env


# --- certificates (openssl CLI) -------------------------------------------------------------------


def openssl(*args: str, cwd: Path | None = None, stdin: bytes = b"") -> str:
    """Run the openssl CLI (bounded); raise with its output when it fails."""
    proc = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True, timeout=60, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode(errors="replace")


def pem_fingerprint(pem_path: Path) -> str:
    """SHA-256 (hex) of the DER of the first certificate in a PEM file."""
    text = pem_path.read_text()
    first = text[text.index("-----BEGIN CERTIFICATE-----"):text.index("-----END CERTIFICATE-----") + 25]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


@dataclass(frozen=True)
class Leaf:
    """A certificate (PEM, the leaf alone) and its private key, with what identifies it."""

    name: str
    cert: Path
    key: Path
    serial: int
    fingerprint: str          # sha256 of the DER, lower-case hex

    def install(self, cert_path: Path, key_path: Path) -> None:
        """Write this pair over the files at `cert_path` / `key_path` (what an operator does before SIGHUP)."""
        cert_path.write_bytes(self.cert.read_bytes())
        key_path.write_bytes(self.key.read_bytes())


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its certificate (the trust anchor to give clients) and key."""

    name: str
    cert: Path
    key: Path


class PKI:
    """The certificates of the TLS tests, made with the openssl CLI under `directory`:

    - `ca`: "Gatehouse E2E Test CA"; `foreign_ca`: an unrelated CA with the same kind of name;
    - `server`: EC P-256, SAN DNS:localhost + IP:127.0.0.1; `server_rsa`: the same with RSA 2048;
    - `client`: signed by `ca`, SAN URI:spiffe://gatehouse.test/agent-one (the mTLS principal);
    - `client_cn`: signed by `ca`, no SAN, CN "cn-only-agent";
    - `foreign_client`: signed by `foreign_ca`, SAN URI:spiffe://gatehouse.test/agent-one (same name, wrong CA).
    More with `issue(...)`.
    """

    CLIENT_PRINCIPAL = "spiffe://gatehouse.test/agent-one"
    CLIENT_CN_PRINCIPAL = "cn-only-agent"

    def __init__(self, directory: Path):
        if shutil.which(OPENSSL) is None:
            raise RuntimeError("the TLS tests make their certificates with the openssl CLI: install it "
                               "(Debian: apt-get install openssl)")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = self.authority("ca", "Gatehouse E2E Test CA")
        self.foreign_ca = self.authority("foreign-ca", "Gatehouse E2E Foreign CA")
        self.server = self.issue("server")
        self.server_rsa = self.issue("server-rsa", key_type="rsa")
        self.client = self.issue("client", usage="client", cn="agent-one", sans=[f"URI:{self.CLIENT_PRINCIPAL}"])
        self.client_cn = self.issue("client-cn", usage="client", cn=self.CLIENT_CN_PRINCIPAL, sans=[])
        self.foreign_client = self.issue("foreign-client", usage="client", cn="agent-one",
                                         sans=[f"URI:{self.CLIENT_PRINCIPAL}"], ca=self.foreign_ca)

    def _key(self, path: Path, key_type: str) -> None:
        if key_type == "ec":
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
        elif key_type == "rsa":
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
        else:
            raise ValueError(key_type)
        path.chmod(0o600)

    def authority(self, name: str, cn: str, days: int = 30) -> Authority:
        key = self.directory / f"{name}.key"
        cert = self.directory / f"{name}.pem"
        self._key(key, "ec")
        openssl("req", "-x509", "-new", "-key", str(key), "-sha256", "-days", str(days), "-subj", f"/CN={cn}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(cert))
        return Authority(name, cert, key)

    def issue(
        self,
        name: str,
        *,
        usage: str = "server",
        key_type: str = "ec",
        cn: str = "localhost",
        sans: list[str] | None = None,
        ca: Authority | None = None,
        days: int = 30,
        directory: Path | None = None,
    ) -> Leaf:
        """A leaf certificate signed by `ca` (default: the test CA) with a random serial. `usage` is
        "server" (default SANs DNS:localhost, IP:127.0.0.1) or "client"."""
        ca = ca or self.ca
        where = directory or self.directory
        where.mkdir(parents=True, exist_ok=True)
        key = where / f"{name}.key"
        cert = where / f"{name}.pem"
        csr = where / f"{name}.csr"
        ext = where / f"{name}.ext"
        self._key(key, key_type)
        if sans is None:
            sans = ["DNS:localhost", "IP:127.0.0.1"] if usage == "server" else []
        usage_bits = "digitalSignature,keyEncipherment" if key_type == "rsa" else "digitalSignature"
        lines = [
            "basicConstraints = critical,CA:FALSE",
            f"keyUsage = critical,{usage_bits}",
            f"extendedKeyUsage = {'serverAuth' if usage == 'server' else 'clientAuth'}",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ]
        if sans:
            lines.append("subjectAltName = " + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        serial = secrets.randbits(62) | (1 << 62)
        openssl("req", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-out", str(csr))
        openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
                "-set_serial", hex(serial), "-days", str(days), "-sha256", "-extfile", str(ext), "-out", str(cert))
        return Leaf(name, cert, key, serial, pem_fingerprint(cert))


# --- TLS clients ---------------------------------------------------------------------------------


def client_context(
    ca: Path | None,
    cert: Leaf | None = None,
    *,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
    alpn: list[str] | None = ("http/1.1",),
) -> ssl.SSLContext:
    """A client context that trusts `ca` only (hostname checked), optionally presenting `cert`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        ctx.load_verify_locations(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class TLSConn(rawhttp.Conn):
    """rawhttp.Conn over TLS: the handshake happens in the constructor (an ssl error propagates)."""

    def __init__(self, port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1",
                 server_hostname: str = "127.0.0.1", timeout: float = 10.0):
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("rb", buffering=65536)
        self.host = host
        self.port = port

    @property
    def peer_fingerprint(self) -> str:
        return hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()

    @property
    def peer_serial(self) -> int:
        return int(self.sock.getpeercert()["serialNumber"], 16)

    @property
    def version(self) -> str | None:
        return self.sock.version()

    @property
    def cipher(self) -> str | None:
        c = self.sock.cipher()
        return c[0] if c else None

    @property
    def alpn(self) -> str | None:
        return self.sock.selected_alpn_protocol()

    def get(self, path: str, headers: dict | None = None) -> rawhttp.Response:
        self.send(rawhttp.request_bytes("GET", path, headers or {}, host=self.authority))
        return self.read_response()


def https_get(port: int, ctx: ssl.SSLContext, path: str = "/healthz", headers: dict | None = None,
              timeout: float = 10.0) -> rawhttp.Response:
    """One GET over a fresh TLS connection."""
    with TLSConn(port, ctx, timeout=timeout) as conn:
        return conn.get(path, headers)


def request_outcome(port: int, ctx: ssl.SSLContext, path: str = "/healthz", headers: dict | None = None,
                    timeout: float = 10.0) -> str:
    """What a client gets when it tries GET `path`: "http <status>", or the failure: "handshake: …"
    (the handshake itself failed), "refused after handshake: …" (TLS 1.3 reports a refused client
    certificate on the first read), "closed" (EOF with no answer)."""
    try:
        conn = TLSConn(port, ctx, timeout=timeout)
    except (ssl.SSLError, OSError) as e:
        return f"handshake: {e!r}"
    try:
        try:
            resp = conn.get(path, headers)
        except ConnectionError as e:
            return f"closed: {e!r}"
        except (ssl.SSLError, OSError) as e:
            return f"refused after handshake: {e!r}"
        return f"http {resp.status}"
    finally:
        conn.close()


@dataclass
class SClient:
    """One `openssl s_client` run."""

    argv: list[str]
    returncode: int
    output: str               # stdout and stderr together

    @property
    def handshake_ok(self) -> bool:
        return self.returncode == 0 and ("New, TLSv1" in self.output) and "Verify return code: 0 (ok)" in self.output

    def field(self, pattern: str) -> str | None:
        m = re.search(pattern, self.output)
        return m.group(1) if m else None

    @property
    def protocol(self) -> str | None:
        return self.field(r"New, (TLSv1(?:\.\d)?), Cipher is ")

    @property
    def cipher(self) -> str | None:
        return self.field(r"New, TLSv1(?:\.\d)?, Cipher is (\S+)")

    @property
    def alpn(self) -> str | None:
        if "No ALPN negotiated" in self.output:
            return None
        return self.field(r"ALPN protocol: (\S+)")

    def __repr__(self) -> str:
        return f"<s_client exit {self.returncode}: {' '.join(self.argv)}\n{self.output[-4000:]}>"


def s_client(port: int, ca: Path, *args: str, send: bytes = b"", timeout: float = 20.0) -> SClient:
    """`openssl s_client` to 127.0.0.1:port trusting `ca` (chain and IP verified, failures fatal), with
    `args`. `send` is written after the handshake (with -ign_eof so the answer is read until the server
    closes); with nothing to send, s_client closes after the handshake. OPENSSL_CONF is emptied so that
    the system's MinProtocol/SECLEVEL cannot stop the client from offering what a test asks for."""
    argv = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca),
            "-verify_return_error", "-verify_ip", "127.0.0.1", *args]
    if send:
        argv.append("-ign_eof")
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    try:
        proc = subprocess.run(argv, input=send, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return SClient(argv, -1, out.decode(errors="replace") + "\n[timed out]")
    return SClient(argv, proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace"))


def client_hello_bytes() -> bytes:
    """The bytes of a real TLS ClientHello (Python's ssl through memory BIOs, nothing sent anywhere)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, hello[:16]
    return hello


# --- configuration and the gateway ----------------------------------------------------------------


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, Path):
        return json.dumps(str(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def render_tls_config(
    port: int,
    upstream_url: str,
    api_keys: list[str],
    *,
    tls: dict,
    server: dict | None = None,
    upstream: dict | None = None,
    auth: dict | None = None,
    extra: str = "",
) -> str:
    """A test configuration with a [tls] section: 127.0.0.1:<port>, no rate limit, no admin listener.
    Each dict holds keys of its table (values as Python values)."""
    tables = {
        "server": {"listen": f"127.0.0.1:{port}", "drain_timeout": "5s", **(server or {})},
        "tls": dict(tls),
        "upstream": {"url": upstream_url, "response_timeout": "5s", **(upstream or {})},
        "auth": {"api_keys": list(api_keys), **(auth or {})},
        "rate_limit": {"enabled": False},
        "admin": {"listen": ""},
    }
    out = ["# written by the Gatehouse TLS end-to-end tests"]
    for table, values in tables.items():
        out.append(f"\n[{table}]")
        out += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(out) + "\n" + extra


class TLSGateway(Gateway):
    """`gatehouse run --config <file>` with TLS on 127.0.0.1:<free port>; healthy once GET /healthz
    answers 200 over HTTPS (presenting `health_cert` when the gateway requires a client certificate)."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        *,
        upstream_url: str,
        api_keys: list[str],
        ca: Path,
        tls: dict,
        server: dict | None = None,
        upstream: dict | None = None,
        auth: dict | None = None,
        extra: str = "",
        health_cert: Leaf | None = None,
        wait_healthy: bool = True,
        config_text: str | None = None,
        port: int | None = None,
    ):
        if not Path(GATEHOUSE_BIN).exists():
            raise FileNotFoundError(
                f"gateway binary {GATEHOUSE_BIN} not found: build it (swift build) or set GATEHOUSE_BIN")
        self.port = port or free_port()
        self.upstream_url = upstream_url
        self.ca = ca
        self.health_cert = health_cert
        self.config_path = workdir / f"gateway-{name}.conf"
        if config_text is None:
            config_text = render_tls_config(self.port, upstream_url, api_keys, tls=tls, server=server,
                                            upstream=upstream, auth=auth, extra=extra)
        self.config_path.write_text(config_text)
        Managed.__init__(
            self, f"gateway-{name}", [GATEHOUSE_BIN, "run", "--config", str(self.config_path)],
            workdir / f"gateway-{name}.log", env=clean_env(), cwd=workdir,
        )
        if wait_healthy:
            try:
                wait_until(lambda: not self.alive() or self.healthy(), 20, what=f"gateway {name} /healthz over TLS")
            except TimeoutError:
                self.stop()
                raise
            if not self.alive():
                raise RuntimeError(f"gateway {name} exited with {self.proc.returncode}:\n{self.tail()}")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def context(self, cert: Leaf | None = None, **kwargs) -> ssl.SSLContext:
        """A client context trusting this gateway's CA."""
        return client_context(self.ca, cert, **kwargs)

    def connect(self, cert: Leaf | None = None, timeout: float = 10.0, **kwargs) -> TLSConn:
        return TLSConn(self.port, self.context(cert, **kwargs), timeout=timeout)

    def healthy(self) -> bool:
        try:
            return https_get(self.port, self.context(self.health_cert), timeout=2).status == 200
        except (OSError, ValueError, ssl.SSLError):
            return False

    def events(self, kind: str) -> list[dict]:
        """Security events of this `kind` (details.kind) in the log so far."""
        return [e for e in self.log_events() if (e.get("details") or {}).get("kind") == kind]


@dataclass
class Exit:
    """How a command that had to stop by itself ended."""

    code: int | None          # None: still running at the deadline (then killed)
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("gatehouse: error:")]


def run_until_exit(args: list[str], env: dict | None = None, cwd: Path | None = None, timeout: float = 15.0) -> Exit:
    """Run `gatehouse <args>` expecting it to stop by itself within `timeout` s (killed otherwise)."""
    proc = subprocess.Popen([GATEHOUSE_BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env if env is not None else clean_env(),
                            cwd=str(cwd) if cwd else None, preexec_fn=support._die_with_parent)
    try:
        out, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        code = None
    return Exit(code, out.decode(errors="replace"), err.decode(errors="replace"))


# --- sslyze ---------------------------------------------------------------------------------------

# sslyze 6.3.1 needs cryptography<47, while requirements-v2.txt pins cryptography==50.0.2 (needed by
# nothing in that venv): until that pin moves, the suite's venv cannot hold sslyze, and this private
# venv (made on first use, reused while its stamp matches) stands in for it.
SSLYZE_PIN = "sslyze==6.3.1"
SSLYZE_VENV = REPO / ".venv-e2e-sslyze"


def _has_sslyze(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import sslyze"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sslyze_python() -> str:
    """An interpreter that can run `python -m sslyze`: $E2E_SSLYZE_PYTHON, the suite's own venv, or
    .venv-e2e-sslyze at the repository root (made with pip from PyPI when missing or stale)."""
    import fcntl
    import sys

    for python in (os.environ.get("E2E_SSLYZE_PYTHON"), sys.executable):
        if python and _has_sslyze(python):
            return python
    python = str(SSLYZE_VENV / "bin" / "python")
    stamp = SSLYZE_VENV / ".e2e-stamp"
    want = f"{SSLYZE_PIN} {sys.version}"
    with open(REPO / ".venv-e2e-sslyze.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # another run of the suite may be making it right now
        if stamp.exists() and stamp.read_text() == want and _has_sslyze(python):
            return python
        shutil.rmtree(SSLYZE_VENV, ignore_errors=True)
        steps = [[sys.executable, "-m", "venv", str(SSLYZE_VENV)],
                 [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q", SSLYZE_PIN]]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, timeout=500)
            if proc.returncode != 0:
                shutil.rmtree(SSLYZE_VENV, ignore_errors=True)
                raise RuntimeError(f"cannot make {SSLYZE_VENV} for sslyze: {' '.join(argv)} exited {proc.returncode}:\n"
                                   f"{(proc.stdout + proc.stderr).decode(errors='replace')[-3000:]}")
        stamp.write_text(want)
    return python


# --- an https upstream ----------------------------------------------------------------------------


class TLSForwarder:
    """Terminates TLS on 127.0.0.1:<free port> with `leaf` and forwards the bytes to a plain upstream
    on 127.0.0.1:`target_port` (asyncio in a thread of its own). Records the SNI names the clients sent,
    the completed handshakes and the failed ones."""

    def __init__(self, target_port: int, leaf: Leaf):
        self.target_port = target_port
        self.server_names: list[str | None] = []
        self.handshakes = 0
        self.failures: list[str] = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
        ctx.sni_callback = self._sni
        self._ctx = ctx
        self._tasks: set[asyncio.Task] = set()
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="tls-forwarder")
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self._server = fut.result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    def _sni(self, sslobj, server_name, sslctx) -> None:
        self.server_names.append(server_name)

    def _loop_error(self, loop, context) -> None:
        self.failures.append(str(context.get("exception") or context.get("message")))

    async def _start(self):
        return await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ctx, ssl_handshake_timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        self.handshakes += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), 5)
        except (OSError, asyncio.TimeoutError) as e:
            self.failures.append(f"upstream connect: {e!r}")
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                try:
                    if dst.can_write_eof():
                        dst.write_eof()
                    else:
                        dst.close()
                except (OSError, RuntimeError):
                    pass

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                try:
                    w.close()
                except Exception:  # noqa: BLE001 - closing a transport that is already gone
                    pass
            self._tasks.discard(asyncio.current_task())

    def close(self) -> None:
        async def shut():
            self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
