"""Tool pinning at work in the gateway (§6.7), learned on first sight, against a real SDK server that
is redeployed on the same port with another definition of its `echo` tool (servers/server_mutable.py).
`gatehouse pin` and the pins file are covered by test_pin.py; here no pins file is configured.

- the first tools/list the gateway forwards pins every tool; after the restart, a changed description
  (or input schema) is caught: `warn` logs a `tool_changed` security event once and the tool stays
  listed and callable; `enforce` hides it from tools/list and refuses calls with 403 -32003, the
  other tools untouched — with JSON answers and with SSE answers;
- a change outside the pinned definition (a display title) is no change;
- under `enforce` the tool stays blocked even when the original definition comes back;
- the official 2.x client sees the same: no `echo` in list_tools, a -32003 error for the call.
"""

from __future__ import annotations

import json
import sys

import pytest

import rawhttp
from inspection_support import MutableServer, only_message, rpc_refusal, security_events
from mcp_raw import initialize, post_rpc, result_text, tool_call
from support import DIRECT, wait_until

pytestmark = pytest.mark.skipif(DIRECT, reason="checks what the gateway itself does (E2E_DIRECT=1)")

TOOLS = {"echo", "add", "slow"}
ORIGINAL = "Return the text unchanged."


def _touch(*managed) -> None:
    """Attach these processes' log tails to a failure report (conftest's hook)."""
    conftest = sys.modules.get("conftest")
    if conftest is not None:
        conftest._TOUCHED.extend(m for m in managed if m is not None)


@pytest.fixture
def mutable(workdir, request):
    """A MutableServer factory; every server is stopped at the end of the test."""
    servers: list[MutableServer] = []

    def make(label: str, json_response: bool, variant: str = "original") -> MutableServer:
        server = MutableServer(workdir, f"{request.node.name}-{label}"[:60].replace("[", "-").replace("]", ""),
                               variant, json_response=json_response)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def pinning_gateway(gateway_factory, server: MutableServer, mode: str, name: str):
    gw = gateway_factory(f"pin-{name}", server.url, extra=f'\n[mcp]\npin_tools = "{mode}"\n')
    return gw


def list_tools(port: int, auth: dict, request_id: str | None = None) -> list[dict]:
    """initialize, then tools/list, on a new connection; the tools of the answer (JSON or SSE)."""
    with rawhttp.Conn(port) as conn:
        session = initialize(conn, auth)
        extra = {"X-Request-Id": request_id} if request_id else None
        resp = post_rpc(conn, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, auth, session=session, extra=extra)
        assert resp.status == 200, resp
        return only_message(resp)["result"]["tools"]


def call(port: int, auth: dict, name: str, arguments: dict, call_id=2) -> rawhttp.Response:
    with rawhttp.Conn(port) as conn:
        session = initialize(conn, auth)
        return post_rpc(conn, tool_call(call_id, name, arguments), auth, session=session)


def changed_events(gw, action: str | None = None) -> list[dict]:
    return [e for e in security_events(gw, "tool_changed") if action is None or e["details"].get("action") == action]


