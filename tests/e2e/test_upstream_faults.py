"""Upstream faults: refused, reset before and during a response, closed without an answer, stalled,
garbage, oversized or contradictory response heads, an SSE stream cut mid-event, the upstream killed
and restarted. Each gives the contract's 502 or 504 (or, once the answer has started, a closed
stream), nothing hangs, the gateway keeps serving, and its descriptors return to the baseline.
"""

from __future__ import annotations

import json
import time

import pytest

import rawhttp
from hostile_support import RecordingUpstream, fd_count, raw_exchange, rss_kib, split_responses
from support import Gateway, free_port, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")


@pytest.fixture(scope="module")
def rig(workdir, keys):
    from support import DIRECT

    if DIRECT:
        pytest.skip("checks gateway behaviour (E2E_DIRECT=1)")
    upstream = RecordingUpstream()
    gw = Gateway("faults", upstream.url, workdir, keys.config_entries, response_timeout="1s")
    try:
        yield upstream, gw, keys.plain.encode()
    finally:
        gw.stop()
        upstream.close()


def request(key: bytes, target: bytes = b"/probe", close: bool = True) -> bytes:
    return (b"GET " + target + b" HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + key
            + (b"\r\nConnection: close" if close else b"") + b"\r\n\r\n")


def answer(gw, key: bytes, timeout: float = 8.0) -> tuple[int | None, bytes, bool, float]:
    start = time.monotonic()
    data, closed = raw_exchange(gw.port, request(key), timeout=timeout, quiet=2.0)
    elapsed = time.monotonic() - start
    responses = split_responses(data) if data.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in data else []
    status = responses[0][0] if responses else None
    body = responses[0][2] if responses else data
    return status, body, closed, elapsed


def settle_fds(pid: int, limit: int, seconds: float = 5.0) -> int:
    """The descriptor count once it is at or under `limit` (or whatever it is after `seconds`)."""
    try:
        return wait_until(lambda: (n := fd_count(pid)) <= limit and n, seconds, what="descriptors to settle")
    except TimeoutError:
        return fd_count(pid)


def baseline(upstream, gw, key) -> int:
    upstream.mode = "ok"
    status, _, _, _ = answer(gw, key)
    assert status == 200
    time.sleep(0.2)
    return fd_count(gw.pid)


@pytest.mark.parametrize("mode,status,message", [
    ("close_before", 502, "Upstream unavailable"),
    ("reset_before", 502, "Upstream unavailable"),
    ("garbage", 502, None),
    ("huge_head", 502, None),
    ("bad_framing", 502, None),
    ("stall", 504, "Upstream timeout"),
])
def test_fault_before_the_answer(rig, mode, status, message):
    upstream, gw, key = rig
    fds = baseline(upstream, gw, key)
    upstream.mode = mode
    for _ in range(3):
        got, body, closed, elapsed = answer(gw, key)
        assert got == status, (mode, got, body[:300])
        error = json.loads(body)["error"]
        if message:
            assert error == message, error
        assert elapsed < 6, f"{mode}: answered after {elapsed:.1f}s"
    upstream.mode = "ok"
    got, _, _, _ = answer(gw, key)
    assert got == 200, "the gateway did not recover once the upstream behaved"
    after = settle_fds(gw.pid, fds + 2)
    assert after <= fds + 2, f"{mode}: {after} descriptors after the faults, {fds} before"
    assert gw.alive()


def test_reset_during_the_answer_closes_the_client_stream(rig):
    upstream, gw, key = rig
    fds = baseline(upstream, gw, key)
    upstream.mode = "reset_during"
    start = time.monotonic()
    data, closed = raw_exchange(gw.port, request(key, close=False), timeout=8, quiet=4.0)
    elapsed = time.monotonic() - start
    assert closed, f"the client connection stayed open after the upstream reset mid-answer: {data[:200]!r}"
    assert elapsed < 6
    # Either the head had been forwarded (200 with a short body, then close) or not yet (502).
    assert data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.1 502"), data[:200]
    if data.startswith(b"HTTP/1.1 200"):
        assert b"Content-Length: 1000" in data or b"content-length: 1000" in data.lower()
        body = data.split(b"\r\n\r\n", 1)[1]
        assert len(body) < 1000, "a cut body must not be completed"
    upstream.mode = "ok"
    assert answer(gw, key)[0] == 200
    assert settle_fds(gw.pid, fds + 2) <= fds + 2


def test_sse_cut_mid_event(rig):
    upstream, gw, key = rig
    fds = baseline(upstream, gw, key)
    upstream.mode = "sse_cut"
    with rawhttp.Conn(gw.port, timeout=8) as conn:
        conn.send(b"GET /events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nAuthorization: Bearer "
                  + key + b"\r\n\r\n")
        resp = conn.read_head()
        assert resp.status == 200, resp
        events = []
        start = time.monotonic()
        try:
            for event in conn.iter_events(resp):
                events.append(event)
        except (ConnectionError, OSError, ValueError):
            pass
        assert time.monotonic() - start < 6, "the cut stream was not ended promptly"
        assert [e.id for e in events] == ["0"], f"expected the one complete event only, got {events}"
        assert conn.is_closed_by_peer(3), "the client stream stayed open after the upstream cut it"
    upstream.mode = "ok"
    assert answer(gw, key)[0] == 200
    assert settle_fds(gw.pid, fds + 2) <= fds + 2


def test_refused_upstream_gives_502_without_leaking(workdir, keys):
    gw = Gateway("refused", f"http://127.0.0.1:{free_port()}", workdir, keys.config_entries)
    try:
        key = keys.plain.encode()
        answer(gw, key)
        fds = fd_count(gw.pid)
        for _ in range(50):
            status, body, _, elapsed = answer(gw, key)
            assert status == 502 and json.loads(body)["error"] == "Upstream unavailable", body
            assert elapsed < 3
        assert settle_fds(gw.pid, fds) <= fds, "descriptors leaked on refused connects"
    finally:
        gw.stop()


