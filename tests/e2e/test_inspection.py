"""MCP inspection end to end (§4 JSON-RPC error bodies, §6): real SDK servers behind the gateway.

- every refusal of §6.1–6.6 with its exact HTTP status, JSON-RPC code, message, id (the request's, or
  null) and `details`, its `validation_failed` / `session_mismatch` event, and the upstream never
  seeing the refused request;
- what passes: notifications, client responses, clean calls, a 100 KB tools/call (reject and escape);
- `escape` observed through the SDK's `echo` tool (JSON and SSE answers), and byte for byte on a
  recording upstream (nested keys and arrays, Content-Length, clean bodies untouched);
- authorization (403 -32003) and tools/list filtering, JSON and SSE;
- session binding: a second API key presenting another principal's Mcp-Session-Id gets 404 on POST,
  GET and DELETE, and the first key keeps its session;
- the 2026-07-28 mirrored headers: Mcp-Method / Mcp-Name mismatch → 400 -32020, plain and base64;
- batches refused with allow_batches = false;
- per-tool timeouts: JSON answer → 504 `Upstream timeout`; SSE stream already open → a -32001 event for
  the call's id and the stream ends; a fast tool (and a slow one within its own timeout) unaffected;
- the old HTTP+SSE transport: POSTs to /messages/ inspected when listed in mcp.paths, the `endpoint`
  event passing unchanged.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time

import pytest

import rawhttp
from inspection_support import (
    bearer,
    escaped,
    escaped_value,
    http_error,
    only_message,
    post_json,
    post_raw,
    rpc_refusal,
    security_events,
    tool_names,
    wait_for_event,
)
from mcp_raw import initialize, post_rpc, result_text, tool_call
from support import DIRECT, EchoUpstream, Gateway, new_key, sha256_form, wait_until

pytestmark = pytest.mark.skipif(DIRECT, reason="checks what the gateway itself does (E2E_DIRECT=1)")

PARSE = (400, -32700, "Parse error")
INVALID = (400, -32600, "Invalid Request")
PARAMS = (400, -32602, "Validation failed")
PATTERN_ERROR = "must match the pattern ^[a-zA-Z0-9_-]+$"
ALL_TOOLS = {"echo", "add", "slow", "fail", "big"}

# A key with only `tools:call` and one with no permission at all (§5), next to the suite's two keys.
LIMITED_KEY = new_key()
READER_KEY = new_key()

STRICT = """
[mcp]
max_json_depth = 8
sanitize = "reject"
"""

AUTHZ = f"""
[[auth.api_key]]
name = "limited"
hash = "{sha256_form(LIMITED_KEY)}"
permissions = ["tools:call"]

[[auth.api_key]]
name = "reader"
hash = "{sha256_form(READER_KEY)}"
permissions = []

