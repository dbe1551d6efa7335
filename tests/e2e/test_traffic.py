"""Traffic policy end to end (issue 6; PRODUCT.md §2 [rate_limit] [headers], §3.3, §3.6, §4, §7):
token buckets keyed by client address before authentication or by principal after it, X-Forwarded-For
from trusted proxies only, per-tool limits, 429 with Retry-After and RateLimit-* on every answer,
connection limits (server.max_connections, server.max_connections_per_ip), and the security headers on
every kind of answer.

Several clients are played from one machine by binding client sockets to 127.0.0.2, 127.0.0.3, ...
(the whole 127/8 is loopback on Linux). Buckets refill slowly where a test counts and fast where a
test waits, so no wait is longer than a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import threading
import time

import pytest

import rawhttp
from browser_support import DEFAULT_HEADERS, HSTS, SourceConn, get, toml_list
from browser_support import policy_gateway  # noqa: F401 (a fixture)
from mcp_raw import post_rpc, result_text, tool_call
from support import EchoUpstream, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")



@pytest.fixture(scope="module")
def echo():
    up = EchoUpstream()
    yield up
    up.close()


def rate_limit(capacity: int, refill: float, per: str = "ip", tools: str | None = None) -> str:
    body = f'enabled = true\ncapacity = {capacity}\nrefill_per_second = {refill}\nper = "{per}"'
    if tools:
        body += f"\ntools = {tools}"
    return body


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def principal_of(key: str) -> str:
    """The principal of an unnamed API key (§5): key:<first 8 hex of its SHA-256>."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def rl(resp: rawhttp.Response) -> tuple[int, int, int]:
    """(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset) of an answer, each exactly once."""
    values = []
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        got = resp.header_all(name)
        assert len(got) == 1 and got[0].isdigit(), (name, resp)
        values.append(int(got[0]))
    return tuple(values)


def assert_429(resp: rawhttp.Response, limit: int, retry_after: set[int] | None = None) -> int:
    """The contract's 429: JSON body, Retry-After (whole seconds ≥ 1), RateLimit-* with nothing left,
    security headers; returns Retry-After."""
    assert resp.status == 429, resp
    assert (resp.header("Content-Type") or "").startswith("application/json"), resp
    body = resp.json()
    assert body == {"error": "Rate limit exceeded", "request_id": resp.header("X-Request-Id")}, body
    got = resp.header_all("Retry-After")
    assert len(got) == 1 and got[0].isdigit() and int(got[0]) >= 1, resp
    lim, remaining, _ = rl(resp)
    assert (lim, remaining) == (limit, 0), resp
    for name, value in DEFAULT_HEADERS.items():
        assert resp.header_all(name) == [value], (name, resp)
    if retry_after is not None:
        assert int(got[0]) in retry_after, resp
    return int(got[0])


def rate_limited_events(gw) -> list[dict]:
    return [e for e in gw.events() if e.get("event_type") == "security"
            and (e.get("details") or {}).get("kind") == "rate_limited"]


def wait_events(gw, predicate, count: int, what: str, timeout: float = 5) -> list[dict]:
    def found():
        hits = [e for e in gw.events() if predicate(e)]
        return hits if len(hits) >= count else None
    try:
        return wait_until(found, timeout, what=what)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}:\n{gw.tail(30)}")


# --- buckets ---------------------------------------------------------------------------------------------


