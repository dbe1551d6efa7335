"""CORS and Origin (PRODUCT.md §3.4, §7) end to end: a real browser, and the exact headers on the wire.

The browser part loads pages in headless Chromium (Debian's `chromium`; skipped when it is not
installed, see .ci/run). A page is served by a small local HTTP server, so its origin is
http://127.0.0.1:<port>; its script fetch()es the gateway and writes what it could read into the DOM,
which `chromium --dump-dom` prints. From the allowed origin, requests with Authorization and
Mcp-Session-Id (so preflighted) go through and the answers, with the exposed Mcp-Session-Id and
RateLimit-* headers, are readable; from another origin the preflight is refused and even a simple
request (no preflight) gets 403 at the gateway, which the gateway's log shows.
"""

from __future__ import annotations

import json

import pytest

from browser_support import (ALLOW_HEADERS, ALLOW_METHODS, DEFAULT_HEADERS, EXPOSE_HEADERS, PageServer,
                             chromium_binary, get, page_with_script, run_chromium, toml_list)
from browser_support import policy_gateway  # noqa: F401 (a fixture)
from support import EchoUpstream, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")

PROTOCOL = "2025-06-18"


@pytest.fixture(scope="module")
def echo():
    up = EchoUpstream()
    yield up
    up.close()


def cors(origins: list[str], extra: str = "") -> str:
    return f"origins = {toml_list(origins)}\n{extra}"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def records(gw, path: str) -> list[dict]:
    return [e for e in gw.events() if e.get("event_type") == "request" and e.get("path") == path]


def refusals(gw) -> list[dict]:
    return [e for e in gw.events() if e.get("event_type") == "security"
            and (e.get("details") or {}).get("kind") == "origin_refused"]


# --- the browser ------------------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(chromium_binary() is None,
                                    reason="headless Chromium not installed (apt-get install chromium)")

PICK = """
const pick = (r) => ({
  status: r.status,
  session: r.headers.get("Mcp-Session-Id"),
  limit: r.headers.get("RateLimit-Limit"),
  remaining: r.headers.get("RateLimit-Remaining"),
  reset: r.headers.get("RateLimit-Reset"),
  challenge: r.headers.get("WWW-Authenticate"),
  requestId: r.headers.get("X-Request-Id"),      // not exposed: the browser must hide it
  frameOptions: r.headers.get("X-Frame-Options"), // not exposed either
  contentType: r.headers.get("Content-Type"),     // CORS-safelisted
});
const attempt = async (f) => { try { return await f(); } catch (e) { return {error: e.name + ": " + e.message}; } };
"""


def allowed_page_script(gateway: str, key: str) -> str:
    return PICK + f"""
const G = {json.dumps(gateway)};
const auth = {{"Authorization": "Bearer " + {json.dumps(key)}, "Content-Type": "application/json",
              "Accept": "application/json, text/event-stream"}};
const out = {{}};
const init = await fetch(G + "/mcp", {{method: "POST", headers: auth, body: JSON.stringify(
  {{jsonrpc: "2.0", id: 1, method: "initialize",
    params: {{protocolVersion: "{PROTOCOL}", capabilities: {{}}, clientInfo: {{name: "chromium-e2e", version: "1"}}}}}})}});
out.init = pick(init);
out.init.body = await init.json();
const session = {{...auth, "Mcp-Session-Id": out.init.session, "MCP-Protocol-Version": "{PROTOCOL}"}};
const note = await fetch(G + "/mcp", {{method: "POST", headers: session,
  body: JSON.stringify({{jsonrpc: "2.0", method: "notifications/initialized"}})}});
out.note = pick(note);
const call = await fetch(G + "/mcp", {{method: "POST", headers: session, body: JSON.stringify(
  {{jsonrpc: "2.0", id: 2, method: "tools/call", params: {{name: "echo", arguments: {{text: "from the browser"}}}}}})}});
out.call = pick(call);
out.call.body = await call.json();
// An error answer is readable too, with its exposed challenge.
const denied = await fetch(G + "/mcp", {{method: "POST", headers: {{...auth, "Authorization": "Bearer wrong-browser-key"}},
  body: JSON.stringify({{jsonrpc: "2.0", id: 3, method: "ping"}})}});
out.denied = pick(denied);
out.denied.body = await denied.json();
return out;
"""