[authorization]
rules = [
  {{ match = "tools/call:fail", require = ["admin"] }},
  {{ match = "tools/call:*", require = ["tools:call"] }},
  {{ match = "*", require = [] }},
]
filter_tools_list = true
"""


def _touch(*managed) -> None:
    """Attach these processes' log tails to a failure report (conftest's hook)."""
    conftest = sys.modules.get("conftest")
    if conftest is not None:
        conftest._TOUCHED.extend(managed)


@pytest.fixture(scope="module")
def gateways(workdir, keys):
    """Gateways shared by the tests of this module, one per (name, upstream), stopped at its end."""
    started: dict[tuple[str, str], Gateway] = {}

    def get(name: str, upstream_url: str, extra: str, **kwargs) -> Gateway:
        key = (name, upstream_url)
        if key not in started:
            started[key] = Gateway(f"insp-{name}", upstream_url, workdir, keys.config_entries, extra=extra, **kwargs)
        gw = started[key]
        _touch(gw)
        assert gw.alive(), f"gateway {name} died:\n{gw.tail()}"
        return gw

    yield get
    for gw in started.values():
        gw.stop()


@pytest.fixture
def strict(stacks, gateways):
    """sanitize = "reject", max_json_depth = 8, in front of the stateless SDK server (SSE answers)."""
    upstream = stacks.upstream("v2-stateless")
    return gateways("strict", upstream.url, STRICT), upstream


def upstream_posts(upstream) -> int:
    """POST requests the SDK server has logged (uvicorn's access log)."""
    return upstream.count('"POST /mcp HTTP/1.1"')


# --- every refusal, exactly -------------------------------------------------------------------------

CALL = '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":%s}'


def call_body(rpc_id: str, params: str) -> bytes:
    return (CALL % (rpc_id, params)).encode()


REFUSALS = [
    # §6.1: not JSON (UTF-8, depth, duplicate keys) -> 400 -32700, id null (the message was not read).
    ("truncated", b'{"jsonrpc":"2.0","id":1,"method":"tools/list"', PARSE, None,
     {"error": "unexpected end of input at byte 45"}),
    ("empty body", b"", PARSE, None, {"error": "empty document at byte 0"}),
    ("form encoded", b"jsonrpc=2.0&method=tools/list", PARSE, None, re.compile(r"unexpected .* at byte 0")),
    ("trailing data", b'{"jsonrpc":"2.0","id":1,"method":"tools/list"} x', PARSE, None,
     re.compile(r"unexpected data after the value: .* at byte 47")),
    ("duplicate method", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call",'
                         b'"params":{"name":"fail"}}', PARSE, None,
     re.compile(r'duplicate key "method" at byte \d+')),
    ("duplicate tool name", call_body("2", '{"name":"echo","name":"fail","arguments":{}}'), PARSE, None,
     re.compile(r'duplicate key "name" at byte \d+')),
    ("invalid UTF-8", call_body("3", '{"name":"echo","arguments":{"text":"%s"}}') % b"\xff",
     PARSE, None, re.compile(r"invalid UTF-8 at byte \d+")),
    ("lone surrogate", call_body("4", '{"name":"echo","arguments":{"text":"\\ud800"}}'), PARSE, None,
     re.compile(r"lone surrogate \\ud800 at byte \d+", re.IGNORECASE)),
    ("deeper than max_json_depth", call_body("5", '{"name":"echo","arguments":{"text":"x","n":[[[[[[1]]]]]]}}'),
     PARSE, None, re.compile(r"nesting deeper than 8 at byte \d+")),
    ("raw control character", call_body("6", '{"name":"echo","arguments":{"text":"a\tb"}}'), PARSE, None,
     re.compile(r"unescaped control character 0x09 in string at byte \d+")),
    # §6.2: not one JSON-RPC 2.0 message -> 400 -32600, the id when it could be read.
    ("jsonrpc 1.0", b'{"jsonrpc":"1.0","id":7,"method":"tools/list"}', INVALID, 7,
     {"field": "jsonrpc", "error": 'must be "2.0"'}),
    ("no jsonrpc", b'{"id":"abc","method":"tools/list"}', INVALID, "abc",
     {"field": "jsonrpc", "error": 'must be "2.0"'}),
    ("method not a string", b'{"jsonrpc":"2.0","id":8,"method":42}', INVALID, 8,
     {"field": "method", "error": "must be a string"}),
    ("null id", b'{"jsonrpc":"2.0","id":null,"method":"tools/list"}', INVALID, None,
     {"field": "id", "error": "must be a string or a number"}),
    ("object id", b'{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}', INVALID, None,
     {"field": "id", "error": "must be a string or a number"}),
    ("boolean id", b'{"jsonrpc":"2.0","id":true,"method":"tools/list"}', INVALID, None,
     {"field": "id", "error": "must be a string or a number"}),
    ("params a string", b'{"jsonrpc":"2.0","id":9,"method":"tools/list","params":"all"}', INVALID, 9,
     {"field": "params", "error": "must be an object or an array"}),
    ("no method", b'{"jsonrpc":"2.0","id":10}', INVALID, 10, {"field": "method", "error": "required"}),
    ("result and error", b'{"jsonrpc":"2.0","id":11,"result":{},"error":{"code":1,"message":"x"}}', INVALID, 11,
     {"field": "result", "error": "a response has a result or an error, not both"}),
    ("a number", b"42", INVALID, None, {"field": "message", "error": "expected a JSON-RPC object or array"}),
    ("empty batch", b"[]", INVALID, None, {"field": "batch", "error": "an empty batch"}),
    ("batch with a number", b'[{"jsonrpc":"2.0","id":1,"method":"tools/list"},5]', INVALID, None,
     {"index": "1", "field": "message", "error": "expected a JSON-RPC object"}),
    ("batch with a bad element", b'[{"jsonrpc":"2.0","id":1,"method":"tools/list"},'
                                 b'{"jsonrpc":"2.0","id":12,"method":7}]', INVALID, 12,
     {"index": "1", "field": "method", "error": "must be a string"}),
    # §6.3: tools/call name and arguments -> 400 -32602 "Validation failed".
    ("name breaks the pattern", call_body("13", '{"name":"bad name!","arguments":{}}'), PARAMS, 13,
     {"field": "params.name", "error": PATTERN_ERROR}),
    ("path traversal name", call_body('"c-14"', '{"name":"../etc/passwd","arguments":{}}'), PARAMS, "c-14",
     {"field": "params.name", "error": PATTERN_ERROR}),
    ("empty name", call_body("15", '{"name":"","arguments":{}}'), PARAMS, 15,
     {"field": "params.name", "error": PATTERN_ERROR}),
    ("no name", call_body("16", '{"arguments":{}}'), PARAMS, 16, {"field": "params.name", "error": "required"}),
    ("no params", b'{"jsonrpc":"2.0","id":17,"method":"tools/call"}', PARAMS, 17,
     {"field": "params.name", "error": "required"}),
    ("params an array", call_body("18", '["echo"]'), PARAMS, 18, {"field": "params", "error": "must be an object"}),
    ("name a number", call_body("19", '{"name":5,"arguments":{}}'), PARAMS, 19,
     {"field": "params.name", "error": "must be a string"}),
    ("arguments a string", call_body("20", '{"name":"echo","arguments":"text=hi"}'), PARAMS, 20,
     {"field": "params.arguments", "error": "must be an object"}),
    ("arguments an array", call_body("21", '{"name":"echo","arguments":["hi"]}'), PARAMS, 21,
     {"field": "params.arguments", "error": "must be an object"}),
    ("bad call in a batch",
     b'[{"jsonrpc":"2.0","id":1,"method":"tools/list"},' + call_body("22", '{"name":"a b"}') + b"]",
     PARAMS, 22, {"index": "1", "field": "params.name", "error": PATTERN_ERROR}),
    # §6.4 reject: the seed's four patterns anywhere in arguments (values and keys), case-insensitive.
    ("script element", call_body("23", '{"name":"echo","arguments":{"text":"hi <script>alert(1)</script>"}}'),
     PARAMS, 23, {"field": "params.arguments.text", "error": "contains a dangerous pattern (<script>)"}),
    ("javascript URL nested", call_body('"c-24"', '{"name":"echo","arguments":{"text":"ok","a":{"b":["fine",'
                                                  '"JaVaScRiPt:alert(1)"]}}}'),
     PARAMS, "c-24", {"field": "params.arguments.a.b[1]", "error": "contains a dangerous pattern (javascript:)"}),
    ("event handler", call_body("25", '{"name":"echo","arguments":{"text":"<img src=x onerror = alert(1)>"}}'),
     PARAMS, 25, {"field": "params.arguments.text", "error": "contains a dangerous pattern (on\u2026=)"}),
    ("iframe element", call_body("26", '{"name":"echo","arguments":{"text":"<IFRAME src=//evil></iframe>"}}'),
     PARAMS, 26, {"field": "params.arguments.text", "error": "contains a dangerous pattern (<iframe>)"}),
    ("script across lines", call_body("27", '{"name":"echo","arguments":{"text":"<script>\\nx\\n</SCRIPT>"}}'),
     PARAMS, 27, {"field": "params.arguments.text", "error": "contains a dangerous pattern (<script>)"}),
    ("dangerous key", call_body("28", '{"name":"echo","arguments":{"text":"hi","onclick=":"x"}}'), PARAMS, 28,
     {"field": 'params.arguments["onclick="]', "error": "contains a dangerous pattern (on\u2026=)"}),
]


@pytest.mark.parametrize("name,body,expected,rpc_id,details", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_is_exact(strict, name, body, expected, rpc_id, details, auth):
    gw, upstream = strict
    status, code, message = expected
    before = upstream_posts(upstream)
    request_id = "insp-" + re.sub(r"[^a-z0-9]+", "-", name)
    with rawhttp.Conn(gw.port) as conn:
        resp = post_raw(conn, body, auth, request_id=request_id)
        error = rpc_refusal(resp, status, code, message, rpc_id,
                            None if isinstance(details, re.Pattern) else details)
        if isinstance(details, re.Pattern):
            assert set(error["data"]["details"]) == {"error"}, error
            assert details.fullmatch(error["data"]["details"]["error"]), error
        assert error["data"]["request_id"] == request_id
        # The connection stays usable: a refusal is an ordinary answer.
        again = post_json(conn, {"jsonrpc": "2.0", "id": 99, "method": "tools/list"}, auth)
        assert again.status == 200 and tool_names(only_message(again)) == ALL_TOOLS, again
    event = wait_for_event(gw, "validation_failed", request_id)
    assert event["severity"] == "medium" and event["details"]["code"] == code, event
    if isinstance(details, dict) and "field" in details:
        assert event["details"]["field"] == details["field"], event
    # The refused message never reached the upstream (only the tools/list after it did).
    wait_until(lambda: upstream_posts(upstream) >= before + 1, 5, what="the upstream to log the tools/list")
    time.sleep(0.2)
    assert upstream_posts(upstream) == before + 1, upstream.tail()


def test_refusals_on_an_mcp_path_keep_the_plain_http_errors(strict, auth):
    """Only errors about a JSON-RPC message get a JSON-RPC body; 401 and 413 stay §4's plain errors."""
    gw, _ = strict
    with rawhttp.Conn(gw.port) as conn:
        resp = post_raw(conn, b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', {})
        http_error(resp, 401, "Missing Authorization header")
    with rawhttp.Conn(gw.port) as conn:
        big = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"' + \
              b"x" * (1024 * 1024) + b'"}}}'
        resp = post_raw(conn, big, auth)
        http_error(resp, 413, "Request body too large")