def test_burst_then_429_with_retry_after_and_ratelimit_headers(policy_gateway, echo, keys):
    capacity, rate = 5, 0.2      # one token every 5 s: nothing comes back during the burst
    gw = policy_gateway("burst", echo.url, {"rate_limit": rate_limit(capacity, rate)})
    before = len(echo.requests)
    answers = []
    start = time.monotonic()
    with rawhttp.Conn(gw.port) as conn:
        for i in range(2 * capacity):
            conn.send(rawhttp.request_bytes("GET", f"/burst/{i}", bearer(keys.plain), host=conn.authority))
            answers.append(conn.read_response())
    elapsed = time.monotonic() - start
    assert elapsed < 4.0, f"the burst took {elapsed:.2f}s"
    assert [a.status for a in answers] == [200] * capacity + [429] * capacity, answers

    for taken, resp in enumerate(answers[:capacity], start=1):
        limit, remaining, reset = rl(resp)
        assert (limit, remaining) == (capacity, capacity - taken), resp
        # Whole seconds until the bucket is full again: `taken` tokens at 0.2/s (less what came back).
        assert math.ceil(taken / rate) - math.ceil(elapsed) - 1 <= reset <= math.ceil(taken / rate), resp
        assert resp.header("Retry-After") is None, resp
    # Retry-After: the whole seconds until one token is back; under 1 s of burst less than 0.2 token came
    # back, so 5 s (rounded up).
    retry_after = {5} if elapsed < 1.0 else set(range(max(1, 5 - math.ceil(elapsed)), 6))
    for resp in answers[capacity:]:
        assert_429(resp, capacity, retry_after=retry_after)
        assert 20 <= rl(resp)[2] <= 25, resp
    # The refused requests never reached the upstream.
    assert len(echo.requests) - before == capacity
    events = wait_events(gw, lambda e: (e.get("details") or {}).get("kind") == "rate_limited", capacity,
                         "the rate_limited events")
    assert len(events) == capacity
    for e in events:
        assert e["details"]["scope"] == "ip" and e["details"]["retry_after"] in retry_after, e
        assert e["ip_address"] == "127.0.0.1" and e["severity"] == "low", e


def test_parallel_burst_of_twice_the_capacity_lets_capacity_through(policy_gateway, echo, keys):
    capacity, rate = 10, 0.1
    gw = policy_gateway("parallel-burst", echo.url, {"rate_limit": rate_limit(capacity, rate), "server": "workers = 2"})
    statuses: list[int] = []
    lock = threading.Lock()
    go = threading.Event()

    def one(i: int) -> None:
        with rawhttp.Conn(gw.port) as conn:
            go.wait(5)
            conn.send(rawhttp.request_bytes("GET", f"/parallel/{i}", bearer(keys.plain), host=conn.authority))
            status = conn.read_response().status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2 * capacity)]
    for t in threads:
        t.start()
    start = time.monotonic()
    go.set()
    for t in threads:
        t.join(20)
    elapsed = time.monotonic() - start
    assert len(statuses) == 2 * capacity and set(statuses) <= {200, 429}, statuses
    allowed = statuses.count(200)
    assert capacity <= allowed <= capacity + int(elapsed * rate), (allowed, elapsed, statuses)


def test_refill_over_time(policy_gateway, echo, keys):
    capacity, rate = 2, 4.0      # a token every 250 ms
    gw = policy_gateway("refill", echo.url, {"rate_limit": rate_limit(capacity, rate)})
    with rawhttp.Conn(gw.port) as conn:
        def status() -> rawhttp.Response:
            conn.send(rawhttp.request_bytes("GET", "/refill", bearer(keys.plain), host=conn.authority))
            return conn.read_response()

        assert [status().status for _ in range(capacity)] == [200] * capacity
        refused = status()
        emptied = time.monotonic()
        assert_429(refused, capacity, retry_after={1})     # 250 ms, rounded up to the second
        assert rl(refused)[2] == 1, refused                   # full again within 0.5 s
        time.sleep(0.3)
        one = status()
        assert one.status == 200, one                         # ≥ 1.2 tokens back
        again = status()
        if time.monotonic() - emptied < 0.45:                 # < 1.8 tokens earned in all: the second waits
            assert again.status == 429, again
        time.sleep(1.0)                                       # 4 tokens' worth, capped at the capacity
        assert [status().status for _ in range(capacity)] == [200] * capacity
        assert status().status == 429


def test_waiting_retry_after_seconds_finds_a_token(policy_gateway, echo, keys):
    gw = policy_gateway("retry-after", echo.url, {"rate_limit": rate_limit(1, 0.5)})   # a token every 2 s
    with rawhttp.Conn(gw.port) as conn:
        conn.send(rawhttp.request_bytes("GET", "/ra", bearer(keys.plain), host=conn.authority))
        assert conn.read_response().status == 200
        conn.send(rawhttp.request_bytes("GET", "/ra", bearer(keys.plain), host=conn.authority))
        wait = assert_429(conn.read_response(), 1, retry_after={2})
        time.sleep(wait)
        conn.send(rawhttp.request_bytes("GET", "/ra", bearer(keys.plain), host=conn.authority))
        resp = conn.read_response()
    assert resp.status == 200, resp
    assert rl(resp)[:2] == (1, 0), resp