def disallowed_page_script(gateway: str, key: str) -> str:
    return PICK + f"""
const G = {json.dumps(gateway)};
const out = {{}};
// Authorization makes this a preflighted request: the preflight is refused, the POST never sent.
out.preflighted = await attempt(async () => pick(await fetch(G + "/mcp", {{method: "POST",
  headers: {{"Authorization": "Bearer " + {json.dumps(key)}, "Content-Type": "application/json"}},
  body: JSON.stringify({{jsonrpc: "2.0", id: 1, method: "ping"}})}})));
// Simple requests (no preflight) still carry Origin: the gateway refuses them itself.
out.simpleGet = await attempt(async () => pick(await fetch(G + "/simple-get")));
out.simplePost = await attempt(async () => pick(await fetch(G + "/simple-post", {{method: "POST", body: "x"}})));
return out;
"""


@needs_chromium
def test_browser_on_an_allowed_origin_reads_answers_and_exposed_headers(policy_gateway, stacks, keys, tmp_path):
    upstream = stacks.upstream("v2-json")
    page = PageServer()   # its port is the origin; the page itself is set once the gateway runs
    try:
        gw = policy_gateway("cors-browser-ok", upstream.url, {
            "cors": cors([page.origin]),
            "rate_limit": 'enabled = true\ncapacity = 50\nrefill_per_second = 10\nper = "ip"',
        })
        page.page = page_with_script(allowed_page_script(gw.url, keys.plain))
        out = run_chromium(page.url, tmp_path / "profile")
    finally:
        page.close()
    assert "script_error" not in out, out

    init = out["init"]
    assert init["status"] == 200, out
    assert init["session"], f"Mcp-Session-Id not readable (exposed headers): {out}"
    assert init["body"]["result"]["protocolVersion"], out
    # RateLimit-* readable (preflights spend tokens too: the limit by address comes before CORS).
    assert init["limit"] == "50" and init["remaining"].isdigit() and int(init["remaining"]) in (48, 49), out
    assert init["reset"] is not None and init["reset"].isdigit(), out
    # Headers that are not exposed stay hidden from the page.
    assert init["requestId"] is None and init["frameOptions"] is None, out
    assert init["contentType"].startswith("application/json"), out

    assert out["note"]["status"] == 202, out
    call = out["call"]
    assert call["status"] == 200 and call["body"]["result"]["content"][0]["text"] == "from the browser", out
    assert int(call["remaining"]) < int(init["remaining"]), out

    denied = out["denied"]
    assert denied["status"] == 401 and denied["body"]["error"] == "Invalid API key", out
    assert denied["challenge"] and denied["challenge"].startswith('Bearer realm="gatehouse"'), out

    # On the wire: each POST was preflighted (unless Chromium reused a cached preflight), every preflight
    # was answered 204 by the gateway, and the page's origin was never refused.
    preflights = wait_until(lambda: records(gw, "/mcp") and [r for r in records(gw, "/mcp") if r["method"] == "OPTIONS"],
                            5, what="the preflight access records")
    assert preflights and all(r["status"] == 204 for r in preflights), preflights
    posts = [r["status"] for r in records(gw, "/mcp") if r["method"] == "POST"]
    assert posts == [200, 202, 200, 401], posts
    assert refusals(gw) == []