def test_require_arguments_and_a_custom_tool_name_pattern(stacks, gateways, auth):
    upstream = stacks.upstream("v2-stateless")
    gw = gateways("allowlist", upstream.url,
                  '\n[mcp]\nrequire_arguments = true\ntool_name_pattern = "^(echo|add)$"\n')
    with rawhttp.Conn(gw.port) as conn:
        resp = post_json(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}, auth)
        rpc_refusal(resp, 400, -32602, "Validation failed", 1, {"field": "params.arguments", "error": "required"})
        resp = post_json(conn, tool_call(2, "slow", {"steps": 1}), auth)
        rpc_refusal(resp, 400, -32602, "Validation failed", 2,
                    {"field": "params.name", "error": "must match the pattern ^(echo|add)$"})
        resp = post_json(conn, tool_call(3, "add", {"a": 1, "b": 2}), auth)
        assert resp.status == 200 and result_text(only_message(resp)) == "3", resp


def test_nesting_at_max_json_depth_passes(strict, auth):
    """max_json_depth = 8: eight levels pass (the refusal table has nine)."""
    gw, _ = strict
    with rawhttp.Conn(gw.port) as conn:
        resp = post_raw(conn, call_body("1", '{"name":"echo","arguments":{"text":"deep","n":[[[[[1]]]]]}}'), auth)
        assert resp.status == 200 and b"request_id" not in resp.body, resp


