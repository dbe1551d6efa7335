"""HTTP/1.1 on the wire through the gateway, with raw sockets: keep-alive, chunked uploads,
pipelining, streaming of SSE, malformed requests and limits, headers added and rewritten."""

from __future__ import annotations

import json
import time

import pytest

import rawhttp
from mcp_raw import initialize, post_rpc, result_text, rpc_headers, rpc_request, tool_call

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def only_message(resp: rawhttp.Response) -> dict:
    msgs = resp.rpc_messages()
    assert len(msgs) == 1, resp
    return msgs[0]


# --- connection reuse, chunked uploads, pipelining -------------------------------------------------


@pytest.mark.parametrize("server", ["v2-json", "v2-stateless"])
def test_many_requests_on_one_keepalive_connection(stacks, auth, server):
    """30 MCP requests on one client connection (same local port), each answered in full."""
    stack = stacks.get(server)
    with rawhttp.Conn(stack.gateway.port) as conn:
        port = conn.local_port
        sid = initialize(conn, auth) if server == "v2-json" else None
        for i in range(30):
            resp = post_rpc(conn, tool_call(i + 1, "echo", {"text": f"message {i} ✓"}), auth, session=sid)
            assert resp.status == 200, resp
            assert (resp.header("connection") or "").lower() != "close", resp
            msg = only_message(resp)
            assert msg["id"] == i + 1 and result_text(msg) == f"message {i} ✓"
            assert conn.local_port == port


def test_chunked_upload(stacks, auth):
    """A `Transfer-Encoding: chunked` POST (with a chunk extension) of an MCP message is answered."""
    stack = stacks.get("v2-stateless")
    body = json.dumps(tool_call(7, "echo", {"text": "sent in chunks — ünïcödé " + "x" * 5000})).encode()
    headers = rpc_headers(auth) + [("Transfer-Encoding", "chunked")]
    with rawhttp.Conn(stack.gateway.port) as conn:
        conn.send(rawhttp.request_bytes("POST", "/mcp", headers, host=conn.authority))
        encoded = rawhttp.chunked(body, [1, 7, 100, 1000], extension=";e2e=1")
        # Dribble the chunks in a few writes, as a streaming client would.
        for i in range(0, len(encoded), 1500):
            conn.send(encoded[i:i + 1500])
            time.sleep(0.01)
        resp = conn.read_response("POST")
        assert resp.status == 200, resp
        msg = only_message(resp)
        assert msg["id"] == 7
        assert result_text(msg) == "sent in chunks — ünïcödé " + "x" * 5000
        # The connection is still usable afterwards.
        again = post_rpc(conn, tool_call(8, "add", {"a": 1, "b": 2}), auth)
        assert again.status == 200 and result_text(only_message(again)) == "3"


def test_two_pipelined_requests_answered_in_order(stacks, auth):
    """Two requests in one send: the slow one first, then a fast one; answers come back in order."""
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port, timeout=15) as conn:
        first = rpc_request(tool_call(1, "slow", {"steps": 2, "interval": 0.3}), auth, host=conn.authority)
        second = rpc_request(tool_call(2, "echo", {"text": "second"}), auth, host=conn.authority)
        conn.send(first + second)
        r1 = conn.read_response("POST")
        r2 = conn.read_response("POST")
    assert r1.status == 200 and r2.status == 200, (r1, r2)
    m1 = [m for m in r1.rpc_messages() if "id" in m]
    m2 = [m for m in r2.rpc_messages() if "id" in m]
    assert [m["id"] for m in m1] == [1] and result_text(m1[0]) == "done after 2 steps"
    assert [m["id"] for m in m2] == [2] and result_text(m2[0]) == "second"


