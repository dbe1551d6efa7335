"""Request smuggling: desync payloads sent through the gateway to a recording upstream.

The upstream (`hostile_support.RecordingUpstream`) reads with h11, as an unmodified server would, and
records every byte it receives. For every payload the gateway must either refuse it (400, or 501 for
a transfer coding it does not support, and close the connection: contract §3.1) or forward exactly
the one request it validated. The bytes of a would-be smuggled request (target `/smuggled`) must never
reach the upstream, and the connection must not carry on as if nothing happened.
"""

from __future__ import annotations

import json

import pytest

import rawhttp
from hostile_support import RecordingUpstream, raw_exchange, split_responses
from support import Gateway

pytestmark = pytest.mark.usefixtures("need_gateway")

SMUGGLED = (b"GET /smuggled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n")


@pytest.fixture(scope="module")
def rig(workdir, keys):
    """One recording upstream and one gateway in front of it for the whole module."""
    from support import DIRECT

    if DIRECT:
        pytest.skip("checks gateway behaviour (E2E_DIRECT=1)")
    upstream = RecordingUpstream()
    gw = Gateway("smuggling", upstream.url, workdir, keys.config_entries)
    try:
        yield upstream, gw, keys.plain.encode()
    finally:
        gw.stop()
        upstream.close()


def head(key: bytes, *fields: bytes, method: bytes = b"POST", target: bytes = b"/probe",
         version: bytes = b"HTTP/1.1") -> bytes:
    lines = [method + b" " + target + b" " + version, b"Host: gw.example", b"Authorization: Bearer " + key]
    return b"\r\n".join(lines + list(fields)) + b"\r\n\r\n"


def assert_refused(rig, payload: bytes, statuses=(400,)) -> None:
    upstream, gw, key = rig
    before = len(upstream.requests)
    data, closed = raw_exchange(gw.port, payload, timeout=5)
    responses = split_responses(data)
    assert responses, f"no answer to {payload[:120]!r}"
    status, headers, body = responses[0]
    assert status in statuses, (status, body, payload[:200])
    message = json.loads(body)["error"]
    assert message == {400: "Bad request", 501: "Not implemented"}[status], body
    assert len(responses) == 1, f"the gateway answered after a refusal: {responses}"
    assert closed, f"the connection stayed open after a {status} for {payload[:120]!r}"
    assert len(upstream.requests) == before, f"the upstream saw {upstream.requests[before:]}"
    assert b"smuggled" not in upstream.all_bytes()
    assert gw.alive()


# --- refused and closed ------------------------------------------------------------------------------