# --- what passes --------------------------------------------------------------------------------------


def test_notifications_and_client_responses_pass(strict, auth):
    gw, upstream = strict
    with rawhttp.Conn(gw.port) as conn:
        note = post_json(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, auth)
        assert note.status == 202 and note.body == b"", note
        # A response to a server request (id string, number or null; result or error) passes §6.2.
        for message in ({"jsonrpc": "2.0", "id": "srv-1", "result": {}},
                        {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "no"}},
                        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "x"}}):
            resp = post_json(conn, message, auth)
            assert resp.status != 400 or b"request_id" not in resp.body, (message, resp)
            assert resp.status in (200, 202), (message, resp)
        resp = post_json(conn, tool_call("c-1", "add", {"a": 2, "b": 40}), auth)
        assert resp.status == 200 and result_text(only_message(resp)) == "42", resp


BIG_TEXT = ("a<b c:d e=f 'q' \"Q\" & ü€🚀 " * 4000)[:100 * 1024]


@pytest.mark.parametrize("mode", ["reject", "escape"])
def test_a_100_kb_tools_call_passes(stacks, gateways, mode, auth):
    """A 100 KB call full of `<`, `:`, `=` that are not one of the patterns: checked, then forwarded
    (unchanged with reject; with escape, as escaped)."""
    upstream = stacks.upstream("v2-stateless")
    gw = gateways(f"big-{mode}", upstream.url, f'\n[mcp]\nsanitize = "{mode}"\n')
    with rawhttp.Conn(gw.port, timeout=20) as conn:
        body = json.dumps(tool_call(1, "echo", {"text": BIG_TEXT})).encode()
        assert len(body) > 100 * 1024
        resp = post_raw(conn, body, auth)
        assert resp.status == 200, resp
        expected = BIG_TEXT if mode == "reject" else escaped(BIG_TEXT)
        assert result_text(only_message(resp)) == expected


# --- escape through the SDK's echo tool -------------------------------------------------------------

HOSTILE = ("Tom & \"Jerry\" <b>bold</b> it's <script>alert('x')</script> javascript:alert(1) "
           "<img src=x onerror=alert(1)> <a ONCLICK = go()> JaVaScRiPt:void(0) javajavascript:script: ünï 🚀")


@pytest.mark.parametrize("upstream_name", ["v2-json", "v2-sse"])
def test_escape_is_observed_through_the_sdk_echo_tool(stacks, gateways, upstream_name, auth):
    upstream = stacks.upstream(upstream_name)
    gw = gateways("escape", upstream.url, '\n[mcp]\nsanitize = "escape"\n')
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, auth)
        resp = post_rpc(conn, tool_call(5, "echo", {"text": HOSTILE}), auth, session=session)
        assert resp.status == 200, resp
        text = result_text(only_message(resp))
        assert text == escaped(HOSTILE), text
        # Spelled out once, so the model cannot drift from the contract unnoticed.
        assert text.startswith("Tom &amp; &quot;Jerry&quot; &lt;b&gt;bold&lt;/b&gt; it&#x27;s "
                               "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; alert(1) "
                               "&lt;img src=x alert(1)&gt; &lt;a  go()&gt; void(0)  ünï 🚀"), text
        for gone in ("<", ">", "javascript:", "onerror=", "'"):
            assert gone not in text.lower(), (gone, text)
        # A clean call is untouched.
        clean = post_rpc(conn, tool_call(6, "echo", {"text": "plain ünïcode 🚀 a+b"}), auth, session=session)
        assert result_text(only_message(clean)) == "plain ünïcode 🚀 a+b"


def test_escape_rewrites_every_string_and_key_and_fixes_content_length(gateways, keys, auth):
    """On a recording upstream: nested objects and arrays, keys, other params members and batch
    elements as sent; the forwarded Content-Length is the rewritten body's; clean bodies are
    forwarded byte for byte."""
    echo = EchoUpstream()
    try:
        gw = gateways("escape-echo", echo.url, '\n[mcp]\nsanitize = "escape"\n')
        arguments = {"text": "<b>", "nested": {"a&b": ["x'y", {"on": "onload=run()"}, 5, None, True]},
                     "plain": "ok", "number": 1.50}
        message = tool_call(7, "echo", arguments, progress_token="tok<1>")
        with rawhttp.Conn(gw.port) as conn:
            resp = post_json(conn, message, auth)
            assert resp.status == 200, resp
            seen = json.loads(resp.json()["body"])
            headers = {k.lower(): v for k, v in resp.json()["headers"]}
            assert headers["content-length"] == str(len(resp.json()["body"].encode())), headers
            assert seen["params"]["arguments"] == escaped_value(arguments), seen
            assert seen["params"]["_meta"] == {"progressToken": "tok<1>"}, "only arguments are escaped"
            assert seen["params"]["name"] == "echo" and seen["id"] == 7 and seen["method"] == "tools/call"

            # A batch: only the element that needs it is rewritten.
            batch = [tool_call(8, "echo", {"text": "a<b"}), {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}]
            resp = post_json(conn, batch, auth)
            seen = json.loads(resp.json()["body"])
            assert seen[0]["params"]["arguments"] == {"text": "a&lt;b"} and seen[1] == batch[1], seen

            # Clean bodies (odd spacing, escapes the server must see as sent) pass byte for byte.
            raw = b'{ "jsonrpc" : "2.0", "id" : 10, "method":"tools/call",\n "params":{"name":"echo",' \
                  b'"arguments":{"text":"caf\\u00e9 \\/ 1e2"}} }'
            resp = post_raw(conn, raw, auth)
            assert resp.json()["body"].encode() == raw, resp
    finally:
        echo.close()