@needs_chromium
def test_browser_on_another_origin_is_blocked(policy_gateway, stacks, keys, tmp_path):
    upstream = stacks.upstream("v2-json")
    allowed = PageServer()
    other = PageServer()
    try:
        gw = policy_gateway("cors-browser-blocked", upstream.url, {"cors": cors([allowed.origin])})
        other.page = page_with_script(disallowed_page_script(gw.url, keys.plain))
        out = run_chromium(other.url, tmp_path / "profile")
    finally:
        allowed.close()
        other.close()
    assert "script_error" not in out, out
    for name in ("preflighted", "simpleGet", "simplePost"):
        assert "error" in out[name] and out[name]["error"].startswith("TypeError"), out

    def seen():
        got = {p: records(gw, p) for p in ("/mcp", "/simple-get", "/simple-post")}
        return got if all(got.values()) else None
    got = wait_until(seen, 5, what="the refused requests in the access log")
    # The preflight got 403 and the POST it guarded was never sent.
    assert [(r["method"], r["status"]) for r in got["/mcp"]] == [("OPTIONS", 403)], got
    assert [(r["method"], r["status"]) for r in got["/simple-get"]] == [("GET", 403)], got
    assert [(r["method"], r["status"]) for r in got["/simple-post"]] == [("POST", 403)], got
    events = refusals(gw)
    assert sorted((e["details"]["origin"], e["details"]["preflight"]) for e in events) == [
        (other.origin, False), (other.origin, False), (other.origin, True)], events
    assert upstream.count("/simple-") == 0


# --- on the wire -----------------------------------------------------------------------------------------


ORIGIN = "http://app.example:3000"


def test_preflight_from_an_allowed_origin(policy_gateway, echo):
    gw = policy_gateway("preflight", echo.url, {"cors": cors([ORIGIN])})
    before = len(echo.requests)
    resp = get(gw.port, "/mcp", {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id"},
               method="OPTIONS")
    assert resp.status == 204 and resp.body == b"", resp
    assert resp.header_all("Access-Control-Allow-Origin") == [ORIGIN], resp
    assert resp.header_all("Vary") == ["Origin"], resp
    assert resp.header_all("Access-Control-Expose-Headers") == [EXPOSE_HEADERS], resp
    assert resp.header_all("Access-Control-Allow-Methods") == [ALLOW_METHODS], resp
    assert resp.header_all("Access-Control-Allow-Headers") == [ALLOW_HEADERS], resp
    assert resp.header_all("Access-Control-Max-Age") == ["600"], resp          # the default 10m
    assert resp.header("Access-Control-Allow-Credentials") is None, resp
    for name, value in DEFAULT_HEADERS.items():
        assert resp.header_all(name) == [value], (name, resp)
    assert len(echo.requests) == before, "the gateway forwarded a preflight"


def test_credentials_and_max_age(policy_gateway, echo, keys):
    gw = policy_gateway("preflight-cred", echo.url, {"cors": cors([ORIGIN], 'allow_credentials = true\nmax_age = "90s"')})
    pre = get(gw.port, "/mcp", {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}, method="OPTIONS")
    assert pre.status == 204, pre
    assert pre.header_all("Access-Control-Max-Age") == ["90"], pre
    assert pre.header_all("Access-Control-Allow-Credentials") == ["true"], pre
    actual = get(gw.port, "/thing", {**bearer(keys.plain), "Origin": ORIGIN})
    assert actual.status == 200, actual
    assert actual.header_all("Access-Control-Allow-Origin") == [ORIGIN], actual
    assert actual.header_all("Access-Control-Allow-Credentials") == ["true"], actual


def test_preflight_from_another_origin_is_refused(policy_gateway, echo):
    gw = policy_gateway("preflight-refused", echo.url, {"cors": cors([ORIGIN])})
    resp = get(gw.port, "/mcp", {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
               method="OPTIONS")
    assert resp.status == 403, resp
    assert resp.json() == {"error": "Origin not allowed", "request_id": resp.header("X-Request-Id")}, resp
    assert resp.header("Access-Control-Allow-Origin") is None, resp
    assert resp.header("Access-Control-Allow-Methods") is None, resp
    assert resp.header_all("X-Content-Type-Options") == ["nosniff"], resp


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://app.example:3001",
                                    "https://app.example:3000"])
