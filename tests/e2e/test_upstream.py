"""The gateway and its upstream: 502 and 504, a vanished client freeing the upstream connection, and
what reaches the upstream (headers added, removed and rewritten)."""

from __future__ import annotations

import hashlib
import json
import time

import psutil
import pytest

import rawhttp
from mcp_raw import post_rpc, rpc_request, tool_call
from support import EchoUpstream, StallUpstream, free_port, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")


def _error(resp: rawhttp.Response, status: int, message: str) -> None:
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    body = resp.json()
    assert body["error"] == message, body
    assert isinstance(body.get("request_id"), str) and body["request_id"], body
    assert resp.header("X-Content-Type-Options") == "nosniff", resp


def upstream_connections(gateway_pid: int, upstream_port: int) -> int:
    """ESTABLISHED TCP connections of the gateway process to the upstream port."""
    conns = psutil.Process(gateway_pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.raddr and c.raddr.port == upstream_port and c.status == psutil.CONN_ESTABLISHED)


def test_upstream_down_gives_502(gateway_factory, auth):
    dead = f"http://127.0.0.1:{free_port()}"
    gw = gateway_factory("down", dead)
    with rawhttp.Conn(gw.port) as conn:
        resp = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, auth)
        _error(resp, 502, "Upstream unavailable")
        # And again on the same connection: the gateway keeps serving its client.
        conn.send(rawhttp.request_bytes("GET", "/mcp", [("Accept", "text/event-stream")] + list(auth.items()),
                                        host=conn.authority))
        _error(conn.read_response(), 502, "Upstream unavailable")
    assert gw.alive()


def test_stalled_upstream_gives_504(gateway_factory, auth):
    stall = StallUpstream()
    try:
        gw = gateway_factory("stall", stall.url, response_timeout="1s")
        with rawhttp.Conn(gw.port, timeout=15) as conn:
            start = time.monotonic()
            resp = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, auth)
            elapsed = time.monotonic() - start
        _error(resp, 504, "Upstream timeout")
        assert 0.8 <= elapsed <= 8, f"504 after {elapsed:.2f}s with response_timeout 1s"
        assert stall.accepted >= 1 and b"tools/list" in stall.received, "the request never reached the upstream"
    finally:
        stall.close()


def test_client_gone_mid_sse_frees_the_upstream_connection(stacks, gateway_factory, auth):
    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("disconnect", upstream.url)
    assert upstream_connections(gw.pid, upstream.port) == 0
    conn = rawhttp.Conn(gw.port, timeout=10)
    try:
        conn.send(rpc_request(tool_call(1, "slow", {"steps": 40, "interval": 0.5}, progress_token="d"), auth,
                              host=conn.authority))
        head = conn.read_head()
        assert head.status == 200, head
        first = next(conn.iter_events(head))
        assert json.loads(first.data)["method"] == "notifications/progress", first
        during = upstream_connections(gw.pid, upstream.port)
        assert during >= 1, "no upstream connection while a call streams?"
    finally:
        conn.close()
    try:
        wait_until(lambda: upstream_connections(gw.pid, upstream.port) == 0, 5,
                   what="the gateway to close its upstream connection")
    except TimeoutError:
        pytest.fail(f"gateway still holds {upstream_connections(gw.pid, upstream.port)} upstream connection(s) "
                    f"5s after its client went away mid-SSE (the call would run for 20s)")
    assert gw.alive()


# --- what reaches the upstream -------------------------------------------------------------------


@pytest.fixture
def echo_gateway(gateway_factory):
    echo = EchoUpstream()
    try:
        yield echo, gateway_factory("echo", echo.url)
    finally:
        echo.close()


