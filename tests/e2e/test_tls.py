"""TLS end to end (issue 3): the built gateway terminating HTTPS, seen by independent clients.

- openssl s_client: TLS 1.0/1.1 refused, 1.2/1.3 accepted with the configured suites (the negotiated
  cipher checked), ALPN http/1.1; sslyze with Mozilla's "intermediate" profile on gateway.conf.example;
- curl (--cacert), Python's ssl client and the 2.x SDK client (httpx trusting the test CA) through to
  a real SDK server; HSTS on HTTPS answers, X-Forwarded-Proto https at the upstream;
- client certificates: `require` (a CA-signed certificate authenticates without an API key; a missing
  or foreign one fails the handshake), `optional` (falls back to the API key);
- SIGHUP: a new certificate for new connections while an old keep-alive connection carries on; a bad
  new pair is rejected and the old one kept; the handshake timeout; start-up refusals (exit 2);
- `gatehouse demo` over HTTPS without the openssl CLI; an https upstream (ca_file, SNI, hostname
  check, wrong CA -> 502, tls_verify=false only on loopback).

Certificates come from the openssl CLI (tls_support.PKI). Every process binds 127.0.0.1 on a port
chosen at run time and is stopped by pid in teardown; every wait is bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import anyio
import pytest

import conftest
import rawhttp
from client_v2 import UNICODE_TEXT, text_of
from mcp_raw import initialize, post_rpc, result_text, tool_call
from support import EchoUpstream, Managed, free_port, port_accepts, sha256_form, wait_until
from tls_support import (
    CURL, DEFAULT_CIPHERS, DEFAULT_HSTS, EXAMPLE_CONFIG, GATEHOUSE_BIN, HTTPS_REQUIRED, PKI,
    TLSForwarder, TLSGateway, client_context, client_hello_bytes, clean_env, openssl,
    request_outcome, run_until_exit, s_client, sslyze_python, unique,
)

pytestmark = pytest.mark.usefixtures("need_gateway")

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_gateway(workdir, keys, pki, need_gateway):
    """Start TLS gateways: tls_gateway(name, upstream_url, tls={...}, **TLSGateway kwargs). `tls`
    defaults to the test CA's EC server certificate; given keys are added to that."""
    started: list[TLSGateway] = []

    def make(name: str, upstream_url: str, tls: dict | None = None, **kwargs) -> TLSGateway:
        settings = {"cert": pki.server.cert, "key": pki.server.key}
        settings.update(tls or {})
        kwargs.setdefault("api_keys", keys.config_entries)
        kwargs.setdefault("ca", pki.ca.cert)
        gw = TLSGateway(unique(name), workdir, upstream_url=upstream_url, tls=settings, **kwargs)
        started.append(gw)
        conftest._TOUCHED.append(gw)     # its log tail goes into a failure report
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def echo():
    up = EchoUpstream()
    yield up
    up.close()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def key_principal(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def forwarded(record: dict) -> dict[str, list[str]]:
    """The headers the echo upstream received, by lower-case name."""
    out: dict[str, list[str]] = {}
    for k, v in record["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


# --- versions, suites, ALPN (openssl s_client) ----------------------------------------------------


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_s_client_old_versions_refused(tls_gateway, pki, echo, flag):
    gw = tls_gateway("old-versions", echo.url)
    # SECLEVEL=0 lets the client offer TLS 1.0/1.1 at all (they need SHA-1): the refusal is the server's.
    run = s_client(gw.port, pki.ca.cert, flag, "-cipher", "DEFAULT@SECLEVEL=0")
    assert run.returncode != 0 and not run.handshake_ok, run
    assert "alert protocol version" in run.output, run
    wait_until(lambda: gw.events("tls_handshake_failed"), 5, what="tls_handshake_failed in the log")
    reasons = [e["details"].get("reason", "") for e in gw.events("tls_handshake_failed")]
    assert any("unsupported protocol" in r for r in reasons), reasons
    assert gw.healthy()


@pytest.mark.parametrize("offered,negotiated", [
    (None, "TLS_AES_256_GCM_SHA384"),                     # the server's choice among the client's defaults
    ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    ("TLS_AES_128_CCM_SHA256", None),                     # not among the configured TLS 1.3 suites
    ("TLS_AES_128_CCM_8_SHA256", None),
])
def test_s_client_tls13_suites(tls_gateway, pki, echo, offered, negotiated):
    gw = tls_gateway("tls13", echo.url)
    run = s_client(gw.port, pki.ca.cert, "-tls1_3", *(["-ciphersuites", offered] if offered else []))
    if negotiated is None:
        assert not run.handshake_ok, run
        return
    assert run.handshake_ok and run.protocol == "TLSv1.3", run
    assert run.cipher == negotiated, run
    assert "Server Temp Key: X25519" in run.output, run


def configured_tls12_ciphers(auth: str) -> list[str]:
    """The TLS 1.2 suites of the default `tls.ciphers` that a certificate of type `auth` can use,
    as this machine's OpenSSL expands the list (the gateway uses the same libssl)."""
    out = openssl("ciphers", "-v", "-tls1_2", DEFAULT_CIPHERS)
    names = []
    for line in out.splitlines():
        parts = line.split()
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if parts[1] == "TLSv1.2" and fields.get("Au") == auth:
            names.append(parts[0])
    return names


@pytest.mark.parametrize("cert_type", ["ec", "rsa"])
def test_s_client_tls12_configured_ciphers(tls_gateway, pki, echo, cert_type):
    leaf = pki.server if cert_type == "ec" else pki.server_rsa
    gw = tls_gateway(f"tls12-{cert_type}", echo.url, tls={"cert": leaf.cert, "key": leaf.key})
    auth = "ECDSA" if cert_type == "ec" else "RSA"
    suites = configured_tls12_ciphers(auth)
    expected = {
        "ec": {"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
        "rsa": {"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305",
                "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-CHACHA20-POLY1305"},
    }[cert_type]
    assert expected <= set(suites), suites

    default = s_client(gw.port, pki.ca.cert, "-tls1_2")
    assert default.handshake_ok and default.protocol == "TLSv1.2", default
    assert default.cipher == f"ECDHE-{'ECDSA' if cert_type == 'ec' else 'RSA'}-AES256-GCM-SHA384", default
    assert "Compression: NONE" in default.output, default
    for suite in suites:
        run = s_client(gw.port, pki.ca.cert, "-tls1_2", "-cipher", suite)
        assert run.handshake_ok, run
        assert run.cipher == suite, run
        if suite.startswith("DHE-"):
            assert re.search(r"Server Temp Key: DH, (\d+) bits", run.output), run
            assert int(re.search(r"Server Temp Key: DH, (\d+) bits", run.output).group(1)) >= 2048, run
    # Outside the list: CBC, static RSA key exchange, SHA-1 MACs.
    refused = ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA"] if cert_type == "ec" else \
        ["ECDHE-RSA-AES128-SHA256", "AES128-GCM-SHA256", "AES256-SHA", "DHE-RSA-AES256-SHA"]
    for suite in refused:
        run = s_client(gw.port, pki.ca.cert, "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
        assert not run.handshake_ok, run


def test_min_version_13_refuses_tls12(tls_gateway, pki, echo):
    gw = tls_gateway("min13", echo.url, tls={"min_version": "1.3"})
    assert not s_client(gw.port, pki.ca.cert, "-tls1_2").handshake_ok
    run = s_client(gw.port, pki.ca.cert, "-tls1_3")
    assert run.handshake_ok and run.protocol == "TLSv1.3", run


def test_alpn_http11(tls_gateway, pki, echo):
    gw = tls_gateway("alpn", echo.url)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    for offer in ["http/1.1", "h2,http/1.1"]:
        run = s_client(gw.port, pki.ca.cert, "-alpn", offer, send=request)
        assert run.handshake_ok and run.alpn == "http/1.1", run
        assert "HTTP/1.1 200" in run.output and '{"status":"ok"}' in run.output, run
    # A client that offers only h2 gets no ALPN (and may still speak HTTP/1.1).
    h2 = s_client(gw.port, pki.ca.cert, "-alpn", "h2")
    assert h2.handshake_ok and h2.alpn is None, h2
    with gw.connect() as conn:
        assert conn.alpn == "http/1.1"
        assert conn.get("/healthz").status == 200


# --- sslyze on the example configuration ------------------------------------------------------------


def example_config(port: int, cert: Path, key: Path, upstream_url: str, api_key: str) -> str:
    """gateway.conf.example as shipped, with only what it asks the operator to give (certificate, key,
    a credential) and what a test machine needs (listen on 127.0.0.1:<port>, the upstream, no admin
    port) changed. Every replaced line must be found exactly once."""
    text = EXAMPLE_CONFIG.read_text()
    replacements = [
        (r'^listen = "0\.0\.0\.0:8443"', f'listen = "127.0.0.1:{port}"'),
        (r'^cert = ""', f"cert = {json.dumps(str(cert))}"),
        (r'^key = ""', f"key = {json.dumps(str(key))}"),
        (r'^url = "http://127\.0\.0\.1:8000"', f"url = {json.dumps(upstream_url)}"),
        (r"^api_keys = \[\]", f"api_keys = [{json.dumps(sha256_form(api_key))}]"),
        (r'^listen = "127\.0\.0\.1:9901"', 'listen = ""'),
    ]
    for pattern, new in replacements:
        text, n = re.subn(pattern, new.replace("\\", "\\\\"), text, flags=re.M)
        assert n == 1, f"gateway.conf.example: expected one line matching {pattern!r}, found {n}"
    return text


@pytest.mark.timeout(600)      # the first run may make the sslyze venv (tls_support.sslyze_python)
@pytest.mark.parametrize("cert_type", ["ec", "rsa"])
def test_sslyze_mozilla_intermediate_on_the_example_config(tls_gateway, pki, keys, echo, workdir, cert_type):
    python = sslyze_python()
    leaf = pki.server if cert_type == "ec" else pki.server_rsa
    port = free_port()
    text = example_config(port, leaf.cert, leaf.key, echo.url, keys.plain)
    gw = tls_gateway(f"example-{cert_type}", echo.url, config_text=text, port=port)
    report = workdir / f"sslyze-{cert_type}-{gw.port}.json"
    proc = subprocess.run(
        [python, "-m", "sslyze", "--mozilla_config=intermediate", f"--certinfo_ca_file={pki.ca.cert}", "--http_headers",
         f"--json_out={report}", f"127.0.0.1:{gw.port}"],
        capture_output=True, timeout=240, cwd=workdir)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    # sslyze exits 0 also when it could not connect at all: the verdict line is what counts.
    assert f"127.0.0.1:{gw.port}: OK - Compliant." in out, out[-6000:]
    assert proc.returncode == 0, out[-6000:]
    result = json.loads(report.read_text())["server_scan_results"][0]
    assert result["connectivity_status"] == "COMPLETED", result.get("connectivity_error_trace")
    scans = result["scan_result"]
    for name in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert scans[name]["result"]["is_tls_version_supported"] is False, name
    for name in ("tls_1_2_cipher_suites", "tls_1_3_cipher_suites"):
        assert scans[name]["result"]["is_tls_version_supported"] is True, name
    assert scans["tls_compression"]["result"]["supports_compression"] is False
    reneg = scans["session_renegotiation"]["result"]
    assert reneg["supports_secure_renegotiation"] is True
    assert reneg["is_vulnerable_to_client_renegotiation_dos"] is False
    assert scans["heartbleed"]["result"]["is_vulnerable_to_heartbleed"] is False
    deployment = scans["certificate_info"]["result"]["certificate_deployments"][0]
    assert deployment["verified_certificate_chain"], deployment["path_validation_results"]
    hsts = scans["http_headers"]["result"]["strict_transport_security_header"]
    assert hsts and hsts["max_age"] == 31536000 and hsts["include_subdomains"] is True, hsts
    assert gw.alive()


# --- clients through to a real SDK server -------------------------------------------------------------


def test_curl_through_to_the_sdk_server(tls_gateway, stacks, pki, keys):
    upstream = stacks.upstream("v2-stateless")
    gw = tls_gateway("curl", upstream.url)
    call = json.dumps(tool_call(7, "echo", {"text": "curl over TLS"}))
    argv = [CURL, "-sS", "--max-time", "20", "--cacert", str(pki.ca.cert), f"{gw.url}/mcp",
            "-H", f"Authorization: Bearer {keys.plain}", "-H", "Content-Type: application/json",
            "-H", "Accept: application/json, text/event-stream", "-d", call, "-D", "-"]
    proc = subprocess.run(argv, capture_output=True, timeout=30)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), out
    assert re.search(r"(?im)^strict-transport-security: max-age=31536000; includeSubDomains\r?$", head), head
    messages = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip()]
    messages = messages or [json.loads(body)]
    assert result_text(messages[-1]) == "curl over TLS", out
    # The same call without the test CA: curl refuses the certificate (exit 60), nothing is sent.
    untrusted = subprocess.run([a for a in argv if a not in ("--cacert", str(pki.ca.cert))],
                               capture_output=True, timeout=30)
    assert untrusted.returncode == 60, untrusted


def test_python_ssl_client_through_to_the_sdk_server(tls_gateway, stacks, pki, keys):
    upstream = stacks.upstream("v2-json")
    gw = tls_gateway("pyssl", upstream.url)
    auth = bearer(keys.plain)
    with gw.connect(timeout=15) as conn:
        assert conn.version in ("TLSv1.2", "TLSv1.3") and conn.alpn == "http/1.1"
        assert conn.peer_fingerprint == pki.server.fingerprint
        session = initialize(conn, auth)
        assert session, "the stateful SDK server gave no session"
        listed = post_rpc(conn, LIST, auth, session=session)
        assert listed.status == 200, listed
        names = sorted(t["name"] for t in listed.rpc_messages()[-1]["result"]["tools"])
        assert names == ["add", "big", "echo", "fail", "slow"], names
        called = post_rpc(conn, tool_call(2, "echo", {"text": UNICODE_TEXT}), auth, session=session)
        assert called.status == 200 and result_text(called.rpc_messages()[-1]) == UNICODE_TEXT, called
        assert called.header("Strict-Transport-Security") == DEFAULT_HSTS, called


async def sdk_session(url: str, ctx: ssl.SSLContext, key: str | None) -> dict:
    """The 2.x SDK client over HTTPS (httpx trusting `ctx`): tools/list, echo, add, slow with progress."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    out: dict = {}
    headers = bearer(key) if key else {}
    with anyio.fail_after(60):
        async with httpx2.AsyncClient(headers=headers, verify=ctx, timeout=httpx2.Timeout(10, read=30)) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                out["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
                r = await client.call_tool("echo", {"text": UNICODE_TEXT})
                out["echo"] = text_of(r)
                out["add"] = text_of(await client.call_tool("add", {"a": 2, "b": 40}))
                progress: list[float] = []

                async def on_progress(p: float, total: float | None, message: str | None) -> None:
                    progress.append(p)

                r = await client.call_tool("slow", {"steps": 3, "interval": 0.2}, progress_callback=on_progress)
                out["slow"] = text_of(r)
                out["progress"] = progress
    return out


def assert_sdk_session(out: dict) -> None:
    assert out["tools"] == ["add", "big", "echo", "fail", "slow"], out
    assert out["echo"] == UNICODE_TEXT and out["add"] == "42", out
    assert out["slow"] == "done after 3 steps", out


def assert_progress(out: dict) -> None:
    """Progress notifications reach the client over an SSE answer (a JSON-mode server sends none)."""
    assert out["progress"] == [1.0, 2.0, 3.0], out


@pytest.mark.parametrize("server", ["v2-json", "v2-sse"])
def test_sdk_client_over_https(tls_gateway, stacks, pki, keys, server):
    upstream = stacks.upstream(server)
    gw = tls_gateway(f"sdk-{server}", upstream.url)
    out = anyio.run(lambda: sdk_session(gw.url + "/mcp", client_context(pki.ca.cert), keys.plain))
    assert_sdk_session(out)
    if server == "v2-sse":
        assert_progress(out)


def test_sdk_client_with_a_client_certificate_and_no_key(tls_gateway, stacks, pki):
    upstream = stacks.upstream("v2-sse")
    gw = tls_gateway("sdk-mtls", upstream.url, tls={"client_ca": pki.ca.cert, "client_auth": "require"},
                     health_cert=pki.client)
    out = anyio.run(lambda: sdk_session(gw.url + "/mcp", client_context(pki.ca.cert, pki.client), None))
    assert_sdk_session(out)
    assert_progress(out)


# --- HSTS and X-Forwarded-Proto -------------------------------------------------------------------------


def test_hsts_on_https_answers_and_forwarded_proto_https(tls_gateway, echo, keys):
    gw = tls_gateway("hsts", echo.url)
    with gw.connect() as conn:
        health = conn.get("/healthz")
        assert health.status == 200 and health.header_all("Strict-Transport-Security") == [DEFAULT_HSTS], health
        denied = conn.get("/anything")
        assert denied.status == 401 and denied.header_all("Strict-Transport-Security") == [DEFAULT_HSTS], denied
        proxied = conn.get("/anything?x=1", {**bearer(keys.plain), "X-Forwarded-Proto": "http"})
        assert proxied.status == 200, proxied
        assert proxied.header_all("Strict-Transport-Security") == [DEFAULT_HSTS], proxied
    h = forwarded(proxied.json())
    # The client's own X-Forwarded-Proto is not believed (127.0.0.1 is not a trusted proxy here).
    assert h["x-forwarded-proto"] == ["https"], h
    assert h["x-forwarded-for"] == ["127.0.0.1"], h
    assert h["x-gatehouse-principal"] == [key_principal(keys.plain)], h


def test_no_hsts_and_forwarded_proto_http_on_plain_http(gateway_factory, echo, keys):
    gw = gateway_factory("plain-hsts", echo.url)
    with rawhttp.Conn(gw.port) as conn:
        conn.send(rawhttp.request_bytes("GET", "/anything", bearer(keys.plain), host=conn.authority))
        resp = conn.read_response()
    assert resp.status == 200 and resp.header("Strict-Transport-Security") is None, resp
    assert resp.header("X-Frame-Options") == "DENY", resp
    assert forwarded(resp.json())["x-forwarded-proto"] == ["http"]


# --- client certificates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["client", "client_cn"])
def test_require_client_certificate_authenticates_without_a_key(tls_gateway, pki, echo, which):
    gw = tls_gateway("mtls-require", echo.url, tls={"client_ca": pki.ca.cert, "client_auth": "require"},
                     health_cert=pki.client)
    leaf = getattr(pki, which)
    expected = PKI.CLIENT_PRINCIPAL if which == "client" else PKI.CLIENT_CN_PRINCIPAL
    with gw.connect(leaf) as conn:
        resp = conn.get("/who")
        assert resp.status == 200, resp
        assert forwarded(resp.json())["x-gatehouse-principal"] == [expected], resp.json()
        # A forged identity header is replaced; the credential is the certificate, on every request.
        again = conn.get("/who", {"X-Gatehouse-Principal": "admin"})
        assert again.status == 200 and forwarded(again.json())["x-gatehouse-principal"] == [expected]
    auth_events = [e for e in gw.log_events() if e.get("event_type") == "auth" and e.get("success")]
    assert any((e.get("details") or {}).get("method") == "mtls" and e.get("user_id") == expected for e in auth_events), \
        gw.tail()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("which", ["none", "foreign"])
def test_require_refuses_a_missing_or_foreign_certificate_at_the_handshake(tls_gateway, pki, echo, keys, version,
                                                                           which):
    gw = tls_gateway("mtls-refuse", echo.url, tls={"client_ca": pki.ca.cert, "client_auth": "require"},
                     health_cert=pki.client)
    leaf = None if which == "none" else pki.foreign_client
    # openssl s_client sends a request after the handshake: the server's alert comes back, never HTTP.
    cert_args = ["-cert", str(leaf.cert), "-key", str(leaf.key)] if leaf else []
    run = s_client(gw.port, pki.ca.cert, "-tls1_2" if version == "1.2" else "-tls1_3", *cert_args,
                   send=b"GET /refused HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    alert = {("1.2", "none"): "alert handshake failure", ("1.3", "none"): "alert certificate required"}.get(
        (version, which), "alert unknown ca")
    assert alert in run.output, run
    assert "HTTP/1.1" not in run.output, run
    if which == "none":
        assert "Acceptable client certificate CA names" in run.output and "Gatehouse E2E Test CA" in run.output, run
    # Python's ssl client, with an API key as well: the refusal is before any HTTP, the key does not help.
    tls_version = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx = client_context(pki.ca.cert, leaf, minimum=tls_version, maximum=tls_version)
    outcome = request_outcome(gw.port, ctx, path="/refused", headers=bearer(keys.plain))
    assert not outcome.startswith("http"), f"got an HTTP answer without a valid client certificate: {outcome}"
    wait_until(lambda: len(gw.events("tls_handshake_failed")) >= 2, 5, what="tls_handshake_failed in the log")
    reasons = " ".join(e["details"].get("reason", "") for e in gw.events("tls_handshake_failed"))
    assert ("did not return a certificate" if which == "none" else "unable to get local issuer certificate") \
        in reasons, reasons
    assert not [e for e in gw.log_events() if e.get("path") == "/refused"], gw.tail()
    assert gw.healthy()


def test_require_with_mtls_not_in_auth_methods_still_needs_a_key(tls_gateway, pki, echo, keys):
    gw = tls_gateway("mtls-no-method", echo.url, tls={"client_ca": pki.ca.cert, "client_auth": "require"},
                     auth={"methods": ["api_key"]}, health_cert=pki.client)
    with gw.connect(pki.client) as conn:
        assert conn.get("/who").status == 401
        resp = conn.get("/who", bearer(keys.plain))
        assert resp.status == 200 and forwarded(resp.json())["x-gatehouse-principal"] == [key_principal(keys.plain)]


def test_optional_without_a_certificate_falls_back_to_the_api_key(tls_gateway, pki, echo, keys):
    gw = tls_gateway("mtls-optional", echo.url, tls={"client_ca": pki.ca.cert, "client_auth": "optional"})
    with gw.connect() as conn:
        denied = conn.get("/who")
        assert denied.status == 401 and denied.json()["error"] == "Missing Authorization header", denied
        resp = conn.get("/who", bearer(keys.plain))
        assert resp.status == 200, resp
        assert forwarded(resp.json())["x-gatehouse-principal"] == [key_principal(keys.plain)]
        assert conn.get("/who", bearer("not-a-key")).status == 401
    with gw.connect(pki.client) as conn:
        resp = conn.get("/who")
        assert resp.status == 200 and forwarded(resp.json())["x-gatehouse-principal"] == [PKI.CLIENT_PRINCIPAL], resp
    # A certificate from another CA never authenticates: refused at the handshake or answered 401.
    outcome = request_outcome(gw.port, client_context(pki.ca.cert, pki.foreign_client))
    assert outcome != "http 200", outcome
    if outcome.startswith("http"):
        with gw.connect(pki.foreign_client) as conn:
            assert conn.get("/who").status == 401


# --- SIGHUP certificate reload --------------------------------------------------------------------------


def fresh_fingerprint(gw: TLSGateway) -> str:
    with gw.connect(timeout=5) as conn:
        return conn.peer_fingerprint


def test_sighup_swaps_the_certificate_for_new_connections_only(tls_gateway, pki, echo, keys, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    pki.server.install(cert, key)
    gw = tls_gateway("hup-swap", echo.url, tls={"cert": cert, "key": key})
    auth = bearer(keys.plain)
    old = gw.connect(timeout=10)
    try:
        assert old.peer_fingerprint == pki.server.fingerprint
        assert old.peer_serial == pki.server.serial
        assert old.get("/before", auth).status == 200

        new_leaf = pki.issue("swap-new", directory=tmp_path / "new")
        assert new_leaf.fingerprint != pki.server.fingerprint
        new_leaf.install(cert, key)
        gw.signal(signal.SIGHUP)
        try:
            wait_until(lambda: fresh_fingerprint(gw) == new_leaf.fingerprint, 5, interval=0.1,
                       what="a new connection to see the new certificate")
        except TimeoutError:
            pytest.fail(f"new connections still get the old certificate 5s after SIGHUP:\n{gw.tail()}")
        with gw.connect() as conn:
            assert conn.peer_serial == new_leaf.serial
            assert conn.get("/after", auth).status == 200
        assert gw.events("config_reloaded"), gw.tail()

        # The keep-alive connection opened before the reload carries on, with its certificate.
        for i in range(3):
            resp = old.get(f"/old-connection/{i}", auth)
            assert resp.status == 200 and resp.json()["path"] == f"/old-connection/{i}", resp
        assert old.peer_fingerprint == pki.server.fingerprint
    finally:
        old.close()
    assert gw.alive()


@pytest.mark.parametrize("case", ["mismatched pair", "garbage certificate", "missing key file"])
def test_sighup_with_a_bad_new_pair_keeps_the_old_certificate(tls_gateway, pki, echo, keys, tmp_path, case):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    pki.server.install(cert, key)
    gw = tls_gateway("hup-bad", echo.url, tls={"cert": cert, "key": key})
    with gw.connect() as old:
        assert old.get("/before", bearer(keys.plain)).status == 200
        other = pki.issue("bad-other", directory=tmp_path / "other")
        if case == "mismatched pair":
            cert.write_bytes(other.cert.read_bytes())          # the new certificate with the old key
        elif case == "garbage certificate":
            cert.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        else:
            cert.write_bytes(other.cert.read_bytes())
            key.unlink()
        gw.signal(signal.SIGHUP)
        try:
            wait_until(lambda: gw.events("config_rejected"), 5, what="config_rejected in the log")
        except TimeoutError:
            pytest.fail(f"no config_rejected event 5s after SIGHUP with a {case}:\n{gw.tail()}")
        assert not gw.events("config_reloaded"), gw.tail()
        assert gw.alive(), gw.tail()
        for _ in range(3):
            assert fresh_fingerprint(gw) == pki.server.fingerprint
        assert old.get("/after", bearer(keys.plain)).status == 200


# --- the handshake timeout --------------------------------------------------------------------------------


def seconds_until_closed(port: int, send: bytes, limit: float = 8.0) -> float | None:
    """Connect, send `send`, then wait for the server to close: the seconds it took, None if it did not."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        start = time.monotonic()
        if send:
            s.sendall(send)
        s.settimeout(limit)
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, TimeoutError):
            return None
        except (ConnectionResetError, BrokenPipeError):
            pass
        return time.monotonic() - start


@pytest.mark.parametrize("case", ["nothing", "half a ClientHello"])
def test_a_stalled_handshake_is_dropped_at_the_timeout(tls_gateway, pki, echo, case):
    gw = tls_gateway("hs-timeout", echo.url, tls={"handshake_timeout": "1s"}, server={"header_timeout": "10s"})
    hello = client_hello_bytes()
    elapsed = seconds_until_closed(gw.port, b"" if case == "nothing" else hello[: len(hello) // 2])
    assert elapsed is not None, "the connection was still open 8s later"
    assert 0.7 <= elapsed <= 3.0, f"dropped after {elapsed:.2f}s with handshake_timeout 1s"
    assert gw.healthy()


def test_a_finished_handshake_gets_the_header_timeout_not_the_handshake_timeout(tls_gateway, pki, echo):
    gw = tls_gateway("hs-then-idle", echo.url, tls={"handshake_timeout": "1s"}, server={"header_timeout": "10s"})
    with gw.connect() as conn:
        time.sleep(2.0)
        assert conn.get("/healthz").status == 200


# --- start-up refusals ------------------------------------------------------------------------------------


def write_config(workdir: Path, name: str, text: str) -> Path:
    path = workdir / f"refusal-{unique(name)}.conf"
    path.write_text(text)
    return path


def plain_tls_config(port: int, keys, tls_lines: str, upstream_lines: str = 'url = "http://127.0.0.1:9"') -> str:
    return (f'[server]\nlisten = "127.0.0.1:{port}"\n\n[tls]\n{tls_lines}\n\n[upstream]\n{upstream_lines}\n\n'
            f'[auth]\napi_keys = ["{sha256_form(keys.plain)}"]\n\n[admin]\nlisten = ""\n')


def assert_refused(result, *needles: str) -> str:
    assert result.code == 2, f"exit {result.code}, expected 2:\n{result.stderr}"
    lines = result.error_lines
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_mismatched_certificate_and_key_exit_2(workdir, pki, keys):
    port = free_port()
    path = write_config(workdir, "mismatch", plain_tls_config(
        port, keys, f"cert = {json.dumps(str(pki.server.cert))}\nkey = {json.dumps(str(pki.client.key))}"))
    line = assert_refused(run_until_exit(["run", "--config", str(path)]), str(pki.server.cert))
    assert re.search(r"do not match|mismatch", line), line
    assert not port_accepts(port)


def test_unreadable_certificate_exit_2(workdir, pki, keys):
    missing = workdir / "no-such-cert.pem"
    path = write_config(workdir, "nocert", plain_tls_config(
        free_port(), keys, f"cert = {json.dumps(str(missing))}\nkey = {json.dumps(str(pki.server.key))}"))
    assert_refused(run_until_exit(["run", "--config", str(path)]), str(missing))


def test_require_https_without_a_certificate_exit_2(workdir, keys):
    path = write_config(workdir, "nohttps", plain_tls_config(free_port(), keys, "require_https = true"))
    line = assert_refused(run_until_exit(["run", "--config", str(path)]))
    assert line.endswith(HTTPS_REQUIRED), line
    # From the environment alone (no configuration file), the default require_https = true.
    env = clean_env({"MCP_API_KEYS": keys.plain, "GATEHOUSE_LISTEN": f"127.0.0.1:{free_port()}"})
    empty = workdir / f"empty-{unique('cwd')}"
    empty.mkdir()
    line = assert_refused(run_until_exit(["run"], env=env, cwd=empty))
    assert line.endswith(HTTPS_REQUIRED), line


# --- gatehouse demo ---------------------------------------------------------------------------------------


def test_demo_serves_https_and_its_curl_line_works(workdir, tmp_path):
    # No openssl CLI on the demo's PATH: a stand-in that records being called and fails.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    marker = tmp_path / "openssl-was-called"
    stub = fake_bin / "openssl"
    stub.write_text(f"#!/bin/sh\necho \"$@\" >> {shlex.quote(str(marker))}\nexit 1\n")
    stub.chmod(0o755)
    port = free_port()
    env = clean_env({"PATH": str(fake_bin)})
    demo = Managed(f"demo-{port}", [GATEHOUSE_BIN, "demo", "--port", str(port)], workdir / f"demo-{port}.log",
                   env=env, cwd=tmp_path)
    conftest._TOUCHED.append(demo)
    try:
        def curl_line() -> str | None:
            for line in demo.log_text().splitlines():
                if line.strip().startswith("curl "):
                    return line.strip()
            return None

        wait_until(lambda: not demo.alive() or (curl_line() and port_accepts(port)), 20, what="the demo banner")
        assert demo.alive(), demo.tail()
        line = curl_line()
        argv = shlex.split(line)
        assert "--cacert" in argv, line
        cacert = Path(argv[argv.index("--cacert") + 1])
        assert cacert.is_file(), cacert
        assert f"https://127.0.0.1:{port}/" in line, line
        argv[0] = CURL
        proc = subprocess.run(argv, capture_output=True, timeout=30)
        out = proc.stdout.decode(errors="replace")
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert "hello through the gateway" in out, out
        # The printed key is what makes it work.
        at = next(i for i, a in enumerate(argv) if a.startswith("Authorization:"))
        key_args = argv[:at - 1] + argv[at + 1:]
        denied = subprocess.run(key_args + ["-o", "/dev/null", "-w", "%{http_code}"], capture_output=True, timeout=30)
        assert denied.stdout.decode().strip().endswith("401"), denied
        assert not marker.exists(), f"the demo ran the openssl CLI: {marker.read_text()}"
        demo.signal(signal.SIGINT)
        code = demo.wait(10)
        assert code == 0, f"demo exit status {code} on SIGINT:\n{demo.tail()}"
        assert not cacert.exists() and not cacert.parent.exists(), "the demo left its certificate folder behind"
    finally:
        demo.stop()


# --- an https upstream --------------------------------------------------------------------------------------


@pytest.fixture
def https_upstream(stacks, pki):
    """The 2.x JSON SDK server behind a TLS-terminating stub whose certificate (DNS:localhost,
    IP:127.0.0.1) the test CA signed."""
    upstream = stacks.upstream("v2-json")
    fwd = TLSForwarder(upstream.port, pki.server)
    yield fwd
    fwd.close()


def mcp_round_trip(gw: TLSGateway, key: str) -> None:
    auth = bearer(key)
    with gw.connect(timeout=15) as conn:
        session = initialize(conn, auth)
        called = post_rpc(conn, tool_call(2, "echo", {"text": "through an https upstream"}), auth, session=session)
        assert called.status == 200, called
        assert result_text(called.rpc_messages()[-1]) == "through an https upstream"


def test_https_upstream_with_ca_file(tls_gateway, https_upstream, pki, keys):
    gw = tls_gateway("up-https", f"https://localhost:{https_upstream.port}", upstream={"ca_file": pki.ca.cert})
    mcp_round_trip(gw, keys.plain)
    assert https_upstream.handshakes >= 1
    assert "localhost" in https_upstream.server_names, https_upstream.server_names


def test_https_upstream_with_a_wrong_ca_gives_502(tls_gateway, https_upstream, pki, keys):
    gw = tls_gateway("up-wrong-ca", f"https://localhost:{https_upstream.port}",
                     upstream={"ca_file": pki.foreign_ca.cert})
    with gw.connect() as conn:
        resp = post_rpc(conn, LIST, bearer(keys.plain))
    assert resp.status == 502 and resp.json()["error"] == "Upstream unavailable", resp
    assert gw.alive()


def test_https_upstream_with_a_wrong_name_gives_502(tls_gateway, stacks, pki, keys, tmp_path):
    upstream = stacks.upstream("v2-json")
    leaf = pki.issue("upstream-other-name", sans=["DNS:other.test"], cn="other.test", directory=tmp_path)
    fwd = TLSForwarder(upstream.port, leaf)
    try:
        gw = tls_gateway("up-wrong-name", f"https://localhost:{fwd.port}", upstream={"ca_file": pki.ca.cert})
        with gw.connect() as conn:
            resp = post_rpc(conn, LIST, bearer(keys.plain))
        assert resp.status == 502 and resp.json()["error"] == "Upstream unavailable", resp
    finally:
        fwd.close()


def test_https_upstream_tls_verify_false_on_loopback(tls_gateway, stacks, pki, keys, tmp_path):
    upstream = stacks.upstream("v2-json")
    leaf = pki.issue("upstream-foreign", ca=pki.foreign_ca, directory=tmp_path)
    fwd = TLSForwarder(upstream.port, leaf)
    try:
        gw = tls_gateway("up-noverify", f"https://localhost:{fwd.port}", upstream={"tls_verify": False})
        mcp_round_trip(gw, keys.plain)
    finally:
        fwd.close()


def test_tls_verify_false_on_a_non_loopback_upstream_exit_2(workdir, pki, keys):
    path = write_config(workdir, "noverify-remote", plain_tls_config(
        free_port(), keys,
        f"cert = {json.dumps(str(pki.server.cert))}\nkey = {json.dumps(str(pki.server.key))}",
        upstream_lines='url = "https://mcp.example.com:8443"\ntls_verify = false'))
    assert_refused(run_until_exit(["run", "--config", str(path)]), "upstream.tls_verify")


# --- TLS records that arrive together (read-ahead) ----------------------------------------------------


def _bio_session(gw) -> tuple[socket.socket, ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    """A TLS session driven through memory BIOs, so that a test decides how records meet the socket."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = gw.context().wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if outgoing.pending:
                sock.sendall(outgoing.read())
            data = sock.recv(65536)
            assert data, "the gateway closed during the handshake"
            incoming.write(data)
    if outgoing.pending:
        sock.sendall(outgoing.read())
    return sock, tls, incoming, outgoing


def _read_responses(sock, tls, incoming, count: int, deadline: float = 10.0) -> list:
    from hostile_support import split_responses

    data = b""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            piece = tls.read(1 << 20)
            if not piece:
                break
            data += piece
            try:
                got = split_responses(data)
                if len(got) >= count and all(len(r[2]) == int(r[1].get("content-length", len(r[2]))) for r in got):
                    break
            except (ValueError, IndexError):
                pass
            continue
        except ssl.SSLWantReadError:
            pass
        sock.settimeout(max(0.1, end - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        incoming.write(chunk)
    return split_responses(data)


def test_tls_records_arriving_together_are_all_read(tls_gateway, echo, keys):
    """Twenty pipelined requests, one TLS record each, sent in one write: the gateway reads them all from
    its TLS session (whose read-ahead may hold records epoll knows nothing about) and answers each."""
    gw = tls_gateway("records", echo.url)
    sock, tls, incoming, outgoing = _bio_session(gw)
    try:
        for i in range(20):
            tls.write(f"GET /item/{i} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {keys.plain}\r\n\r\n".encode())
        sock.sendall(outgoing.read())
        responses = _read_responses(sock, tls, incoming, 20)
        assert [r[0] for r in responses] == [200] * 20, responses[:3]
        assert [json.loads(r[2])["path"] for r in responses] == [f"/item/{i}" for i in range(20)]
    finally:
        sock.close()


def test_tls_body_larger_than_the_input_buffer_in_one_write(tls_gateway, echo, keys):
    """A 900 kB body sent as back-to-back records in one write: reading pauses at the connection's buffer
    cap and resumes — the records TLS read ahead meanwhile are not forgotten."""
    gw = tls_gateway("bigbody", echo.url)
    body = (b"0123456789abcdef" * 65536)[:900_000]  # under the default max_body_bytes (1 MiB)
    sock, tls, incoming, outgoing = _bio_session(gw)
    try:
        tls.write(b"POST /upload HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + keys.plain.encode()
                  + b"\r\nContent-Type: application/octet-stream\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n")
        for i in range(0, len(body), 16384):
            tls.write(body[i:i + 16384])
        sock.sendall(outgoing.read())
        responses = _read_responses(sock, tls, incoming, 1, deadline=20)
        assert responses and responses[0][0] == 200, responses[:1]
        assert len(json.loads(responses[0][2])["body"]) == len(body)
    finally:
        sock.close()


@pytest.mark.parametrize("extra", [2000, 7000])
def test_tls_pipelined_past_the_input_cap_loses_nothing(tls_gateway, echo, keys, extra):
    """Pipelined requests just over the connection's input cap (4 × 16 KiB + the 16 KiB head limit), sent
    at once: reading pauses at the cap while the last records sit in the TLS session's read-ahead buffer,
    with nothing left in the socket for epoll to report. Every request must still be answered."""
    gw = tls_gateway(f"cap{extra}", echo.url)
    pad = "p" * 900
    one = f"GET /n/{{}} HTTP/1.1\r\nHost: gw\r\nX-Pad: {pad}\r\nAuthorization: Bearer {keys.plain}\r\n\r\n"
    count = (81920 + extra) // len(one.format(0)) + 1
    sock, tls, incoming, outgoing = _bio_session(gw)
    try:
        for i in range(count):
            tls.write(one.format(i).encode())
        sock.sendall(outgoing.read())
        responses = _read_responses(sock, tls, incoming, count, deadline=8)
        assert len(responses) == count, f"{len(responses)} of {count} answered"
        assert [json.loads(r[2])["path"] for r in responses] == [f"/n/{i}" for i in range(count)]
    finally:
        sock.close()