def test_upstream_killed_and_restarted(workdir, keys):
    """The upstream goes away (its pooled keep-alive connections with it) and comes back on the same port."""
    key = keys.plain.encode()
    upstream = RecordingUpstream()
    port = upstream.port
    gw = Gateway("restart", upstream.url, workdir, keys.config_entries, response_timeout="2s")
    try:
        # Warm the pool with keep-alive requests.
        with rawhttp.Conn(gw.port) as conn:
            for _ in range(3):
                conn.send(request(key, close=False))
                assert conn.read_response().status == 200
        fds = fd_count(gw.pid)
        upstream.close()
        for _ in range(3):
            status, body, _, elapsed = answer(gw, key)
            assert status == 502, (status, body[:200])
            assert elapsed < 4
        # Back on the same port.
        restarted = _rebind(port)
        try:
            results = [answer(gw, key)[0] for _ in range(5)]
            assert results == [200] * 5, f"after the restart: {results}"
        finally:
            restarted.close()
        assert settle_fds(gw.pid, fds + 2) <= fds + 2
        assert gw.alive()
    finally:
        gw.stop()
        upstream.close()


def _mcp_post(key: bytes, message: dict) -> bytes:
    body = json.dumps(message).encode()
    return (b"POST /mcp HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + key
            + b"\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream"
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def closing_upstream(workdir, keys):
    """An upstream that closes a reused keep-alive connection instead of answering on it."""
    upstream = RecordingUpstream(mode="close_reused")
    gw = Gateway("close-reused", upstream.url, workdir, keys.config_entries, response_timeout="2s")
    try:
        yield upstream, gw, keys.plain.encode()
    finally:
        gw.stop()
        upstream.close()


@pytest.mark.parametrize("name,first,second", [
    ("get", lambda k: request(k, close=False), lambda k: request(k, close=False)),
    ("mcp_ping", lambda k: _mcp_post(k, {"jsonrpc": "2.0", "id": 1, "method": "ping"}),
     lambda k: _mcp_post(k, {"jsonrpc": "2.0", "id": 2, "method": "ping"})),
])
def test_pooled_connection_closed_by_upstream_is_replayed(closing_upstream, name, first, second):
    """A request that meets a pooled connection the upstream has just closed goes out once more on a fresh
    connection (no 502 for the keep-alive race) when sending it twice is harmless."""
    upstream, gw, key = closing_upstream
    method = "GET" if name == "get" else "POST"
    with rawhttp.Conn(gw.port) as conn:
        conn.send(first(key))
        assert conn.read_response(method).status == 200
        conn.send(second(key))
        resp = conn.read_response(method)
        assert resp.status == 200, resp
    # First request, the second on the reused connection (closed unanswered), the second again.
    assert upstream.accepted == 2, upstream.accepted
    assert len(upstream.requests) == 3, upstream.requests
    assert upstream.requests[1]["body"] == upstream.requests[2]["body"]


def test_tool_call_on_a_closed_pooled_connection_is_not_replayed(closing_upstream):
    """A tools/call is never sent twice: the upstream may have begun it before the connection broke."""
    upstream, gw, key = closing_upstream
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
    with rawhttp.Conn(gw.port) as conn:
        conn.send(_mcp_post(key, {"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        assert conn.read_response("POST").status == 200
        conn.send(_mcp_post(key, call))
        resp = conn.read_response("POST")
        assert resp.status == 502, resp
        assert resp.json()["error"] == "Upstream unavailable"
    calls = [r for r in upstream.requests if b"tools/call" in r["body"]]
    assert len(calls) == 1, f"the tool call reached the upstream {len(calls)} times"
    assert upstream.accepted == 1


def test_pooled_connection_idle_past_the_limit_is_not_reused(workdir, keys):
    """A pooled connection is reused while fresh, and closed instead once it has idled 2 s — before the
    upstream's own idle timeout (uvicorn: 5 s) can race a request sent on it."""
    upstream = RecordingUpstream()
    gw = Gateway("pool-idle", upstream.url, workdir, keys.config_entries)
    key = keys.plain.encode()
    try:
        with rawhttp.Conn(gw.port) as conn:  # one client connection: one loop, one pool
            for _ in range(2):
                conn.send(request(key, close=False))
                assert conn.read_response().status == 200
            assert upstream.accepted == 1, "a fresh pooled connection was not reused"
            time.sleep(2.4)
            conn.send(request(key, close=False))
            assert conn.read_response().status == 200
        assert upstream.accepted == 2, "a connection idle past the limit was reused"
        assert len(upstream.requests) == 3
    finally:
        gw.stop()
        upstream.close()


def _rebind(port: int) -> RecordingUpstream:
    """A RecordingUpstream on a given port (the killed one's), retried while the port is in TIME_WAIT."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return RecordingUpstream(bind_port=port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_faults_do_not_grow_memory(rig):
    upstream, gw, key = rig
    baseline(upstream, gw, key)
    modes = ["close_before", "reset_before", "garbage", "huge_head", "bad_framing", "reset_during"]
    for mode in modes:   # warm-up: every path allocated once
        upstream.mode = mode
        answer(gw, key, timeout=4)
    before = rss_kib(gw.pid)
    for _ in range(20):
        for mode in modes:
            upstream.mode = mode
            answer(gw, key, timeout=4)
    after = rss_kib(gw.pid)
    assert after - before < 16 * 1024, f"RSS grew from {before} KiB to {after} KiB over 120 faults"