def test_sse_events_arrive_as_written(stacks, auth):
    """At the HTTP level: each progress event of a slow call arrives about one interval after the
    previous one, and the first arrives long before the final response."""
    stack = stacks.get("v2-stateless")
    interval = 0.4
    with rawhttp.Conn(stack.gateway.port, timeout=15) as conn:
        start = time.monotonic()
        conn.send(rpc_request(tool_call(3, "slow", {"steps": 4, "interval": interval}, progress_token="p1"), auth, host=conn.authority))
        resp = conn.read_head()
        assert resp.status == 200, resp
        assert (resp.header("content-type") or "").startswith("text/event-stream"), resp
        events = list(conn.iter_events(resp))
    msgs = [(json.loads(e.data), e.arrived - start) for e in events if e.data]
    progress = [t for m, t in msgs if m.get("method") == "notifications/progress"]
    final = [t for m, t in msgs if m.get("id") == 3]
    assert len(progress) == 4 and len(final) == 1, msgs
    assert progress[0] < final[0] - 2.5 * interval, msgs
    for a, b in zip(progress, progress[1:]):
        assert b - a > interval * 0.5, f"events bunched together: {progress}"


# --- sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["v2-sse", "v2-json", "v1-sse"])
def test_session_delete_is_forwarded(stacks, auth, server):
    stack = stacks.get(server)
    line = '"DELETE /mcp HTTP/1.1" 200'
    before = stack.upstream.count(line)
    with rawhttp.Conn(stack.gateway.port) as conn:
        sid = initialize(conn, auth)
        assert sid
        listed = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, auth, session=sid)
        assert listed.status == 200, listed
        conn.send(rawhttp.request_bytes("DELETE", "/mcp", rpc_headers(auth, sid), host=conn.authority))
        deleted = conn.read_response("DELETE")
        assert deleted.status in (200, 204), deleted
        gone = post_rpc(conn, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, auth, session=sid)
        assert gone.status == 404, gone
    deadline = time.monotonic() + 5
    while stack.upstream.count(line) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.upstream.count(line) > before, "upstream never logged the DELETE"


def test_old_transport_endpoint_event_and_posts(stacks, auth):
    """HTTP+SSE (2024-11-05): GET /sse gives an `endpoint` event; POSTs to it get 202 and the
    answers arrive as `message` events on the GET stream."""
    stack = stacks.get("v2-oldsse")
    with rawhttp.Conn(stack.gateway.port, timeout=10) as stream, rawhttp.Conn(stack.gateway.port) as poster:
        stream.send(rawhttp.request_bytes("GET", "/sse", [("Accept", "text/event-stream")] + list(auth.items()), host=stream.authority))
        head = stream.read_head()
        assert head.status == 200, head
        assert (head.header("content-type") or "").startswith("text/event-stream"), head
        events = stream.iter_events(head)
        endpoint = next(events)
        assert endpoint.event == "endpoint", endpoint
        assert endpoint.data.startswith("/messages/") and "session_id=" in endpoint.data, endpoint

        def post(message) -> None:
            poster.send(rawhttp.request_bytes(
                "POST", endpoint.data, [("Content-Type", "application/json")] + list(auth.items()),
                json.dumps(message).encode(), host=poster.authority))
            resp = poster.read_response("POST")
            assert resp.status == 202, resp

        def next_message() -> dict:
            for ev in events:
                if ev.event == "message" and ev.data:
                    return json.loads(ev.data)
            raise AssertionError("SSE stream ended")

        post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2024-11-05", "capabilities": {},
                         "clientInfo": {"name": "gatehouse-e2e", "version": "1"}}})
        init = next_message()
        assert init["id"] == 1 and init["result"]["serverInfo"]["name"] == "e2e-v2", init
        post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        post(tool_call(2, "echo", {"text": "über the old transport"}))
        reply = next_message()
        assert reply["id"] == 2 and result_text(reply) == "über the old transport", reply


# --- headers -------------------------------------------------------------------------------------