# --- keys: address, principal, trusted proxies, tools ---------------------------------------------------


def test_per_ip_buckets_are_independent_and_checked_before_authentication(policy_gateway, echo, keys):
    gw = policy_gateway("per-ip", echo.url, {"rate_limit": rate_limit(2, 0.01)})
    # One address spends its bucket; another address, same key, still has its own.
    assert [get(gw.port, "/a", bearer(keys.plain), "127.0.0.2").status for _ in range(3)] == [200, 200, 429]
    assert [get(gw.port, "/a", bearer(keys.plain), "127.0.0.3").status for _ in range(3)] == [200, 200, 429]
    # A second key from the first address does not get a fresh bucket: the key is the address.
    assert get(gw.port, "/a", bearer(keys.hashed), "127.0.0.2").status == 429
    # Before authentication: refused credentials spend tokens too, then a good key finds none.
    assert [get(gw.port, "/a", {}, "127.0.0.4").status for _ in range(2)] == [401, 401]
    assert get(gw.port, "/a", bearer(keys.plain), "127.0.0.4").status == 429
    events = wait_events(gw, lambda e: (e.get("details") or {}).get("kind") == "rate_limited", 4, "rate_limited")
    assert sorted(e["ip_address"] for e in events) == ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4"]


def test_per_principal_buckets_follow_the_key_not_the_address(policy_gateway, echo, keys):
    gw = policy_gateway("per-principal", echo.url, {"rate_limit": rate_limit(2, 0.01, per="principal")})
    a, b = keys.plain, keys.hashed
    assert [get(gw.port, "/p", bearer(a), "127.0.0.2").status for _ in range(3)] == [200, 200, 429]
    # Another address does not help principal A ...
    assert get(gw.port, "/p", bearer(a), "127.0.0.3").status == 429
    # ... and principal B has its own bucket on the address A used.
    assert [get(gw.port, "/p", bearer(b), "127.0.0.2").status for _ in range(3)] == [200, 200, 429]
    # Unauthenticated requests are refused by authentication and spend nobody's tokens.
    assert [get(gw.port, "/p", {}, "127.0.0.2").status for _ in range(5)] == [401] * 5
    refused = get(gw.port, "/p", bearer(a), "127.0.0.2")
    assert_429(refused, 2)
    events = wait_events(gw, lambda e: (e.get("details") or {}).get("kind") == "rate_limited", 4, "rate_limited")
    assert [(e["details"]["scope"], e["details"]["principal"]) for e in events] == [
        ("principal", principal_of(a)), ("principal", principal_of(a)), ("principal", principal_of(b)),
        ("principal", principal_of(a))], events


def test_trusted_proxy_x_forwarded_for_names_the_client(policy_gateway, echo, keys):
    gw = policy_gateway("xff", echo.url, {
        "rate_limit": rate_limit(2, 0.01),
        "server": f"trusted_proxies = {toml_list(['127.0.0.2/32'])}",
    })
    proxy = "127.0.0.2"

    def via_proxy(xff: str, source: str = proxy) -> int:
        return get(gw.port, "/x", {**bearer(keys.plain), "X-Forwarded-For": xff}, source).status

    # Behind the trusted proxy, each forwarded client has its own bucket.
    assert [via_proxy("198.51.100.7") for _ in range(3)] == [200, 200, 429]
    assert [via_proxy("198.51.100.8") for _ in range(2)] == [200, 200]
    # The rightmost address that is not a trusted proxy is the client: a spoofed entry on the left
    # (written by the client itself) does not buy a new bucket.
    assert via_proxy("203.0.113.99, 198.51.100.7") == 429
    assert via_proxy("198.51.100.7, 127.0.0.2") == 429
    # From an untrusted peer, X-Forwarded-For is ignored: the peer is the key, whatever it claims.
    assert [via_proxy(f"198.51.100.{20 + i}", source="127.0.0.3") for i in range(3)] == [200, 200, 429]

    records = wait_events(gw, lambda e: e.get("event_type") == "request" and e.get("path") == "/x", 10,
                          "the access records")
    assert [r["ip_address"] for r in records] == (["198.51.100.7"] * 3 + ["198.51.100.8"] * 2
                                                   + ["198.51.100.7"] * 2 + ["127.0.0.3"] * 3), records
    # The upstream is told the same client.
    forwarded = [dict((k.lower(), v) for k, v in r["headers"]) for r in echo.requests if r["path"] == "/x"]
    assert forwarded[0]["x-forwarded-for"].split(",")[0].strip() == "198.51.100.7", forwarded[0]


