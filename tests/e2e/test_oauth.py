"""The gateway as an OAuth 2.1 resource server (contract §2 `[auth.oauth]`, §3.2, §4; MCP-WIRE
"Authorization"): RFC 9728 metadata at the root and path-inserted forms with exact fields,
`resource_metadata` in every 401 challenge, and per-tool authorization seen by the official MCP SDK
client with a JWT — the 403 JSON-RPC error with the `insufficient_scope` challenge, and `tools/list`
answers (JSON and SSE) holding only the tools the caller may call.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import AsyncExitStack

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

import jwt_support as js
import rawhttp
from jwt_support import (assert_accepted, assert_refused, challenge, claims, get, header_values, jwt_section, mint,
                         new_secret, send, upstream_saw)
from mcp_raw import initialize, post_rpc, result_text, tool_call
from support import (DIRECT, GATEHOUSE_BIN, GATEWAY_ENV_VARS, EchoUpstream, Gateway, free_port, new_key, render_config,
                     sha256_form, wait_until)

pytestmark = pytest.mark.skipif(DIRECT, reason="checks gateway behaviour (E2E_DIRECT=1)")

PUBLIC_URL = "https://mcp.example.com"
AUTH_SERVERS = ["https://auth.example.com", "https://login.example.org/tenant-1"]
SCOPES = ["tools:call", "admin", "echo:use"]
MCP_PATHS = ["/mcp", "/tenant/mcp"]
METADATA = "/.well-known/oauth-protected-resource"
RESOURCE_METADATA = PUBLIC_URL + METADATA


def oauth_section(servers=AUTH_SERVERS, scopes=SCOPES, paths=MCP_PATHS) -> str:
    out = f"\n[auth.oauth]\nauthorization_servers = {js.toml_list(servers)}\n"
    if scopes is not None:
        out += f"scopes_supported = {js.toml_list(scopes)}\n"
    if paths is not None:
        out += f"\n[mcp]\npaths = {js.toml_list(paths)}\n"
    return out


@pytest.fixture(scope="module")
def echo():
    up = EchoUpstream()
    yield up
    up.close()


@pytest.fixture(scope="module")
def oauth(workdir, echo, keys):
    secret = new_secret()
    gw = Gateway("oauth", echo.url, workdir, api_keys=keys.config_entries,
                 server_extra=f'public_url = "{PUBLIC_URL}"',
                 extra=jwt_section(secret=secret, audience=PUBLIC_URL + "/mcp") + oauth_section())
    gw.secret = secret
    yield gw
    gw.stop()


def assert_metadata(resp: rawhttp.Response, resource: str, servers=AUTH_SERVERS, scopes=SCOPES) -> None:
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    assert resp.header("X-Content-Type-Options") == "nosniff", resp
    expected = {"resource": resource, "authorization_servers": servers, "bearer_methods_supported": ["header"]}
    if scopes:
        expected["scopes_supported"] = scopes
    assert resp.json() == expected, resp.body


# --- RFC 9728 metadata -----------------------------------------------------------------------------


def test_root_metadata_document(oauth):
    assert_metadata(get(oauth, METADATA), PUBLIC_URL)


@pytest.mark.parametrize("path", MCP_PATHS)
def test_path_inserted_metadata_document(oauth, path):
    assert_metadata(get(oauth, METADATA + path), PUBLIC_URL + path)


@pytest.mark.parametrize("credential", ["none", "bad api key", "expired jwt"])
def test_metadata_needs_no_credential(oauth, credential):
    headers = {
        "none": {},
        "bad api key": {"Authorization": "Bearer not-a-key-0123456789"},
        "expired jwt": js.bearer(mint("pyjwt", claims(exp=js.now() - 3600), "HS256", oauth.secret)),
    }[credential]
    assert_metadata(get(oauth, METADATA, headers), PUBLIC_URL)
    assert_metadata(get(oauth, METADATA + "/mcp", headers), PUBLIC_URL + "/mcp")


@pytest.mark.parametrize("path", [METADATA + "/other", METADATA + "/mcp/extra", METADATA + "x"])
def test_other_well_known_paths_are_not_metadata(oauth, path):
    resp = get(oauth, path)
    assert resp.status == 401, resp
    assert resp.header_all("WWW-Authenticate") == [challenge(RESOURCE_METADATA, token_presented=False)], resp


def test_metadata_without_scopes_supported(gateway_factory, echo):
    gw = gateway_factory("oauth-noscopes", echo.url, server_extra=f'public_url = "{PUBLIC_URL}/"',
                         extra=oauth_section(servers=AUTH_SERVERS[:1], scopes=None, paths=None))
    assert_metadata(get(gw, METADATA), PUBLIC_URL, servers=AUTH_SERVERS[:1], scopes=None)
    assert_metadata(get(gw, METADATA + "/mcp"), PUBLIC_URL + "/mcp", servers=AUTH_SERVERS[:1], scopes=None)
    resp = get(gw, "/mcp")
    assert resp.header_all("WWW-Authenticate") == [challenge(RESOURCE_METADATA, token_presented=False)], resp


def test_no_oauth_section_means_no_metadata(gateway_factory, echo):
    gw = gateway_factory("oauth-off", echo.url)
    resp = get(gw, METADATA)
    assert resp.status == 401 and resp.json()["error"] == "Missing Authorization header", resp
    assert resp.header_all("WWW-Authenticate") == ['Bearer realm="gatehouse"'], resp


def test_oauth_without_public_url_is_a_config_error(workdir, echo, keys):
    conf = workdir / "oauth-nopublic.conf"
    conf.write_text(render_config(free_port(), echo.url, keys.config_entries, extra=oauth_section()))
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_ENV_VARS}
    proc = subprocess.run([GATEHOUSE_BIN, "check", "--config", str(conf)], capture_output=True, text=True,
                          timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc
    assert "auth.oauth.authorization_servers" in proc.stderr and "public_url" in proc.stderr, proc.stderr


# --- 401 challenges carry resource_metadata ----------------------------------------------------------


@pytest.mark.parametrize("case", ["no header", "wrong scheme", "no credential", "unknown api key"])
@pytest.mark.parametrize("path", MCP_PATHS + ["/elsewhere"])
def test_401_challenges_carry_resource_metadata(oauth, case, path):
    value, message, presented = {
        "no header": (None, "Missing Authorization header", False),
        "wrong scheme": ("Basic dXNlcjpwYXNz", "Invalid authorization scheme", False),
        "no credential": ("Bearer", "Invalid authorization format", False),
        "unknown api key": ("Bearer not-a-key-0123456789", "Invalid API key", True),
    }[case]
    with rawhttp.Conn(oauth.port) as conn:
        resp = post_rpc(conn, js.PING, {"Authorization": value} if value else {}, path=path)
    assert resp.status == 401, resp
    assert resp.json() == {"error": message, "request_id": resp.header("X-Request-Id")}, resp
    assert resp.header_all("WWW-Authenticate") == [challenge(RESOURCE_METADATA, token_presented=presented)], resp


@pytest.mark.parametrize("case", ["expired", "wrong audience", "bad signature", "alg none"])
def test_invalid_jwt_challenge_carries_resource_metadata(oauth, case):
    t = js.now()
    aud = PUBLIC_URL + "/mcp"
    token, reason = {
        "expired": (mint("pyjwt", claims(aud=aud, iat=t - 900, exp=t - 600), "HS256", oauth.secret), "expired"),
        "wrong audience": (mint("joserfc", claims(aud=PUBLIC_URL + "/other"), "HS256", oauth.secret),
                           "wrong_audience"),
        "bad signature": (mint("pyjwt", claims(aud=aud), "HS256", new_secret()), "bad_signature"),
        "alg none": (js.hand_token({"alg": "none"}, claims(aud=aud)), "alg_none"),
    }[case]
    assert_refused(oauth, send(oauth, token), reason, resource_metadata=RESOURCE_METADATA, token=token)


@pytest.mark.parametrize("path", MCP_PATHS)
def test_valid_jwt_for_the_resource_passes(oauth, path):
    token = mint("pyjwt", claims(sub="resource-user", aud=[PUBLIC_URL + "/mcp"]), "HS256", oauth.secret)
    resp = send(oauth, token, path=path)
    assert_accepted(oauth, resp, "resource-user")
    seen = upstream_saw(resp)
    assert seen["path"] == path and header_values(seen, "Authorization") == [], seen
    assert header_values(seen, "X-Gatehouse-Principal") == ["resource-user"], seen


# --- authorization: 403 and tools/list filtering through the real SDK client ------------------------

RULES = """
[authorization]
rules = [
  { match = "tools/call:echo", require = ["echo:use"] },
  { match = "tools/call:add", require = ["math"] },
  { match = "tools/call:*", require = ["admin"] },
  { match = "*", require = [] },
]
filter_tools_list = true
"""
ALL_TOOLS = ["add", "big", "echo", "fail", "slow"]


@pytest.fixture(scope="module")
def authz(workdir, stacks, keys):
    """Gateways with JWTs and per-tool rules in front of the SDK server in JSON and in SSE mode."""
    secret = new_secret()
    started = {}
    try:
        for name in ("v2-json", "v2-sse"):
            upstream = stacks.upstream(name)
            started[name] = Gateway(f"authz-{name}", upstream.url, workdir, api_keys=keys.config_entries,
                                    server_extra=f'public_url = "{PUBLIC_URL}"',
                                    extra=jwt_section(secret=secret) + oauth_section(paths=None) + RULES)
            started[name].secret = secret
            started[name].upstream = upstream
        yield started
    finally:
        for gw in started.values():
            gw.stop()


async def sdk_session(url: str, token: str, calls: list[tuple[str, dict]]) -> dict:
    """The official 2.x client with `Authorization: Bearer <token>`: list tools, then make each call;
    records every HTTP answer's status and WWW-Authenticate (through an httpx event hook)."""
    answers: list[tuple[int, str | None]] = []

    async def on_response(response) -> None:
        answers.append((response.status_code, response.headers.get("www-authenticate")))

    out: dict = {"calls": []}
    with anyio.fail_after(60):
        async with AsyncExitStack() as stack:
            http = httpx2.AsyncClient(headers=js.bearer(token), timeout=httpx2.Timeout(10, read=30),
                                      event_hooks={"response": [on_response]})
            stack.push_async_callback(http.aclose)
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                out["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
                for name, args in calls:
                    try:
                        r = await client.call_tool(name, args)
                        out["calls"].append({"tool": name, "text": "".join(getattr(c, "text", "") for c in r.content),
                                             "is_error": bool(r.is_error)})
                    except MCPError as e:
                        out["calls"].append({"tool": name, "error": {"code": e.code, "message": e.message,
                                                                     "data": e.data}})
    out["answers"] = answers
    return out


def run_sdk(gw, token: str, calls) -> dict:
    return anyio.run(lambda: sdk_session(gw.url + "/mcp", token, calls))


@pytest.mark.parametrize("mode", ["v2-json", "v2-sse"])
def test_sdk_client_sees_only_permitted_tools_and_a_403_for_the_others(authz, mode):
    gw = authz[mode]
    token = mint("pyjwt", claims(sub="limited", permissions=["echo:use"], scope="math"), "HS256", gw.secret)
    out = run_sdk(gw, token, [("echo", {"text": "hi"}), ("add", {"a": 2, "b": 3}), ("slow", {"steps": 1}),
                              ("echo", {"text": "still fine"})])
    assert out["tools"] == ["add", "echo"], out
    echo1, add, slow, echo2 = out["calls"]
    assert echo1 == {"tool": "echo", "text": "hi", "is_error": False}, out
    assert add == {"tool": "add", "text": "5", "is_error": False}, out
    assert slow["error"]["code"] == -32003 and slow["error"]["message"] == "Insufficient permissions", out
    assert isinstance(slow["error"]["data"], dict) and slow["error"]["data"].get("request_id"), out
    assert echo2["text"] == "still fine", out
    refusals = [a for a in out["answers"] if a[0] == 403]
    assert refusals == [(403, 'Bearer error="insufficient_scope", scope="admin"')], out["answers"]
    access = [e for e in gw.log_events() if e.get("event_type") == "access" and e.get("resource") == "tools/call:slow"]
    assert access and access[-1]["allowed"] is False and access[-1]["user_id"] == "limited", access


@pytest.mark.parametrize("mode", ["v2-json", "v2-sse"])
def test_sdk_client_with_every_permission_sees_every_tool(authz, mode, keys):
    gw = authz[mode]
    admin = mint("joserfc", claims(sub="root", permissions=["admin", "echo:use", "math"]), "HS256", gw.secret)
    out = run_sdk(gw, admin, [("slow", {"steps": 1, "interval": 0.05}), ("add", {"a": 1, "b": 1})])
    assert out["tools"] == ALL_TOOLS, out
    assert out["calls"][0]["text"] == "done after 1 steps" and out["calls"][1]["text"] == "2", out
    assert not [a for a in out["answers"] if a[0] >= 400], out["answers"]
    # An API key with the default permissions ["*"] sees everything as well.
    out = run_sdk(gw, keys.plain, [("fail", {})])
    assert out["tools"] == ALL_TOOLS and out["calls"][0]["is_error"] is True, out


@pytest.mark.parametrize("mode", ["v2-json", "v2-sse"])
def test_sdk_client_with_no_tool_permission_sees_an_empty_list(authz, mode):
    gw = authz[mode]
    token = mint("pyjwt", claims(sub="nobody", permissions=[]), "HS256", gw.secret)
    out = run_sdk(gw, token, [("echo", {"text": "x"})])
    assert out["tools"] == [], out
    assert out["calls"][0]["error"]["code"] == -32003, out
    assert (403, 'Bearer error="insufficient_scope", scope="echo:use"') in out["answers"], out["answers"]


@pytest.mark.parametrize("call_id", [77, "call-abc"])
@pytest.mark.parametrize("mode", ["v2-json", "v2-sse"])
def test_403_body_is_a_jsonrpc_error_with_the_request_id(authz, mode, call_id):
    gw = authz[mode]
    token = mint("pyjwt", claims(sub="limited", permissions=["echo:use"]), "HS256", gw.secret)
    auth = js.bearer(token)
    posts = '"POST /mcp HTTP/1.1"'
    with rawhttp.Conn(gw.port, timeout=15) as conn:
        sid = initialize(conn, auth)
        wait_until(lambda: gw.upstream.count(posts) > 0, 5, what="the upstream log")
        before = gw.upstream.count(posts)
        resp = post_rpc(conn, tool_call(call_id, "big", {"size": 10}), auth, session=sid)
        assert resp.status == 403, resp
        assert (resp.header("content-type") or "").startswith("application/json"), resp
        assert resp.header_all("WWW-Authenticate") == ['Bearer error="insufficient_scope", scope="admin"'], resp
        body = resp.json()
        rid = resp.header("X-Request-Id")
        assert set(body) == {"jsonrpc", "id", "error"} and body["jsonrpc"] == "2.0" and body["id"] == call_id, body
        assert body["error"]["code"] == -32003 and body["error"]["message"] == "Insufficient permissions", body
        assert body["error"]["data"]["request_id"] == rid and isinstance(body["error"]["data"]["details"], dict), body
        # Allowed on the same connection right after; the refused call never reached the upstream.
        ok = post_rpc(conn, tool_call(5, "echo", {"text": "ok"}), auth, session=sid)
        assert ok.status == 200 and result_text(ok.rpc_messages()[-1]) == "ok", ok
        wait_until(lambda: gw.upstream.count(posts) >= before + 1, 5, what="the upstream log")
        assert gw.upstream.count(posts) == before + 1, "the refused call reached the upstream"
        # The raw tools/list answer is rewritten with correct framing (the reader relies on it).
        listed = post_rpc(conn, {"jsonrpc": "2.0", "id": 6, "method": "tools/list"}, auth, session=sid)
        assert listed.status == 200, listed
        names = [t["name"] for m in listed.rpc_messages() if m.get("id") == 6 for t in m["result"]["tools"]]
        assert names == ["echo"], listed


def test_api_key_403_has_no_bearer_scope_challenge(workdir, gateway_factory, stacks):
    """A named API key without the permission gets the 403 JSON-RPC error; the insufficient_scope
    challenge is for JWT callers only (contract §4)."""
    key = new_key()
    upstream = stacks.upstream("v2-json")
    extra = f"""
[[auth.api_key]]
name = "echo-only"
hash = "{sha256_form(key)}"
permissions = ["echo:use"]
""" + RULES
    gw = gateway_factory("authz-apikey", upstream.url, api_keys=[], extra=extra)
    with rawhttp.Conn(gw.port, timeout=15) as conn:
        sid = initialize(conn, js.bearer(key))
        resp = post_rpc(conn, tool_call(9, "add", {"a": 1, "b": 2}), js.bearer(key), session=sid)
    assert resp.status == 403 and resp.json()["error"]["code"] == -32003 and resp.json()["id"] == 9, resp
    assert resp.header("WWW-Authenticate") is None, resp