def answer_kind(json_response: bool) -> str:
    return "json" if json_response else "sse"


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
def test_warn_logs_the_change_and_keeps_the_tool(mutable, gateway_factory, auth, json_response):
    server = mutable("warn", json_response)
    gw = pinning_gateway(gateway_factory, server, "warn", f"warn-{answer_kind(json_response)}")
    _touch(server.proc)
    first = list_tools(gw.port, auth)
    assert {t["name"] for t in first} == TOOLS
    assert not changed_events(gw), "first sight pins, it does not report"

    server.restart("description")
    _touch(server.proc)
    tools = {t["name"]: t for t in list_tools(gw.port, auth, request_id="pin-warn-list")}
    assert set(tools) == TOOLS, "warn only reports"
    assert "id_rsa" in tools["echo"]["description"], "the answer passes unchanged"
    event = wait_until(lambda: changed_events(gw), 5, what="a tool_changed event")[0]
    assert event["details"] == {"kind": "tool_changed", "tool": "echo", "action": "logged"}, event
    assert event["severity"] == "medium" and event["request_id"] == "pin-warn-list", event

    resp = call(gw.port, auth, "echo", {"text": "still callable"})
    assert resp.status == 200 and result_text(only_message(resp)) == "still callable", resp
    # The same changed definition seen again is not reported again.
    assert {t["name"] for t in list_tools(gw.port, auth)} == TOOLS
    assert len(changed_events(gw)) == 1, changed_events(gw)


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
@pytest.mark.parametrize("variant", ["description", "schema"])
def test_enforce_hides_and_refuses_the_changed_tool(mutable, gateway_factory, auth, json_response, variant):
    server = mutable("enforce", json_response)
    gw = pinning_gateway(gateway_factory, server, "enforce", f"enforce-{variant}-{answer_kind(json_response)}")
    _touch(server.proc)
    assert {t["name"] for t in list_tools(gw.port, auth)} == TOOLS
    before = call(gw.port, auth, "echo", {"text": "before"})
    assert before.status == 200, before

    server.restart(variant)
    _touch(server.proc)
    assert {t["name"] for t in list_tools(gw.port, auth, request_id="pin-enforce-list")} == TOOLS - {"echo"}
    event = wait_until(lambda: changed_events(gw, "hidden"), 5, what="a tool_changed event")[0]
    assert event["details"] == {"kind": "tool_changed", "tool": "echo", "action": "hidden"}, event
    assert event["severity"] == "high" and event["request_id"] == "pin-enforce-list", event

    with rawhttp.Conn(gw.port) as conn:
        session = initialize(conn, auth)
        conn.send(rawhttp.request_bytes(
            "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
                             ("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-06-18"),
                             ("X-Request-Id", "pin-enforce-call"), *auth.items()],
            json.dumps(tool_call("e-3", "echo", {"text": "x"})).encode(), host=conn.authority))
        refused = conn.read_response("POST")
        rpc_refusal(refused, 403, -32003, "Insufficient permissions", "e-3",
                    {"field": "params.name", "error": "the tool's definition changed since it was pinned"})
        # In a batch too, with the changed call's id.
        batch = [tool_call(4, "add", {"a": 1, "b": 1}), tool_call(5, "echo", {"text": "x"})]
        conn.send(rawhttp.request_bytes(
            "POST", "/mcp", [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
                             ("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-06-18"), *auth.items()],
            json.dumps(batch).encode(), host=conn.authority))
        rpc_refusal(conn.read_response("POST"), 403, -32003, "Insufficient permissions", 5)
        # The unchanged tools work.
        added = post_rpc(conn, tool_call(6, "add", {"a": 40, "b": 2}), auth, session=session)
        assert added.status == 200 and result_text(only_message(added)) == "42", added
    refusal = wait_until(lambda: [e for e in changed_events(gw, "call_refused")
                                  if e["request_id"] == "pin-enforce-call"], 5, what="the refusal's event")[0]
    assert refusal["details"]["tool"] == "echo" and refusal["severity"] == "high", refusal
    access = [e for e in gw.log_events()
              if e.get("event_type") == "request" and e.get("request_id") == "pin-enforce-call"]
    assert access and access[0]["status"] == 403 and access[0]["tool"] == "echo", access


def test_a_changed_title_is_not_a_change(mutable, gateway_factory, auth):
    """The pinned definition is name, description and inputSchema: a display title is outside it."""
    server = mutable("title", json_response=True)
    gw = pinning_gateway(gateway_factory, server, "enforce", "title")
    assert {t["name"] for t in list_tools(gw.port, auth)} == TOOLS
    server.restart("title")
    tools = {t["name"]: t for t in list_tools(gw.port, auth)}
    assert set(tools) == TOOLS and tools["echo"].get("title") == "Echo", tools
    resp = call(gw.port, auth, "echo", {"text": "titled"})
    assert resp.status == 200, resp
    assert not changed_events(gw)


def test_enforce_keeps_blocking_when_the_original_comes_back(mutable, gateway_factory, auth):
    """Only an operator's re-pin (gatehouse pin + SIGHUP, see test_pin.py) unblocks a changed tool."""
    server = mutable("flipflop", json_response=False)
    gw = pinning_gateway(gateway_factory, server, "enforce", "flipflop")
    assert {t["name"] for t in list_tools(gw.port, auth)} == TOOLS
    server.restart("description")
    assert {t["name"] for t in list_tools(gw.port, auth)} == TOOLS - {"echo"}
    server.restart("original")
    tools = list_tools(gw.port, auth)
    assert {t["name"] for t in tools} == TOOLS - {"echo"}, tools
    resp = call(gw.port, auth, "echo", {"text": "x"}, call_id=9)
    rpc_refusal(resp, 403, -32003, "Insufficient permissions", 9)


def test_the_official_client_sees_the_tool_hidden_and_refused(mutable, gateway_factory, keys):
    """The 2.x SDK client through an enforcing gateway: list_tools lacks echo, call_tool gets -32003."""
    import anyio
    from client_v2 import transport_for

    from mcp import Client
    from mcp.shared.exceptions import MCPError

    server = mutable("client", json_response=False)
    gw = pinning_gateway(gateway_factory, server, "enforce", "client")
    url = gw.url + "/mcp"

    async def session() -> dict:
        out: dict = {}
        with anyio.fail_after(30):
            async with Client(transport_for(url, keys.plain, "streamable-http"), mode="legacy") as client:
                out["tools"] = {t.name for t in (await client.list_tools()).tools}
                try:
                    result = await client.call_tool("echo", {"text": "hi"})
                    out["echo"] = "".join(getattr(c, "text", "") for c in result.content)
                except MCPError as error:
                    out["error"] = (error.error.code, error.error.message)
        return out

    first = anyio.run(session)
    assert first == {"tools": TOOLS, "echo": "hi"}, first
    server.restart("description")
    second = anyio.run(session)
    assert second == {"tools": TOOLS - {"echo"}, "error": (-32003, "Insufficient permissions")}, second