def test_host_is_rewritten_to_the_upstream_authority(stacks, auth, need_gateway):
    """The SDK server answers 421 to any Host but its own; through the gateway a foreign Host works."""
    stack = stacks.get("v2-stateless")
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with rawhttp.Conn(stack.upstream.port) as direct:
        direct.send(rpc_request(message, {}, host="mcp.example.com"))
        assert direct.read_response("POST").status == 421   # the control: the upstream does check
    with rawhttp.Conn(stack.gateway.port) as conn:
        conn.send(rpc_request(message, auth, host="mcp.example.com"))
        resp = conn.read_response("POST")
    assert resp.status == 200, resp
    assert sorted(t["name"] for t in only_message(resp)["result"]["tools"]) == ["add", "big", "echo", "fail", "slow"]


def test_security_headers_and_request_id_on_proxied_answers(stacks, auth, need_gateway):
    stack = stacks.get("v2-stateless")
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, message, auth, extra={"X-Request-Id": "e2e-req-0001"})
        assert resp.status == 200, resp
        for name, value in SECURITY_HEADERS.items():
            assert resp.header(name) == value, (name, resp)
        assert resp.header("Content-Security-Policy"), resp
        assert resp.header("Strict-Transport-Security") is None, "HSTS must not be sent over plain HTTP"
        assert resp.header("X-Request-Id") == "e2e-req-0001", resp
        # Without an X-Request-Id the gateway makes one, different for every request.
        a = post_rpc(conn, message, auth)
        b = post_rpc(conn, message, auth)
        assert a.status == b.status == 200, (a, b)
        assert a.header("X-Request-Id") and b.header("X-Request-Id"), (a, b)
        assert a.header("X-Request-Id") != b.header("X-Request-Id")
        # An unreasonable X-Request-Id (over 128 characters) is replaced, not echoed.
        c = post_rpc(conn, message, auth, extra={"X-Request-Id": "r" * 200})
        assert c.status == 200 and c.header("X-Request-Id") and c.header("X-Request-Id") != "r" * 200, c


def test_security_headers_on_sse_answers(stacks, auth, need_gateway):
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, tool_call(1, "echo", {"text": "x"}), auth)
    assert resp.status == 200 and (resp.header("content-type") or "").startswith("text/event-stream"), resp
    for name, value in SECURITY_HEADERS.items():
        assert resp.header(name) == value, (name, resp)


def test_upstream_error_status_and_body_pass_through(stacks, auth, need_gateway):
    """An upstream 400 (request without a session on a stateful server) reaches the client unchanged."""
    stack = stacks.get("v2-sse")
    message = {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}
    with rawhttp.Conn(stack.upstream.port) as direct:
        direct.send(rpc_request(message, {}, host=direct.authority))
        expected = direct.read_response("POST")
    with rawhttp.Conn(stack.gateway.port) as conn:
        conn.send(rpc_request(message, auth, host=conn.authority))
        got = conn.read_response("POST")
    assert expected.status == 400
    assert got.status == expected.status and got.body == expected.body, (expected, got)


# --- malformed requests and limits ----------------------------------------------------------------


def _error(resp: rawhttp.Response, status: int, message: str) -> None:
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    body = resp.json()
    assert body["error"] == message, body
    assert isinstance(body.get("request_id"), str) and body["request_id"], body
    assert resp.header("X-Content-Type-Options") == "nosniff", resp