def test_per_tool_limits_by_principal_and_tool(policy_gateway, stacks, keys):
    upstream = stacks.upstream("v2-stateless")
    gw = policy_gateway("per-tool", upstream.url, {
        "rate_limit": rate_limit(1000, 100, tools="{ echo = { capacity = 2, refill_per_second = 0.1 } }"),
    })
    a, b = bearer(keys.plain), bearer(keys.hashed)
    with rawhttp.Conn(gw.port) as conn:
        for i in range(2):
            ok = post_rpc(conn, tool_call(i, "echo", {"text": f"e{i}"}), a)
            assert ok.status == 200 and result_text(ok.rpc_messages()[-1]) == f"e{i}", ok
        refused = post_rpc(conn, tool_call(3, "echo", {"text": "third"}), a)
        assert_429(refused, 2, retry_after={10})
        # Another tool of the same principal is not limited by echo's bucket ...
        other = post_rpc(conn, tool_call(4, "add", {"a": 2, "b": 3}), a)
        assert other.status == 200 and result_text(other.rpc_messages()[-1]) == "5", other
        # ... and the answer carries the principal's own RateLimit-* (capacity 1000).
        assert rl(other)[0] == 1000, other
    with rawhttp.Conn(gw.port) as conn:
        # Another principal has its own echo bucket.
        assert [post_rpc(conn, tool_call(i, "echo", {"text": "b"}), b).status for i in range(3)] == [200, 200, 429]
    events = wait_events(gw, lambda e: (e.get("details") or {}).get("kind") == "rate_limited", 2, "rate_limited")
    assert [(e["details"]["scope"], e["details"]["tool"], e["details"]["principal"]) for e in events] == [
        ("tool", "echo", principal_of(keys.plain)), ("tool", "echo", principal_of(keys.hashed))], events


# --- connection limits ------------------------------------------------------------------------------------


def served(conn: rawhttp.Conn) -> bool:
    conn.send(rawhttp.request_bytes("GET", "/healthz", [], host=conn.authority))
    return conn.read_response().status == 200


def closed_at_once(conn: rawhttp.Conn, wait: float = 3.0) -> bool:
    """True when the gateway closes the connection without answering a request sent on it."""
    try:
        conn.send(rawhttp.request_bytes("GET", "/healthz", [], host=conn.authority))
    except (BrokenPipeError, ConnectionResetError):
        return True
    conn.sock.settimeout(wait)
    try:
        return conn.sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except (socket.timeout, TimeoutError):
        return False


def open_conn(port: int, source: str = "127.0.0.1") -> SourceConn:
    return SourceConn(port, source, timeout=5)


def open_served(port: int, source: str = "127.0.0.1") -> SourceConn:
    """A connection that has been served once. Retried for a moment: a connection closed just before
    (the start-up health probe, one the test closed) may still hold its slot until the gateway has
    seen it go."""
    def attempt():
        conn = open_conn(port, source)
        try:
            if served(conn):
                return conn
        except (ConnectionError, OSError):
            pass
        conn.close()
        return None
    return wait_until(attempt, 5, interval=0.1, what=f"a served connection from {source}")


def test_max_connections_closes_new_connections_at_once(policy_gateway, echo):
    gw = policy_gateway("maxconn", echo.url, {"server": "max_connections = 3\nworkers = 2"})
    held = []
    try:
        held += [open_served(gw.port) for _ in range(3)]
        # Beyond the limit, from any address, each new connection is closed at once (and none of them
        # leaks a slot: see the end).
        for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.1"):
            with open_conn(gw.port, source) as extra:
                start = time.monotonic()
                assert closed_at_once(extra), "a connection beyond max_connections was kept"
                assert time.monotonic() - start < 2.0
        # The held connections still work, and a freed slot is taken again.
        assert all(served(c) for c in held)
        held.pop().close()
        held.append(open_served(gw.port))
    finally:
        for c in held:
            c.close()
    assert gw.alive()