def test_cl_te(rig):
    _, _, key = rig
    body = b"0\r\n\r\n" + SMUGGLED % key
    assert_refused(rig, head(key, b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked") + body)


def test_te_cl(rig):
    _, _, key = rig
    inner = SMUGGLED % key
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
    assert_refused(rig, head(key, b"Transfer-Encoding: chunked", b"Content-Length: 4") + body)


@pytest.mark.parametrize("field", [
    b"Transfer-Encoding: xchunked",
    b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding: identity, chunked",
    b"Transfer-Encoding: chunked, chunked",
    b"Transfer-Encoding: \"chunked\"",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding : chunked",
    b"Transfer-Encoding\t: chunked",
    b"Transfer-Encoding: \x0bchunked",
    b"Transfer-Encoding: chu\x00nked",
    b"Transfer-Encoding: chunked;q=1",
    b"X: y\r\n Transfer-Encoding: chunked",
    b"Transfer_Encoding: chunked\r\nContent-Length: 3",
], ids=lambda f: f.decode("latin-1").encode("unicode_escape").decode()[:40])
def test_te_te_obfuscation(rig, field):
    _, _, key = rig
    inner = SMUGGLED % key
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
    if field.startswith(b"Transfer_Encoding"):
        # An underscore name is a different field: the body is 3 bytes and the rest a second request,
        # which must be refused (it is no valid request), never forwarded.
        upstream, gw, key = rig
        data, closed = raw_exchange(gw.port, head(key, field) + b"abc" + b"\x01garbage\r\n\r\n", timeout=5)
        statuses = [r[0] for r in split_responses(data)]
        assert statuses == [200, 400] and closed, statuses
        assert b"smuggled" not in upstream.all_bytes()
        return
    assert_refused(rig, head(key, field) + body, statuses=(400, 501))


def test_unsupported_coding_is_501_and_close(rig):
    _, _, key = rig
    assert_refused(rig, head(key, b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n", statuses=(501,))


@pytest.mark.parametrize("fields", [
    [b"Content-Length: 5", b"Content-Length: 6"],
    [b"Content-Length: 5, 5"],
    [b"Content-Length: 5,6"],
    [b"Content-Length: 05", b"Content-Length: 5"],
    [b"Content-Length: +5"],
    [b"Content-Length: 5 5"],
    [b"Content-Length: 0x5"],
    [b"Content-Length: 99999999999999999999999"],
    [b"Content-Length:"],
], ids=lambda f: b"|".join(f).decode())
def test_content_length_conflicts(rig, fields):
    _, _, key = rig
    assert_refused(rig, head(key, *fields) + b"hello" + SMUGGLED % key)


@pytest.mark.parametrize("size", [b"FFFFFFFFFFFFFFFFF", b"FFFFFFFFFFFFFFFF", b"8000000000000000", b"-1", b"0x10",
                                  b"", b" 5", b"5 ;", b"5;a b", b"5;=x", b"5;a=\"open", b"5;" + b"a" * 2000])
def test_chunk_size_overflow_and_bad_extensions(rig, size):
    _, _, key = rig
    payload = head(key, b"Transfer-Encoding: chunked") + size + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED % key
    assert_refused(rig, payload)


def test_chunk_data_without_crlf(rig):
    _, _, key = rig
    payload = head(key, b"Transfer-Encoding: chunked") + b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED % key
    assert_refused(rig, payload)


def test_framing_fields_in_trailers(rig):
    _, _, key = rig
    payload = head(key, b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"
    assert_refused(rig, payload + SMUGGLED % key)


@pytest.mark.parametrize("payload", [
    b"GET /probe HTTP/1.1\nHost: a\nAuthorization: Bearer %s\n\n",
    b"GET /probe HTTP/1.1\r\nHost: a\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\rAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\n",
    b"\nGET /probe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
], ids=["lf-only", "one-lf", "bare-cr", "lf-at-end", "leading-lf"])
def test_lf_only_and_bare_cr(rig, payload):
    _, _, key = rig
    assert_refused(rig, payload % key + SMUGGLED % key)


@pytest.mark.parametrize("payload", [
    b"GET /pro\x00be HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /pro\xffbe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\r\nX-High: \xff\xfe\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: v\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\x00b\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET\x00/probe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe#frag HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/2.0\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET  /probe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.1 \r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET http://user@evil/probe HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
    b"GET /probe HTTP/1.0\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer %s\r\n\r\n0\r\n\r\n",
], ids=["nul-target", "high-target", "nul-value", "non-utf8-value", "non-token-name", "nul-host", "nul-method",
        "fragment", "two-hosts", "no-host", "http2-version", "double-space", "trailing-space", "userinfo",
        "asterisk-get", "te-http10"])
def test_nul_high_bytes_and_bad_request_lines(rig, payload):
    _, _, key = rig
    assert_refused(rig, payload % key + SMUGGLED % key)


def test_smuggling_attempts_are_logged(rig):
    upstream, gw, key = rig
    body = b"0\r\n\r\n" + SMUGGLED % key
    raw_exchange(gw.port, head(key, b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked") + body)
    kinds = [e.get("details", {}).get("kind") for e in gw.log_events() if e.get("event_type") == "security"]
    assert "smuggling_attempt" in kinds, gw.tail(20)
    text = gw.log_text()
    assert key.decode() not in text, "the bearer key reached the log"


# --- accepted, and forwarded exactly once ----------------------------------------------------------


def forwarded(rig, payload: bytes, expect: int = 1) -> list[dict]:
    upstream, gw, key = rig
    before = len(upstream.requests)
    data, _ = raw_exchange(gw.port, payload, timeout=5, quiet=0.5)
    statuses = [r[0] for r in split_responses(data)]
    assert statuses == [200] * expect, (statuses, data[:500])
    got = upstream.requests[before:]
    assert len(got) == expect, got
    assert b"smuggled" not in upstream.all_bytes()
    return got


def test_identical_duplicate_content_length_is_forwarded_once(rig):
    _, _, key = rig
    (request,) = forwarded(rig, head(key, b"Content-Length: 5", b"Content-Length: 5", b"Connection: close")
                           + b"hello")
    assert request["body"] == b"hello"
    lengths = [v for k, v in request["headers"] if k.lower() == "content-length"]
    assert lengths and set(lengths) == {"5"}, request["headers"]


def test_valid_chunk_extensions_are_dropped_on_the_way(rig):
    upstream, _, key = rig
    before = len(upstream.raw)
    (request,) = forwarded(rig, head(key, b"Transfer-Encoding: chunked", b"Connection: close")
                           + b"5;name=value ; q=\"a b\"\r\nhello\r\n0\r\n\r\n")
    assert request["body"] == b"hello"
    assert b"name=value" not in b"".join(upstream.raw[before:])


def test_absolute_form_is_forwarded_in_origin_form(rig):
    _, _, key = rig
    (request,) = forwarded(rig, head(key, b"Connection: close", method=b"GET",
                                     target=b"http://evil.example/probe?x=1"))
    assert request["target"] == "/probe?x=1", request
    hosts = [v for k, v in request["headers"] if k.lower() == "host"]
    assert hosts and "evil.example" not in hosts[0], hosts


def test_http10_keep_alive(rig):
    upstream, gw, key = rig
    one = (b"GET /probe HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: Bearer " + key + b"\r\n\r\n")
    with rawhttp.Conn(gw.port) as conn:
        conn.send(one)
        first = conn.read_response()
        assert first.status == 200, first
        conn.send(b"GET /probe2 HTTP/1.0\r\nAuthorization: Bearer " + key + b"\r\n\r\n")
        second = conn.read_response()
        assert second.status == 200, second
        assert conn.is_closed_by_peer(3), "an HTTP/1.0 request without keep-alive must end the connection"
    assert upstream.targets()[-2:] == ["/probe", "/probe2"]


@pytest.mark.parametrize("named", [b"Authorization", b"X-Forwarded-For", b"X-Gatehouse-Principal", b"Content-Length",
                                   b"Host", b"X-Request-Id", b"Transfer-Encoding"])
def test_connection_naming_end_to_end_headers(rig, named):
    """A client cannot make the gateway drop a header it sets or needs by naming it in Connection."""
    _, _, key = rig
    (request,) = forwarded(rig, head(key, b"Connection: keep-alive, " + named, b"X-Forwarded-For: 6.6.6.6",
                                     b"Content-Length: 5", b"X-Request-Id: req-smuggle-1") + b"hello")
    headers = {k.lower(): v for k, v in request["headers"]}
    assert request["body"] == b"hello"
    assert headers.get("content-length") == "5", headers
    assert headers.get("x-gatehouse-principal"), headers
    assert "127.0.0.1" in headers.get("x-forwarded-for", ""), headers
    assert headers.get("host"), headers
    assert "authorization" not in headers, "the client's Authorization was forwarded"


def test_pipelined_valid_then_malformed(rig):
    upstream, gw, key = rig
    before = len(upstream.requests)
    payload = head(key, b"Content-Length: 2") + b"ok" + b"GET /x HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"
    data, closed = raw_exchange(gw.port, payload, timeout=5)
    assert [r[0] for r in split_responses(data)] == [200, 400] and closed
    assert [r["target"] for r in upstream.requests[before:]] == ["/probe"]


def test_gateway_survived(rig):
    upstream, gw, key = rig
    assert gw.alive()
    forwarded(rig, head(key, b"Connection: close", method=b"GET"))