def test_any_request_with_a_disallowed_origin_gets_403(policy_gateway, echo, keys, origin):
    gw = policy_gateway("origin-refused", echo.url, {"cors": cors([ORIGIN])})
    before = len(echo.requests)
    for method, body in (("GET", None), ("POST", b'{"jsonrpc":"2.0","id":1,"method":"ping"}'), ("DELETE", None)):
        resp = get(gw.port, "/mcp", {**bearer(keys.plain), "Origin": origin, "Content-Type": "application/json"},
                   method=method, body=body)
        assert resp.status == 403, resp
        assert resp.json()["error"] == "Origin not allowed", resp
        assert resp.header("Access-Control-Allow-Origin") is None, resp
    assert len(echo.requests) == before, "a request with a refused Origin reached the upstream"


def test_allowed_origin_on_proxied_and_error_answers(policy_gateway, echo, keys):
    gw = policy_gateway("origin-allowed", echo.url, {"cors": cors([ORIGIN, "http://second.example"])})
    ok = get(gw.port, "/thing", {**bearer(keys.plain), "Origin": "http://second.example"})
    denied = get(gw.port, "/thing", {"Origin": ORIGIN})
    for resp, origin in ((ok, "http://second.example"), (denied, ORIGIN)):
        assert resp.header_all("Access-Control-Allow-Origin") == [origin], resp
        assert resp.header_all("Vary") == ["Origin"], resp
        assert resp.header_all("Access-Control-Expose-Headers") == [EXPOSE_HEADERS], resp
        assert resp.header("Access-Control-Allow-Methods") is None, resp    # preflights only
    assert ok.status == 200 and denied.status == 401
    # Origin was checked here and removed before forwarding (upstream.forward_origin = false).
    seen = json.loads(ok.body)
    assert not [v for k, v in seen["headers"] if k.lower() == "origin"], seen
    # Without Origin: no CORS headers at all.
    plain = get(gw.port, "/thing", bearer(keys.plain))
    assert plain.status == 200 and not [k for k, _ in plain.headers if k.lower().startswith("access-control-")], plain


def test_origin_scheme_and_host_match_case_insensitively_and_are_echoed_as_sent(policy_gateway, echo, keys):
    gw = policy_gateway("origin-case", echo.url, {"cors": cors([ORIGIN])})
    sent = "HTTP://APP.Example:3000"
    resp = get(gw.port, "/thing", {**bearer(keys.plain), "Origin": sent})
    assert resp.status == 200 and resp.header_all("Access-Control-Allow-Origin") == [sent], resp


def test_mcp_cors_origins_replaces_the_file_list(policy_gateway, echo, keys):
    gw = policy_gateway("origin-env", echo.url, {"cors": cors([ORIGIN])},
                        env={"MCP_CORS_ORIGINS": "http://env-a.example,http://env-b.example:8080"})
    assert get(gw.port, "/thing", {**bearer(keys.plain), "Origin": ORIGIN}).status == 403
    for origin in ("http://env-a.example", "http://env-b.example:8080"):
        resp = get(gw.port, "/thing", {**bearer(keys.plain), "Origin": origin})
        assert resp.status == 200 and resp.header("Access-Control-Allow-Origin") == origin, resp


def test_wildcard_only_when_configured_and_never_with_credentials(policy_gateway, echo, keys):
    gw = policy_gateway("origin-star", echo.url, {"cors": cors(["*"])})
    resp = get(gw.port, "/thing", {**bearer(keys.plain), "Origin": "http://anything.example"})
    assert resp.status == 200 and resp.header("Access-Control-Allow-Origin") in ("http://anything.example", "*"), resp
    bad = policy_gateway("origin-star-cred", echo.url, {"cors": cors(["*"], "allow_credentials = true")},
                         wait_healthy=False)
    assert bad.wait(15) == 2, bad.tail()
    assert "gatehouse: error:" in bad.log_text() and "cors" in bad.log_text(), bad.tail()