def test_max_connections_per_ip(policy_gateway, echo):
    gw = policy_gateway("maxconn-ip", echo.url, {"server": "max_connections_per_ip = 2"})
    first: list[SourceConn] = []
    second: list[SourceConn] = []
    try:
        first += [open_served(gw.port, "127.0.0.2") for _ in range(2)]
        with open_conn(gw.port, "127.0.0.2") as over:
            assert closed_at_once(over), "a third connection from one address was kept"
        # Another address has its own allowance.
        second += [open_served(gw.port, "127.0.0.3") for _ in range(2)]
        with open_conn(gw.port, "127.0.0.3") as over:
            assert closed_at_once(over)
        # Closing one gives the address its slot back.
        first.pop().close()
        first.append(open_served(gw.port, "127.0.0.2"))
    finally:
        for c in first + second:
            c.close()


# --- security headers (§7) ----------------------------------------------------------------------------------


def assert_security_headers(resp: rawhttp.Response, expected: dict = DEFAULT_HEADERS) -> None:
    for name, value in expected.items():
        assert resp.header_all(name) == [value], (name, resp)
    assert resp.header(HSTS) is None, f"HSTS on a plain-HTTP answer: {resp}"
    assert resp.header("X-Request-Id"), resp


def test_security_headers_on_every_kind_of_answer(policy_gateway, stacks, keys):
    upstream = stacks.upstream("v2-stateless")
    allowed = "http://app.example:3000"
    gw = policy_gateway("headers", upstream.url, {
        "rate_limit": rate_limit(5, 0.01),
        "cors": f"origins = {toml_list([allowed])}",
    })
    port = gw.port
    answers: dict[str, rawhttp.Response] = {}
    with rawhttp.Conn(port) as conn:
        answers["200 proxied"] = post_rpc(conn, tool_call(1, "echo", {"text": "h"}), bearer(keys.plain),
                                          extra={"Origin": allowed})
    answers["401"] = get(port, "/mcp", {})
    answers["403 origin"] = get(port, "/mcp", {**bearer(keys.plain), "Origin": "http://evil.example"})
    answers["404 from the upstream"] = get(port, "/no-such-path", bearer(keys.plain))
    answers["204 preflight"] = get(port, "/mcp", {"Origin": allowed, "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "authorization"},
                                   method="OPTIONS")
    answers["429"] = get(port, "/mcp", bearer(keys.plain))
    answers["200 gateway endpoint"] = get(port, "/healthz")
    answers["400 malformed"] = get(port, "/mcp", [("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
                                   method="POST", body=b"0\r\n\r\n")
    statuses = {name: resp.status for name, resp in answers.items()}
    assert statuses == {"200 proxied": 200, "401": 401, "403 origin": 403, "404 from the upstream": 404,
                        "204 preflight": 204, "429": 429, "200 gateway endpoint": 200, "400 malformed": 400}, answers
    for name, resp in answers.items():
        assert_security_headers(resp)
        if resp.status >= 400 and not name.endswith("from the upstream"):
            assert (resp.header("Content-Type") or "").startswith("application/json"), (name, resp)
            assert resp.json()["request_id"] == resp.header("X-Request-Id"), (name, resp)
    # Every rate-limited request carries RateLimit-*, the errors included.
    for name in ("200 proxied", "401", "403 origin", "404 from the upstream", "204 preflight", "429"):
        rl(answers[name])


def test_configured_headers_replace_remove_and_add(policy_gateway, echo, keys):
    gw = policy_gateway("headers-custom", echo.url, {"headers": "\n".join([
        '"Referrer-Policy" = "no-referrer"',
        '"X-XSS-Protection" = ""',
        '"Permissions-Policy" = "camera=()"',
    ])})
    expected = {**DEFAULT_HEADERS, "Referrer-Policy": "no-referrer", "Permissions-Policy": "camera=()"}
    del expected["X-XSS-Protection"]
    proxied = get(gw.port, "/custom", bearer(keys.plain))
    refused = get(gw.port, "/custom", {})
    assert proxied.status == 200 and refused.status == 401
    for resp in (proxied, refused):
        assert_security_headers(resp, expected)
        assert resp.header("X-XSS-Protection") is None, resp
    # The upstream's own X-Frame-Options (SAMEORIGIN) is replaced, not doubled; its other headers pass.
    assert proxied.header_all("X-Frame-Options") == ["DENY"], proxied
    assert proxied.header("X-Upstream") == "echo", proxied
    assert json.loads(proxied.body)["path"] == "/custom"