def _headers(record: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in record["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


def test_forwarded_request_headers(echo_gateway, keys):
    echo, gw = echo_gateway
    with rawhttp.Conn(gw.port) as conn:
        conn.send(rawhttp.request_bytes("POST", "/other/path?q=1", [
            ("Authorization", f"Bearer {keys.plain}"),
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "must be removed"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic abc"),
            ("X-Request-Id", "e2e-fwd-1"),
            ("X-Custom", "kept"),
            ("Mcp-Session-Id", "sess-123"),
            ("MCP-Protocol-Version", "2025-06-18"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
            ("Mcp-Param-Region", "eu"),
            ("Last-Event-ID", "41"),
        ], b'{"hello":"world"}', host="mcp.example.com"))
        resp = conn.read_response("POST")
    assert resp.status == 200, resp
    record = resp.json()
    assert record["method"] == "POST" and record["path"] == "/other/path?q=1"
    assert record["body"] == '{"hello":"world"}'
    h = _headers(record)
    assert h["host"] == [f"127.0.0.1:{echo.port}"], h
    assert "authorization" not in h, "the client's Authorization must not be forwarded"
    assert "proxy-authorization" not in h and "x-hop" not in h and "keep-alive" not in h, h
    assert h["x-custom"] == ["kept"]
    assert h["x-request-id"] == ["e2e-fwd-1"]
    assert h["x-forwarded-for"] == ["127.0.0.1"], h
    assert h["x-forwarded-proto"] == ["http"], h
    assert h["x-forwarded-host"] == ["mcp.example.com"], h
    assert h["x-gatehouse-principal"] == ["key:" + hashlib.sha256(keys.plain.encode()).hexdigest()[:8]], h
    for name, value in [("mcp-session-id", "sess-123"), ("mcp-protocol-version", "2025-06-18"),
                        ("mcp-method", "tools/call"), ("mcp-name", "echo"), ("mcp-param-region", "eu"),
                        ("last-event-id", "41")]:
        assert h.get(name) == [value], (name, h)
    # The answer: upstream headers kept, security headers added (and replacing the upstream's).
    assert resp.header("X-Upstream") == "echo"
    assert resp.header_all("X-Frame-Options") == ["DENY"], resp
    assert resp.header("X-Request-Id") == "e2e-fwd-1"


def test_identity_header_names_the_key(echo_gateway, keys):
    """The principal of a key without a name is key:<first 8 hex of its digest>; a client cannot
    forge it by sending the header itself."""
    echo, gw = echo_gateway
    expected = "key:" + hashlib.sha256(keys.plain.encode()).hexdigest()[:8]
    with rawhttp.Conn(gw.port) as conn:
        conn.send(rawhttp.request_bytes("GET", "/who", [("Authorization", f"Bearer {keys.plain}"),
                                                        ("X-Gatehouse-Principal", "admin")], host=conn.authority))
        resp = conn.read_response()
    assert resp.status == 200, resp
    assert _headers(resp.json())["x-gatehouse-principal"] == [expected]


# --- big answers and back-pressure ---------------------------------------------------------------


@pytest.mark.parametrize("server", ["v2-json", "v2-stateless"])
def test_big_answer_arrives_whole(stacks, auth, server):
    """A 3 MB tool result (twice that on the wire: content and structuredContent), JSON or SSE."""
    stack = stacks.get(server)
    size = 3_000_000
    with rawhttp.Conn(stack.gateway.port, timeout=30) as conn:
        if server == "v2-json":
            from mcp_raw import initialize
            sid = initialize(conn, auth)
        else:
            sid = None
        resp = post_rpc(conn, tool_call(1, "big", {"size": size}), auth, session=sid)
    assert resp.status == 200, resp
    msg = [m for m in resp.rpc_messages() if m.get("id") == 1][0]
    text = "".join(c["text"] for c in msg["result"]["content"])
    assert len(text) == size and text.startswith("0123456789abcdef0123")


def test_slow_reader_does_not_make_the_gateway_buffer_the_answer(stacks, gateway_factory, auth):
    """The client asks for a ~40 MB answer and reads nothing for 3 s: the gateway must stop reading
    the upstream (back-pressure) instead of holding the answer in memory; then it all arrives."""
    import socket as _socket

    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("backpressure", upstream.url)
    proc = psutil.Process(gw.pid)
    size = 20_000_000
    with rawhttp.Conn(gw.port, timeout=60) as conn:
        conn.sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 65536)
        rss_before = proc.memory_info().rss
        conn.send(rpc_request(tool_call(1, "big", {"size": size}), auth, host=conn.authority))
        peak = rss_before
        for _ in range(30):
            time.sleep(0.1)
            peak = max(peak, proc.memory_info().rss)
        growth = (peak - rss_before) / 2**20
        resp = conn.read_response("POST")
    assert resp.status == 200, resp
    msg = [m for m in resp.rpc_messages() if m.get("id") == 1][0]
    assert len(msg["result"]["content"][0]["text"]) == size
    assert growth < 16, f"gateway memory grew {growth:.1f} MiB while its client read nothing of a ~40 MB answer"
