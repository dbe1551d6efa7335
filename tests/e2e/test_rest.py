"""The REST tool door (§12): `POST /execute` through the gateway to real SDK servers.

Against 2.x JSON, 2.x SSE and 1.x upstreams: a call succeeds and returns the tool's content; a tool
that raises gives `"status":"error"`; an upstream restarted between two calls (its sessions lost) still
answers the second; a slow tool past the request's `timeout` gives 504. Every validation failure of the
seed's schema gives its exact 400; a caller without the tool's permission gets 403, one without a
credential 401; an upstream that is down gives 502. The security log has the `access` event of the call.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import rawhttp
from support import (
    DIRECT,
    SERVERS,
    UPSTREAMS,
    V1_PYTHON,
    V2_PYTHON,
    Gateway,
    Managed,
    free_port,
    new_key,
    port_accepts,
    sha256_form,
    wait_until,
)

pytestmark = pytest.mark.skipif(DIRECT, reason="the REST door is the gateway's own (E2E_DIRECT=1)")

UPSTREAM_KINDS = ["v2-json", "v2-sse", "v1-sse"]
READER_KEY = new_key()      # authenticated, but without tools:call


def rest_extra() -> str:
    return f"""
[rest]
enabled = true

[[auth.api_key]]
name = "reader"
hash = "{sha256_form(READER_KEY)}"
permissions = ["resources:read"]
"""


@pytest.fixture(scope="module")
def rest_gateways(stacks, workdir, keys):
    """One gateway with the REST door in front of each kind of upstream, for the whole module."""
    started: dict[str, Gateway] = {}

    def get(kind: str) -> Gateway:
        if kind not in started:
            upstream = stacks.upstream(kind)
            started[kind] = Gateway(f"rest-{kind}", upstream.url, workdir, keys.config_entries, extra=rest_extra())
        return started[kind]

    yield get
    for gw in started.values():
        gw.stop()


def execute(port: int, body, auth: dict | None, path: str = "/execute", timeout: float = 20,
            extra: dict | None = None) -> rawhttp.Response:
    """POST the JSON `body` (or raw bytes) to the REST door."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [("Content-Type", "application/json")] + list((auth or {}).items()) + list((extra or {}).items())
    with rawhttp.Conn(port, timeout=timeout) as conn:
        conn.send(rawhttp.request_bytes("POST", path, headers, data, host=conn.authority))
        return conn.read_response("POST")


def text_of(result: dict) -> str:
    return "".join(c.get("text", "") for c in result.get("content", []))


def assert_json_answer(resp: rawhttp.Response, status: int) -> dict:
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    assert resp.header("X-Content-Type-Options") == "nosniff", "security headers on every answer"
    assert resp.header("X-Request-Id"), resp
    return resp.json()


# --- calls ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_call_succeeds_with_the_tools_content(rest_gateways, auth, kind):
    gw = rest_gateways(kind)
    text = "héllo — 日本語 🚀"
    body = assert_json_answer(execute(gw.port, {"tool": "echo", "parameters": {"text": text}}, auth), 200)
    assert body["status"] == "success", body
    assert text_of(body["result"]) == text, body
    assert not body["result"].get("isError", False), body
    assert set(body) == {"status", "result"}, body

    summed = assert_json_answer(execute(gw.port, {"tool": "add", "parameters": {"a": 2, "b": 40}, "timeout": 10},
                                        auth), 200)
    assert summed["status"] == "success" and text_of(summed["result"]) == "42", summed


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_tool_that_raises_gives_status_error(rest_gateways, auth, kind):
    gw = rest_gateways(kind)
    body = assert_json_answer(execute(gw.port, {"tool": "fail", "parameters": {}}, auth), 200)
    assert body["status"] == "error", body
    assert body["result"]["isError"] is True, body
    assert text_of(body["result"]), body