# --- authorization and tools/list filtering ------------------------------------------------------------


@pytest.mark.parametrize("upstream_name", ["v2-json", "v2-sse"])
def test_authorization_refusals_and_tools_list_filtering(stacks, gateways, upstream_name, auth):
    upstream = stacks.upstream(upstream_name)
    gw = gateways("authz", upstream.url, AUTHZ)
    limited = bearer(LIMITED_KEY)
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, limited)
        listed = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, limited, session=session)
        assert listed.status == 200, listed
        assert tool_names(only_message(listed)) == ALL_TOOLS - {"fail"}, listed
        refused = post_raw(conn, json.dumps(tool_call(2, "fail", {})).encode(), limited, session=session,
                           request_id="insp-authz-fail")
        rpc_refusal(refused, 403, -32003, "Insufficient permissions", 2, {})
        allowed = post_rpc(conn, tool_call(3, "add", {"a": 1, "b": 2}), limited, session=session)
        assert allowed.status == 200 and result_text(only_message(allowed)) == "3", allowed
        # In a batch, the refused element's id.
        batch = [tool_call(4, "add", {"a": 1, "b": 1}), tool_call("f-5", "fail", {})]
        rpc_refusal(post_json(conn, batch, limited, session=session), 403, -32003, "Insufficient permissions",
                    "f-5", {})
    events = [e for e in gw.log_events()
              if e.get("event_type") == "access" and e.get("request_id") == "insp-authz-fail"]
    assert events and events[0]["allowed"] is False and events[0]["resource"] == "tools/call:fail", events

    reader = bearer(READER_KEY)
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, reader)
        listed = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, reader, session=session)
        assert listed.status == 200 and tool_names(only_message(listed)) == set(), listed
        rpc_refusal(post_rpc(conn, tool_call(2, "echo", {"text": "x"}), reader, session=session), 403, -32003,
                    "Insufficient permissions", 2, {})

    full = auth
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, full)
        listed = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, full, session=session)
        assert tool_names(only_message(listed)) == ALL_TOOLS, listed


# --- session binding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream_name", ["v2-json", "v2-sse"])
def test_session_hijack_with_a_second_api_key_is_404(stacks, gateways, keys, upstream_name):
    upstream = stacks.upstream(upstream_name)
    gw = gateways("sessions", upstream.url, "")
    owner, thief = bearer(keys.plain), bearer(keys.hashed)
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, owner)
        assert session, "the SDK server gives a session"
        ok = post_rpc(conn, tool_call(1, "echo", {"text": "mine"}), owner, session=session)
        assert ok.status == 200 and result_text(only_message(ok)) == "mine", ok

    with rawhttp.Conn(gw.port) as conn:
        stolen = post_raw(conn, json.dumps(tool_call(2, "echo", {"text": "stolen"})).encode(), thief,
                          session=session, request_id="insp-hijack-post")
        rpc_refusal(stolen, 404, -32600, "Session not found", 2, {})
        # A GET stream and a DELETE with the stolen id: 404 too (id null: no message), nothing forwarded.
        conn.send(rawhttp.request_bytes("GET", "/mcp", [("Accept", "text/event-stream"), ("Mcp-Session-Id", session),
                                                        *thief.items()], host=conn.authority))
        rpc_refusal(conn.read_response("GET"), 404, -32600, "Session not found", None, {})
        conn.send(rawhttp.request_bytes("DELETE", "/mcp", [("Mcp-Session-Id", session), *thief.items()],
                                        host=conn.authority))
        rpc_refusal(conn.read_response("DELETE"), 404, -32600, "Session not found", None, {})
        # The header name in any case.
        resp = post_raw(conn, json.dumps(tool_call(3, "add", {"a": 1, "b": 1})).encode(), thief,
                        extra={"MCP-SESSION-ID": session})
        rpc_refusal(resp, 404, -32600, "Session not found", 3, {})
        # The thief's own session works.
        own = initialize(conn, thief)
        assert own and own != session
        mine = post_rpc(conn, tool_call(4, "echo", {"text": "own"}), thief, session=own)
        assert mine.status == 200, mine

    event = wait_for_event(gw, "session_mismatch", "insp-hijack-post")
    assert event["severity"] == "high" and event["details"]["user_id"] == "key:" + sha256_form(keys.hashed)[7:15], event

    # The owner keeps its session (the DELETE was not forwarded), then ends it.
    with rawhttp.Conn(gw.port) as conn:
        still = post_rpc(conn, tool_call(5, "echo", {"text": "still mine"}), owner, session=session)
        assert still.status == 200 and result_text(only_message(still)) == "still mine", still
        conn.send(rawhttp.request_bytes("DELETE", "/mcp", [("Mcp-Session-Id", session), *owner.items()],
                                        host=conn.authority))
        assert conn.read_response("DELETE").status in (200, 204)


