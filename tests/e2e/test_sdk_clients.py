"""The official SDK clients against the official SDK servers, through the gateway, with an API key.

Servers: 2.x JSON mode, 2.x SSE mode, 2.x stateless, 2.x on the old HTTP+SSE transport, 1.x SSE mode.
Clients: 2.x mode="legacy", 2.x mode="auto", 1.x (a subprocess in the 1.x venv).
Every pair lists tools, echoes a unicode and a 200 KiB argument, adds, runs the slow tool (its
progress notifications must arrive spread over time, the first well before the result) and sees a
failing tool reported as an error. The SDK servers answer 421 to a foreign Host header, so every
success here also shows that the gateway rewrites Host to the upstream authority.
"""

from __future__ import annotations

import anyio
import pytest

import client_v2
from support import run_client_v1, wait_until

SERVERS = ["v2-json", "v2-sse", "v2-stateless", "v2-oldsse", "v1-sse"]
CLIENTS = ["v2-legacy", "v2-auto", "v1"]
TOOLS = ["add", "big", "echo", "fail", "slow"]
STEPS = 4
INTERVAL = 0.5
DELETE_LINE = '"DELETE /mcp HTTP/1.1" 200'


def run_client(client: str, url: str, key: str | None, transport: str) -> dict:
    if client == "v1":
        return run_client_v1(url, key, transport, extra=["--slow-steps", str(STEPS), "--slow-interval", str(INTERVAL)])
    mode = client.split("-", 1)[1]
    return anyio.run(lambda: client_v2.exercise(url, key, mode, transport, slow_steps=STEPS, slow_interval=INTERVAL))


def expects_session(server: str, client: str) -> bool:
    """Whether the client ends an upstream session with DELETE when it closes."""
    if server in ("v2-stateless", "v2-oldsse"):
        return False
    if client == "v2-auto" and server.startswith("v2"):
        return False   # 2026-07-28 has no sessions
    return True


def assert_progress_streamed(out: dict) -> None:
    progress = out["progress"]
    assert [p["progress"] for p in progress] == [float(i + 1) for i in range(STEPS)], out
    times = [p["t"] for p in progress]
    total = out["slow_result_t"]
    assert total >= (STEPS - 0.5) * INTERVAL, out
    # The first notification is written before the first sleep: it must arrive long before the result.
    assert times[0] < total - (STEPS - 1.5) * INTERVAL, f"first progress at {times[0]:.3f}s, result at {total:.3f}s"
    # Each later one is written one interval after the previous: no batching on the way.
    for a, b in zip(times, times[1:]):
        assert b - a > INTERVAL * 0.5, f"progress arrival times {times} look buffered"


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_sdk_client_through_gateway(stacks, keys, server, client):
    stack = stacks.get(server)
    transport = "sse" if server == "v2-oldsse" else "streamable-http"
    key = keys.plain if client != "v2-auto" else keys.hashed   # both key forms in use
    deletes_before = stack.upstream.count(DELETE_LINE)

    out = run_client(client, stack.url, key, transport)

    assert out["tools"] == TOOLS, out
    assert out["echo_unicode_ok"], out
    assert out["echo_big_ok"] and out["echo_big_len"] == 200 * 1024, {k: v for k, v in out.items() if k != "progress"}
    assert out["add"] == "42"
    assert out["fail_is_error"] is True
    assert out["slow_result"] == f"done after {STEPS} steps"
    if server == "v2-json":
        # JSON mode drops progress notifications (only SSE carries them): nothing to time here.
        assert out["progress"] == []
    else:
        assert_progress_streamed(out)
    if expects_session(server, client):
        wait_until(lambda: stack.upstream.count(DELETE_LINE) > deletes_before, 5,
                   what="the upstream to log the session DELETE")


def test_v1_client_session_id_is_gone_after_close(stacks, keys, auth):
    """The 1.x client DELETEs its session on close; afterwards the upstream no longer knows the id."""
    import rawhttp
    from mcp_raw import post_rpc

    stack = stacks.get("v1-sse")
    out = run_client_v1(stack.url, keys.plain, "streamable-http", extra=["--slow-steps", "1", "--slow-interval", "0.05"])
    sid = out["session_id"]
    assert sid
    with rawhttp.Conn(stack.gateway.port) as conn:
        resp = post_rpc(conn, {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, auth=auth, session=sid)
    assert resp.status == 404, resp


def test_timing_helper_rejects_buffered_progress():
    """The progress check itself fails on notifications that arrive together with the result."""
    buffered = {"progress": [{"progress": float(i + 1), "t": 1.99} for i in range(STEPS)], "slow_result_t": 2.0}
    with pytest.raises(AssertionError):
        assert_progress_streamed(buffered)
    spread = {"progress": [{"progress": float(i + 1), "t": 0.01 + i * INTERVAL} for i in range(STEPS)],
              "slow_result_t": STEPS * INTERVAL + 0.01}
    assert_progress_streamed(spread)
