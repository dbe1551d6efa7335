"""Signals to `gatehouse run`: SIGTERM drains in-flight calls then exits 0; SIGHUP reloads, and a
broken new configuration is refused while the old one keeps serving."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

import rawhttp
from mcp_raw import post_rpc, result_text, rpc_request, tool_call
from support import new_key, render_config, sha256_form, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def echo_status(port: int, key: str) -> int:
    with rawhttp.Conn(port, timeout=10) as conn:
        resp = post_rpc(conn, tool_call(1, "echo", {"text": "still here"}), {"Authorization": f"Bearer {key}"})
    if resp.status == 200:
        assert result_text(resp.rpc_messages()[-1]) == "still here", resp
    return resp.status


def test_sigterm_drains_an_in_flight_call_then_exits_0(stacks, gateway_factory, auth):
    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("drain", upstream.url, drain_timeout="15s")
    steps, interval = 6, 0.5
    with rawhttp.Conn(gw.port, timeout=15) as conn:
        conn.send(rpc_request(tool_call(1, "slow", {"steps": steps, "interval": interval}, progress_token="t"),
                              auth, host=conn.authority))
        head = conn.read_head()
        assert head.status == 200, head
        events = conn.iter_events(head)
        first = next(events)
        assert json.loads(first.data)["method"] == "notifications/progress"

        gw.signal(signal.SIGTERM)
        signalled = time.monotonic()
        # New connections are refused soon after, while the call is still running.
        try:
            wait_until(lambda: refuses_connections(gw.port), 2.5, what="the listener to close")
        except TimeoutError:
            pytest.fail("the gateway still accepts connections 2.5s after SIGTERM")
        assert gw.alive(), f"gateway exited before the in-flight call finished:\n{gw.tail()}"

        # The call completes with every event and its result.
        rest = [json.loads(e.data) for e in events if e.data]
        final = [m for m in rest if m.get("id") == 1]
        assert len(final) == 1 and result_text(final[0]) == f"done after {steps} steps", rest
        progress = [m for m in rest if m.get("method") == "notifications/progress"]
        assert len(progress) == steps - 1, rest
        assert time.monotonic() - signalled >= (steps - 2) * interval

    code = gw.wait(15)
    assert code == 0, f"gateway exit status {code} after SIGTERM drain:\n{gw.tail()}"
    assert refuses_connections(gw.port)


def test_sigterm_with_nothing_in_flight_exits_promptly(stacks, gateway_factory):
    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("idle-stop", upstream.url)
    # An idle keep-alive connection must not hold the drain up to its deadline.
    with rawhttp.Conn(gw.port) as idle:
        idle.send(rawhttp.request_bytes("GET", "/healthz", [], host=idle.authority))
        assert idle.read_response().status == 200
        start = time.monotonic()
        gw.signal(signal.SIGTERM)
        code = gw.wait(12)
    assert code == 0, f"exit status {code}:\n{gw.tail()}"
    assert time.monotonic() - start < 5, "an idle keep-alive connection delayed the exit"


BROKEN_CONFIGS = {
    "toml syntax error": "[server\nlisten = \n",
    "unknown key": None,        # a valid file plus a misspelt key, built below
    "no credential": None,      # a valid file without any API key
}


@pytest.mark.parametrize("case", list(BROKEN_CONFIGS))
def test_sighup_with_a_broken_config_keeps_serving(stacks, gateway_factory, keys, case):
    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("hup-broken", upstream.url)
    assert echo_status(gw.port, keys.plain) == 200
    if case == "toml syntax error":
        text = BROKEN_CONFIGS[case]
    elif case == "unknown key":
        text = render_config(gw.port, upstream.url, [new_key()], extra="[upstream_typo]\nurl = \"x\"\n")
    else:
        text = render_config(gw.port, upstream.url, [])
    gw.config_path.write_text(text)
    # Keep-alive across the reload: a connection opened before must keep working after.
    with rawhttp.Conn(gw.port, timeout=10) as conn:
        assert post_rpc(conn, tool_call(1, "add", {"a": 1, "b": 1}), {"Authorization": f"Bearer {keys.plain}"}).status == 200
        gw.signal(signal.SIGHUP)
        time.sleep(1.0)
        assert gw.alive(), f"gateway died on SIGHUP with a broken config:\n{gw.tail()}"
        again = post_rpc(conn, tool_call(2, "add", {"a": 2, "b": 2}), {"Authorization": f"Bearer {keys.plain}"})
        assert again.status == 200 and result_text(again.rpc_messages()[-1]) == "4", again
    for _ in range(5):
        assert echo_status(gw.port, keys.plain) == 200
    assert echo_status(gw.port, keys.hashed) == 200
    events = gw.log_events()
    assert any("config_rejected" in json.dumps(e) for e in events), \
        f"no config_rejected event logged:\n{gw.tail()}"


def test_sighup_with_a_good_config_applies_it(stacks, gateway_factory, keys):
    upstream = stacks.upstream("v2-stateless")
    gw = gateway_factory("hup-good", upstream.url)
    assert echo_status(gw.port, keys.plain) == 200
    fresh = new_key()
    gw.config_path.write_text(render_config(gw.port, upstream.url, [sha256_form(fresh)]))
    gw.signal(signal.SIGHUP)
    try:
        wait_until(lambda: echo_status(gw.port, fresh) == 200, 5, interval=0.2, what="the new key to work")
    except TimeoutError:
        pytest.fail(f"the reloaded key is not accepted 5s after SIGHUP:\n{gw.tail()}")
    assert echo_status(gw.port, keys.plain) == 401, "the old key still works after the reload"
    assert gw.alive()