# --- mirrored headers (2026-07-28) -----------------------------------------------------------------------


def b64(text: str) -> str:
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


MISMATCH_METHOD = {"field": "Mcp-Method", "error": "does not match the body's method"}
MISMATCH_NAME = {"field": "Mcp-Name", "error": "does not match the body's params.name or params.uri"}

HEADER_CASES = [
    # (case, message, headers, expected details or None when it passes)
    ("method plain", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": "tools/list"}, MISMATCH_METHOD),
    ("method lower-case header", tool_call(1, "echo", {"text": "x"}), {"mcp-method": "tools/list"}, MISMATCH_METHOD),
    ("method base64", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": b64("tools/list")}, MISMATCH_METHOD),
    ("method case differs", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": "Tools/Call"}, MISMATCH_METHOD),
    ("name plain", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": "tools/call", "Mcp-Name": "fail"},
     MISMATCH_NAME),
    ("name base64", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": "tools/call", "Mcp-Name": b64("fail")},
     MISMATCH_NAME),
    ("name base64 not base64", tool_call(1, "echo", {"text": "x"}), {"Mcp-Name": "=?base64?!!!?="}, MISMATCH_NAME),
    ("name base64 not UTF-8", tool_call(1, "echo", {"text": "x"}),
     {"Mcp-Name": "=?base64?" + base64.b64encode(b"\xffecho").decode() + "?="}, MISMATCH_NAME),
    ("name without a name", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Mcp-Name": "echo"}, MISMATCH_NAME),
    ("method on a notification", {"jsonrpc": "2.0", "method": "notifications/initialized"},
     {"Mcp-Method": "tools/list"}, MISMATCH_METHOD),
    ("second name header", tool_call(1, "echo", {"text": "x"}), [("Mcp-Name", "echo"), ("Mcp-Name", "fail")],
     MISMATCH_NAME),
    ("uri of resources/read", {"jsonrpc": "2.0", "id": "r-1", "method": "resources/read",
                               "params": {"uri": "file:///tmp/a.txt"}}, {"Mcp-Name": "file:///etc/passwd"},
     MISMATCH_NAME),
    # Matching headers pass, plain or base64, whatever MCP-Protocol-Version says.
    ("match plain", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": "tools/call", "Mcp-Name": "echo"}, None),
    ("match base64", tool_call(1, "echo", {"text": "x"}), {"Mcp-Method": b64("tools/call"), "Mcp-Name": b64("echo")},
     None),
    ("match base64 unpadded", tool_call(1, "echo", {"text": "x"}),
     {"Mcp-Name": "=?base64?" + base64.b64encode(b"echo").decode().rstrip("=") + "?="}, None),
    ("match unicode uri", {"jsonrpc": "2.0", "id": "r-2", "method": "resources/read",
                           "params": {"uri": "file:///tmp/ünï cödé.txt"}},
     {"Mcp-Method": "resources/read", "Mcp-Name": b64("file:///tmp/ünï cödé.txt")}, None),
]


@pytest.mark.parametrize("case,message,headers,details", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_mirrored_headers_must_match_the_body(strict, case, message, headers, details, auth):
    gw, upstream = strict
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    with rawhttp.Conn(gw.port) as conn:
        conn.send(rawhttp.request_bytes("POST", "/mcp", [("Content-Type", "application/json"),
                                                         ("Accept", "application/json, text/event-stream"),
                                                         ("MCP-Protocol-Version", "2025-06-18"),
                                                         *auth.items(), *items],
                                        json.dumps(message).encode(), host=conn.authority))
        resp = conn.read_response("POST")
    if details is None:
        assert resp.status in (200, 202), resp
        assert b'"code":-32020' not in resp.body, resp
        if message.get("method") == "tools/call":
            assert result_text(only_message(resp)) == "x", resp
        return
    rpc_refusal(resp, 400, -32020, "Header mismatch", message.get("id"), details)


# --- batches -------------------------------------------------------------------------------------------------


def test_batches_refused_when_not_allowed(stacks, gateways, auth):
    upstream = stacks.upstream("v2-stateless")
    gw = gateways("nobatch", upstream.url, "\n[mcp]\nallow_batches = false\n")
    with rawhttp.Conn(gw.port) as conn:
        for batch in ([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}],
                      [tool_call(1, "add", {"a": 1, "b": 2}), {"jsonrpc": "2.0", "method": "notifications/x"}]):
            resp = post_json(conn, batch, auth, request_id="insp-nobatch")
            rpc_refusal(resp, 400, -32600, "Invalid Request", None,
                        {"field": "batch", "error": "batches are not allowed"})
        # Malformed JSON is still -32700 first.
        rpc_refusal(post_raw(conn, b"[{", auth), 400, -32700, "Parse error", None)
        single = post_json(conn, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, auth)
        assert single.status == 200 and tool_names(only_message(single)) == ALL_TOOLS, single
    assert security_events(gw, "validation_failed", "insp-nobatch")


def test_batches_pass_inspection_when_allowed(strict, auth):
    """allow_batches = true (the default): a valid batch reaches the upstream, whose own answer (the
    SDK refuses batches) comes back unchanged, not a gateway refusal."""
    gw, upstream = strict
    before = upstream_posts(upstream)
    with rawhttp.Conn(gw.port) as conn:
        resp = post_json(conn, [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                tool_call(2, "add", {"a": 1, "b": 2})], auth)
    assert resp.status == 400 and b"request_id" not in resp.body, resp
    error = resp.json()["error"]
    assert error["message"].startswith("Validation error"), "the SDK's own words, not the gateway's"
    wait_until(lambda: upstream_posts(upstream) > before, 5, what="the upstream to see the batch")


# --- per-tool timeouts ------------------------------------------------------------------------------------------

TIMEOUTS = """
[mcp]
call_timeout = "5s"
tool_timeouts = { slow = "1s" }
"""


def test_tool_timeout_json_answer_is_504(stacks, gateways, auth):
    """JSON mode: the SDK writes nothing before the result, so the timeout fires before the answer
    starts: 504 `Upstream timeout` after the tool's own 1 s; a fast tool and a short slow call pass."""
    upstream = stacks.upstream("v2-json")
    gw = gateways("timeouts", upstream.url, TIMEOUTS, response_timeout="1s")
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, auth)
        start = time.monotonic()
        resp = post_rpc(conn, tool_call(1, "slow", {"steps": 20, "interval": 0.5}), auth, session=session)
        elapsed = time.monotonic() - start
        http_error(resp, 504, "Upstream timeout")
        assert 0.9 <= elapsed < 4, "slow's own 1 s, not call_timeout's 5 s"
    with rawhttp.Conn(gw.port) as conn:
        fast = post_rpc(conn, tool_call(2, "add", {"a": 20, "b": 22}), auth, session=session)
        assert fast.status == 200 and result_text(only_message(fast)) == "42", fast
        short = post_rpc(conn, tool_call(3, "slow", {"steps": 1, "interval": 0.1}), auth, session=session)
        assert short.status == 200 and result_text(only_message(short)) == "done after 1 steps", short
    with rawhttp.Conn(gw.port) as conn:
        listed = post_rpc(conn, {"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, auth, session=session)
        assert listed.status == 200, listed


def test_call_timeout_is_the_default_for_other_tools(stacks, gateways, auth):
    """Without a tool_timeouts entry, a tools/call waits call_timeout (here 4 s), even though
    response_timeout is 1 s; past call_timeout it is 504."""
    upstream = stacks.upstream("v2-json")
    gw = gateways("calltimeout", upstream.url, '\n[mcp]\ncall_timeout = "4s"\n', response_timeout="1s")
    with rawhttp.Conn(gw.port, timeout=15) as conn:
        session = initialize(conn, auth)
        start = time.monotonic()
        resp = post_rpc(conn, tool_call(1, "slow", {"steps": 4, "interval": 0.5}), auth, session=session)
        assert resp.status == 200, resp
        assert result_text(only_message(resp)) == "done after 4 steps"
        assert 1.9 <= time.monotonic() - start < 4, "2 s of work within the 4 s call_timeout"
        start = time.monotonic()
        resp = post_rpc(conn, tool_call(2, "slow", {"steps": 20, "interval": 0.5}), auth, session=session)
        http_error(resp, 504, "Upstream timeout")
        assert 3.9 <= time.monotonic() - start < 8, "call_timeout's 4 s, before the 10 s of work"


@pytest.mark.parametrize("progress", [True, False], ids=["with-progress", "without-progress"])
def test_tool_timeout_on_an_open_sse_stream_is_a_32001_event(stacks, gateways, progress, auth):
    """SSE mode: the stream is already open (the SDK starts it at once; progress events may precede),
    so the gateway writes a -32001 `Request timeout` event for the call's id and ends the stream."""
    upstream = stacks.upstream("v2-sse")
    gw = gateways("timeouts", upstream.url, TIMEOUTS, response_timeout="1s")
    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, auth)
        start = time.monotonic()
        conn.send(rawhttp.request_bytes(
            "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
                             ("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-06-18"),
                             ("X-Request-Id", "insp-sse-timeout"), *auth.items()],
            json.dumps(tool_call("call-7", "slow", {"steps": 20, "interval": 0.5},
                                 progress_token="p" if progress else None)).encode(), host=conn.authority))
        head = conn.read_head()
        assert head.status == 200 and head.header("content-type").startswith("text/event-stream"), head
        events = list(conn.iter_events(head))   # ends when the gateway ends the stream
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed < 4, "slow's own 1 s, not call_timeout's 5 s (nor the 10 s of work)"
        messages = [json.loads(e.data) for e in events if e.data]
        final = messages[-1]
        assert final == {"jsonrpc": "2.0", "id": "call-7", "error": {
            "code": -32001, "message": "Request timeout",
            "data": {"details": {}, "request_id": "insp-sse-timeout"}}}, final
        before = messages[:-1]
        assert all(m.get("method") == "notifications/progress" for m in before), messages
        if progress:
            assert before, "progress events arrived before the timeout"
        # The connection is still usable (or closed cleanly); a new one certainly is.
    event = wait_for_event(gw, "call_timeout", "insp-sse-timeout")
    assert event["details"]["tool"] == "slow", event
    with rawhttp.Conn(gw.port) as conn:
        fast = post_rpc(conn, tool_call(8, "add", {"a": 1, "b": 2}), auth, session=session)
        assert fast.status == 200 and result_text(only_message(fast)) == "3", fast
        start = time.monotonic()
        short = post_rpc(conn, tool_call(9, "slow", {"steps": 2, "interval": 0.2}, progress_token="q"), auth,
                         session=session)
        assert short.status == 200 and result_text(only_message(short)) == "done after 2 steps", short
        assert len(short.rpc_messages()) == 3, short   # two progress events, then the result


# --- the old HTTP+SSE transport ----------------------------------------------------------------------------------

ENDPOINT = re.compile(r"/messages/\?session_id=[0-9a-f]{32}")


class OldSSE:
    """A GET /sse stream and a poster connection, through the gateway."""

    def __init__(self, port: int, auth: dict):
        self.auth = auth
        self.stream = rawhttp.Conn(port, timeout=10)
        self.poster = rawhttp.Conn(port)
        self.stream.send(rawhttp.request_bytes("GET", "/sse", [("Accept", "text/event-stream"), *auth.items()],
                                               host=self.stream.authority))
        head = self.stream.read_head()
        assert head.status == 200, head
        self.events = self.stream.iter_events(head)
        self.endpoint = next(self.events)

    def post(self, body: bytes, request_id: str | None = None) -> rawhttp.Response:
        headers = [("Content-Type", "application/json"), *self.auth.items()]
        if request_id:
            headers.append(("X-Request-Id", request_id))
        self.poster.send(rawhttp.request_bytes("POST", self.endpoint.data, headers, body, host=self.poster.authority))
        return self.poster.read_response("POST")

    def next_message(self) -> dict:
        for ev in self.events:
            if ev.event == "message" and ev.data:
                return json.loads(ev.data)
        raise AssertionError("SSE stream ended")

    def close(self) -> None:
        self.stream.close()
        self.poster.close()


def test_old_transport_posts_are_inspected_when_listed(stacks, gateways, auth):
    upstream = stacks.upstream("v2-oldsse")
    gw = gateways("oldsse", upstream.url, '\n[mcp]\npaths = ["/mcp", "/messages/"]\nsanitize = "reject"\n')
    old = OldSSE(gw.port, auth)
    try:
        # The endpoint event passes unchanged: the SDK's own relative URL, session in the query.
        assert old.endpoint.event == "endpoint" and ENDPOINT.fullmatch(old.endpoint.data), old.endpoint
        assert old.post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "gatehouse-e2e", "version": "1"}}}).encode()).status == 202
        assert old.next_message()["id"] == 1
        assert old.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}').status == 202

        before = upstream.count('"POST /messages/')
        resp = old.post(b'{"jsonrpc":"2.0","id":2,', request_id="insp-old-parse")
        rpc_refusal(resp, 400, -32700, "Parse error", None, {"error": "unexpected end of input at byte 24"})
        resp = old.post(json.dumps(tool_call(3, "bad name", {})).encode())
        rpc_refusal(resp, 400, -32602, "Validation failed", 3, {"field": "params.name", "error": PATTERN_ERROR})
        resp = old.post(json.dumps(tool_call(4, "echo", {"text": "<script>x</script>"})).encode())
        rpc_refusal(resp, 400, -32602, "Validation failed", 4,
                    {"field": "params.arguments.text", "error": "contains a dangerous pattern (<script>)"})
        assert upstream.count('"POST /messages/') == before, "refused POSTs never reach the upstream"

        # A valid call still works on the same stream.
        assert old.post(json.dumps(tool_call(5, "echo", {"text": "old but inspected"})).encode()).status == 202
        reply = old.next_message()
        assert reply["id"] == 5 and result_text(reply) == "old but inspected", reply
    finally:
        old.close()
    assert security_events(gw, "validation_failed", "insp-old-parse")


def test_old_transport_posts_pass_uninspected_when_not_listed(stacks, gateways, auth):
    """The control: with only /mcp in mcp.paths, the bad body reaches the SDK, which answers it itself."""
    upstream = stacks.upstream("v2-oldsse")
    gw = gateways("oldsse-plain", upstream.url, "")
    old = OldSSE(gw.port, auth)
    try:
        assert ENDPOINT.fullmatch(old.endpoint.data), old.endpoint
        before = upstream.count('"POST /messages/')
        resp = old.post(b'{"jsonrpc":"2.0","id":2,')
        assert resp.status == 400 and resp.body == b"Could not parse message", resp
        wait_until(lambda: upstream.count('"POST /messages/') > before, 5, what="the upstream to log the POST")
    finally:
        old.close()