@pytest.mark.parametrize("kind", UPSTREAM_KINDS)
def test_slow_tool_past_its_timeout_gives_504(rest_gateways, auth, kind):
    gw = rest_gateways(kind)
    start = time.monotonic()
    resp = execute(gw.port, {"tool": "slow", "parameters": {"steps": 20, "interval": 0.5}, "timeout": 1}, auth)
    elapsed = time.monotonic() - start
    body = assert_json_answer(resp, 504)
    assert body["error"] == "Upstream timeout" and body["request_id"] == resp.header("X-Request-Id"), body
    assert 0.9 <= elapsed <= 5, f"504 after {elapsed:.2f}s with timeout 1"
    # The door goes on serving.
    after = assert_json_answer(execute(gw.port, {"tool": "echo", "parameters": {"text": "after"}}, auth), 200)
    assert text_of(after["result"]) == "after"


def test_slow_tool_within_its_timeout_succeeds(rest_gateways, auth):
    gw = rest_gateways("v2-sse")
    resp = execute(gw.port, {"tool": "slow", "parameters": {"steps": 3, "interval": 0.5}, "timeout": 10}, auth)
    body = assert_json_answer(resp, 200)
    assert text_of(body["result"]) == "done after 3 steps", body


def test_access_event_names_the_tool(rest_gateways, auth):
    gw = rest_gateways("v2-json")
    secret = "param-value-9f2c"
    resp = execute(gw.port, {"tool": "echo", "parameters": {"text": secret}}, auth, extra={"X-Request-Id": "rest-e2e-7"})
    assert resp.status == 200, resp

    def event():
        return [e for e in gw.log_events() if e.get("event_type") == "access" and e.get("request_id") == "rest-e2e-7"]

    wait_until(event, 5, what="the access event")
    access = event()[0]
    assert access["resource"] == "tools/call:echo" and access["action"] == "tools/call", access
    assert access["allowed"] is True, access
    assert secret not in gw.log_text(), "parameters are never logged"


# --- an upstream restarted between two calls ------------------------------------------------------


class RestartableUpstream(Managed):
    """An SDK server of `kind` on a fixed port, so that it can be stopped and started again there."""

    def __init__(self, kind: str, port: int, workdir: Path, generation: int):
        spec = UPSTREAMS[kind]
        python = V2_PYTHON if spec.sdk == "v2" else V1_PYTHON
        script = SERVERS / ("server_v2.py" if spec.sdk == "v2" else "server_v1.py")
        argv = [python, str(script), "--transport", spec.transport, "--port", str(port)]
        if spec.json_response:
            argv.append("--json-response")
        self.port = port
        super().__init__(f"restartable-{kind}-{generation}", argv, workdir / f"restartable-{kind}-{generation}.log")
        wait_until(lambda: not self.alive() or port_accepts(self.port), 30, what=f"{kind} to listen")
        assert self.alive(), self.tail()


@pytest.mark.parametrize("kind", ["v2-sse", "v1-sse"])
def test_upstream_restarted_between_two_calls(gateway_factory, workdir, auth, kind):
    port = free_port()
    upstream = RestartableUpstream(kind, port, workdir, 1)
    try:
        gw = gateway_factory(f"rest-restart-{kind}", f"http://127.0.0.1:{port}", extra=rest_extra())
        first = assert_json_answer(execute(gw.port, {"tool": "echo", "parameters": {"text": "one"}}, auth), 200)
        assert text_of(first["result"]) == "one", first
        upstream.stop()
        wait_until(lambda: not port_accepts(port), 10, what="the upstream to stop")
        upstream = RestartableUpstream(kind, port, workdir, 2)     # a new process: every session is gone
        second = assert_json_answer(execute(gw.port, {"tool": "echo", "parameters": {"text": "two"}}, auth), 200)
        assert second["status"] == "success" and text_of(second["result"]) == "two", second
    finally:
        upstream.stop()


def test_upstream_down_gives_502(gateway_factory, auth):
    gw = gateway_factory("rest-down", f"http://127.0.0.1:{free_port()}", extra=rest_extra())
    resp = execute(gw.port, {"tool": "echo", "parameters": {"text": "x"}}, auth)
    body = assert_json_answer(resp, 502)
    assert body == {"error": "Upstream unavailable", "request_id": resp.header("X-Request-Id")}, body