# {A} stands for a valid Authorization line (with the same line end), so that the gateway gets as far
# as reading the body where the fault is in the body.
MALFORMED = {
    "garbage request line": b"HELLO\r\n\r\n",
    "header without colon": b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nNoColonHere\r\n\r\n",
    "bare LF line ends": b"GET /mcp HTTP/1.1\nHost: 127.0.0.1\n{A}\n\n",
    "bare CR in a header": b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nX-A: a\rb\r\n\r\n",
    "obsolete line folding": b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nX-A: a\r\n  folded\r\n\r\n",
    "content-length and chunked": (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "two different content-lengths": (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"),
    "invalid chunk size": (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
    "chunk size overflow": (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{A}\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nabc\r\n0\r\n\r\n"),
    "space before colon": b"GET /mcp HTTP/1.1\r\nHost : 127.0.0.1\r\n{A}\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /mcp HTTP/1.1\r\n{A}\r\n\r\n",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_http_gets_400_and_close(stacks, auth, need_gateway, case):
    stack = stacks.get("v2-stateless")
    raw = MALFORMED[case].replace(b"{A}", "Authorization: {}".format(auth["Authorization"]).encode())
    with rawhttp.Conn(stack.gateway.port, timeout=5) as conn:
        # A follow-up request rides along: it must not be answered (the connection is closed).
        conn.send(raw + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        resp = conn.read_response()
        _error(resp, 400, "Bad request")
        assert conn.is_closed_by_peer(3), "connection left open after a malformed request"


def test_unknown_transfer_coding_gets_501_and_close(stacks, auth, need_gateway):
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port, timeout=5) as conn:
        conn.send(rawhttp.request_bytes("POST", "/mcp", rpc_headers(auth) + [("Transfer-Encoding", "gzip")], host=conn.authority) + b"xyz")
        _error(conn.read_response(), 501, "Not implemented")
        assert conn.is_closed_by_peer(3)


def test_oversized_head_gets_431(stacks, auth, need_gateway):
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port, timeout=5) as conn:
        conn.send(rawhttp.request_bytes("GET", "/mcp", list(auth.items()) + [("X-Padding", "a" * 20000)], host=conn.authority))
        _error(conn.read_response(), 431, "Request header fields too large")


def test_big_body_by_content_length_gets_413(stacks, auth, need_gateway):
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port, timeout=5) as conn:
        head = rawhttp.request_bytes("POST", "/mcp", rpc_headers(auth) + [("Content-Length", str(2 * 1024 * 1024))],
                                     host=conn.authority)
        conn.send(head + b"{" * 1024)
        _error(conn.read_response(), 413, "Request body too large")


def test_big_chunked_body_gets_413(stacks, auth, need_gateway):
    """No Content-Length to look at: the limit must hold while the chunks arrive."""
    stack = stacks.get("v2-stateless")
    with rawhttp.Conn(stack.gateway.port, timeout=10) as conn:
        conn.send(rawhttp.request_bytes("POST", "/mcp", rpc_headers(auth) + [("Transfer-Encoding", "chunked")],
                                       host=conn.authority))
        piece = b" " * 65536
        try:
            for _ in range(24):   # 1.5 MiB against the 1 MiB default
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass   # the gateway may answer and close before the whole body is sent
        _error(conn.read_response(), 413, "Request body too large")


def test_expect_100_continue(stacks, auth):
    """`Expect: 100-continue`: an interim 100 comes before the client sends the body."""
    stack = stacks.get("v2-stateless")
    body = json.dumps(tool_call(4, "echo", {"text": "after continue"})).encode()
    with rawhttp.Conn(stack.gateway.port, timeout=10) as conn:
        conn.send(rawhttp.request_bytes(
            "POST", "/mcp", rpc_headers(auth) + [("Content-Length", str(len(body))), ("Expect", "100-continue")],
            host=conn.authority))
        interim = conn.read_head()
        assert interim.status == 100, interim
        conn.send(body)
        resp = conn.read_response("POST")
    assert resp.status == 200, resp
    assert result_text(only_message(resp)) == "after continue"


def test_slow_head_gets_408_and_close(stacks, gateway_factory, auth):
    """A client that never finishes its request head is answered 408 after server.header_timeout."""
    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("slowloris", upstream.url, server_extra='header_timeout = "1s"')
    with rawhttp.Conn(gw.port, timeout=20) as conn:
        start = time.monotonic()
        conn.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        resp = conn.read_response()
        elapsed = time.monotonic() - start
        _error(resp, 408, "Request timeout")
        assert conn.is_closed_by_peer(3)
    assert 0.8 <= elapsed <= 5, f"408 after {elapsed:.2f}s with header_timeout 1s"
