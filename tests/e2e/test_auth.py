"""API-key authentication at the gateway: the contract's 401 answers, and keys that work."""

from __future__ import annotations

import pytest

import rawhttp
from mcp_raw import post_rpc, result_text, tool_call
from support import wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")

REFUSALS = {
    "no header": (None, "Missing Authorization header"),
    "wrong key": ("Bearer not-a-configured-key-0123456789", "Invalid API key"),
    "wrong scheme": ("Basic dXNlcjpwYXNzd29yZA==", "Invalid authorization scheme"),
    "empty credential": ("Bearer ", "Invalid authorization format"),
    "scheme alone": ("Bearer", "Invalid authorization format"),
    "key with another key's hash": (None, "Invalid API key"),   # filled in below
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_with_401(stacks, keys, case):
    stack = stacks.get("v2-stateless")
    value, message = REFUSALS[case]
    if case == "key with another key's hash":
        # The hashed entry's sha256 form is not itself a key.
        value = "Bearer " + keys.config_entries[1]
    posts_before = stack.upstream.count('"POST /mcp HTTP/1.1"')
    auth = {"Authorization": value} if value is not None else {}
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, tool_call(1, "echo", {"text": "x"}), auth)
        assert resp.status == 401, resp
        assert (resp.header("content-type") or "").startswith("application/json"), resp
        body = resp.json()
        assert set(body) == {"error", "request_id"}, body
        assert body["error"] == message, body
        assert isinstance(body["request_id"], str) and body["request_id"], body
        assert body["request_id"] == resp.header("X-Request-Id"), resp
        challenge = resp.header("WWW-Authenticate")
        if case == "no header":
            assert challenge == 'Bearer realm="gatehouse"', resp
        else:
            assert challenge and challenge.startswith('Bearer realm="gatehouse"'), resp
        assert resp.header("X-Content-Type-Options") == "nosniff", resp
        # The refusal does not cost the connection: a good key works right after on it.
        ok = post_rpc(conn, tool_call(2, "echo", {"text": "after"}), {"Authorization": f"Bearer {keys.plain}"})
        assert ok.status == 200, ok
    wait_until(lambda: stack.upstream.count('"POST /mcp HTTP/1.1"') >= posts_before + 1, 5, what="the upstream log")
    assert stack.upstream.count('"POST /mcp HTTP/1.1"') == posts_before + 1, "a refused request reached the upstream"


def test_sent_request_id_is_used_in_the_error_body(stacks):
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, tool_call(1, "echo", {"text": "x"}), {}, extra={"X-Request-Id": "e2e-auth-77"})
    assert resp.status == 401
    assert resp.json()["request_id"] == "e2e-auth-77"
    assert resp.header("X-Request-Id") == "e2e-auth-77"


@pytest.mark.parametrize("which", ["plain", "hashed", "lowercase scheme"])
def test_configured_keys_are_accepted(stacks, keys, which):
    stack = stacks.get("v2-stateless")
    value = {
        "plain": f"Bearer {keys.plain}",
        "hashed": f"Bearer {keys.hashed}",
        "lowercase scheme": f"bearer {keys.plain}",
    }[which]
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, tool_call(1, "echo", {"text": which}), {"Authorization": value})
    assert resp.status == 200, resp
    assert result_text(resp.rpc_messages()[-1]) == which


def test_healthz_needs_no_key(stacks):
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port) as conn:
        conn.send(rawhttp.request_bytes("GET", "/healthz", [], host=conn.authority))
        resp = conn.read_response()
    assert resp.status == 200 and resp.json() == {"status": "ok"}, resp


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_need_a_key_too(stacks, method):
    stack = stacks.get("v2-sse")
    with rawhttp.Conn(stack.gateway.port) as conn:
        conn.send(rawhttp.request_bytes(method, "/mcp", [("Accept", "text/event-stream"),
                                                         ("Mcp-Session-Id", "0123456789abcdef")],
                                        host=conn.authority))
        resp = conn.read_response(method)
    assert resp.status == 401 and resp.json()["error"] == "Missing Authorization header", resp


def test_jwt_shaped_bearer_without_jwt_configured_is_an_invalid_token(stacks):
    """A gateway with API keys only: a bearer that looks like a JWT is judged as a token (§5), refused with
    `Invalid or expired token`, the invalid_token challenge, and the reason `jwt_not_accepted` in the log."""
    stack = stacks.get("v2-stateless")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl"
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, tool_call(1, "echo", {"text": "x"}), {"Authorization": f"Bearer {token}"})
    assert resp.status == 401, resp
    assert resp.json()["error"] == "Invalid or expired token"
    assert resp.header("WWW-Authenticate") == 'Bearer realm="gatehouse", error="invalid_token"', resp
    request_id = resp.header("X-Request-Id")

    def refusal_logged() -> bool:
        return any(
            e.get("event_type") == "auth" and e.get("request_id") == request_id
            and e.get("success") is False and (e.get("details") or {}).get("reason") == "jwt_not_accepted"
            for e in stack.gateway.log_events())

    wait_until(refusal_logged, 5, what="the auth event with reason jwt_not_accepted")
    assert token not in stack.gateway.log_text()