# --- who may call ----------------------------------------------------------------------------------


def test_caller_without_the_permission_gets_403(rest_gateways):
    gw = rest_gateways("v2-json")
    resp = execute(gw.port, {"tool": "echo", "parameters": {"text": "x"}}, {"Authorization": f"Bearer {READER_KEY}"})
    body = assert_json_answer(resp, 403)
    assert body == {"error": "Insufficient permissions", "request_id": resp.header("X-Request-Id")}, body


def test_no_credential_gets_401(rest_gateways):
    gw = rest_gateways("v2-json")
    resp = execute(gw.port, {"tool": "echo", "parameters": {"text": "x"}}, None)
    body = assert_json_answer(resp, 401)
    assert body["error"] == "Missing Authorization header", body
    assert (resp.header("WWW-Authenticate") or "").startswith('Bearer realm="gatehouse"'), resp


def test_wrong_key_gets_401(rest_gateways):
    gw = rest_gateways("v2-json")
    resp = execute(gw.port, {"tool": "echo", "parameters": {}}, {"Authorization": "Bearer not-a-key"})
    assert assert_json_answer(resp, 401)["error"] == "Invalid API key"


# --- the seed's validation ---------------------------------------------------------------------------

REQUIRED = "Missing data for required field."
PATTERN = "String does not match expected pattern."
MAPPING = "Not a valid mapping type."
INTEGER = "Not a valid integer."
RANGE = "Must be greater than or equal to 1 and less than or equal to 300."

VALIDATION_CASES = [
    ("missing tool", {"parameters": {}}, {"tool": [REQUIRED]}),
    ("bad name", {"tool": "rm -rf", "parameters": {}}, {"tool": [PATTERN]}),
    ("empty name", {"tool": "", "parameters": {}}, {"tool": [PATTERN]}),
    ("name not a string", {"tool": 7, "parameters": {}}, {"tool": ["Not a valid string."]}),
    ("missing parameters", {"tool": "echo"}, {"parameters": [REQUIRED]}),
    ("parameters a list", {"tool": "echo", "parameters": ["x"]}, {"parameters": [MAPPING]}),
    ("parameters a string", {"tool": "echo", "parameters": "text=x"}, {"parameters": [MAPPING]}),
    ("timeout 0", {"tool": "echo", "parameters": {}, "timeout": 0}, {"timeout": [RANGE]}),
    ("timeout 301", {"tool": "echo", "parameters": {}, "timeout": 301}, {"timeout": [RANGE]}),
    ("timeout a string", {"tool": "echo", "parameters": {}, "timeout": "30"}, {"timeout": [INTEGER]}),
    ("timeout a float", {"tool": "echo", "parameters": {}, "timeout": 30.5}, {"timeout": [INTEGER]}),
    ("several at once", {"tool": "no way", "timeout": 0},
     {"tool": [PATTERN], "parameters": [REQUIRED], "timeout": [RANGE]}),
]


@pytest.mark.parametrize("case", VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validation_failure_gives_the_seeds_400(rest_gateways, auth, case):
    _, body, details = case
    gw = rest_gateways("v2-json")
    resp = execute(gw.port, body, auth)
    answer = assert_json_answer(resp, 400)
    assert answer == {"error": "Validation failed", "details": details}, answer


def test_body_that_is_not_a_json_object_gives_400(rest_gateways, auth):
    gw = rest_gateways("v2-json")
    for raw, message in ((b"[1,2]", "Invalid input type."), (b"tool=echo", "Invalid JSON.")):
        answer = assert_json_answer(execute(gw.port, raw, auth), 400)
        assert answer == {"error": "Validation failed", "details": {"_schema": [message]}}, answer


def test_validation_failures_reach_no_upstream(rest_gateways, auth, stacks):
    gw = rest_gateways("v2-json")
    upstream = stacks.upstream("v2-json")
    before = upstream.count("POST /mcp")
    for _, body, _ in VALIDATION_CASES:
        assert execute(gw.port, body, auth).status == 400
    time.sleep(0.2)
    assert upstream.count("POST /mcp") == before
