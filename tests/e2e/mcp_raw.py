"""MCP messages over the raw HTTP client: the requests the SDK clients would send, byte for byte."""

from __future__ import annotations

import json

import rawhttp

PROTOCOL = "2025-06-18"
ACCEPT = "application/json, text/event-stream"


def rpc_headers(auth: dict, session: str | None = None, protocol: str | None = PROTOCOL,
                extra: dict | None = None) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json"), ("Accept", ACCEPT)]
    headers += list(auth.items())
    if session:
        headers.append(("Mcp-Session-Id", session))
    if protocol:
        headers.append(("MCP-Protocol-Version", protocol))
    headers += list((extra or {}).items())
    return headers


def rpc_request(message, auth: dict, session: str | None = None, path: str = "/mcp",
                protocol: str | None = PROTOCOL, extra: dict | None = None, *, host: str) -> bytes:
    body = json.dumps(message).encode()
    return rawhttp.request_bytes("POST", path, rpc_headers(auth, session, protocol, extra), body, host=host)


def post_rpc(conn: rawhttp.Conn, message, auth: dict, session: str | None = None, path: str = "/mcp",
             protocol: str | None = PROTOCOL, extra: dict | None = None) -> rawhttp.Response:
    conn.send(rpc_request(message, auth, session, path, protocol, extra, host=conn.authority))
    return conn.read_response("POST")


def initialize(conn: rawhttp.Conn, auth: dict, path: str = "/mcp") -> str | None:
    """initialize + notifications/initialized; returns the Mcp-Session-Id (None when stateless)."""
    resp = post_rpc(conn, {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "gatehouse-e2e", "version": "1"}},
    }, auth, path=path, protocol=None)
    assert resp.status == 200, resp
    msgs = resp.rpc_messages()
    assert msgs and msgs[-1].get("result", {}).get("protocolVersion"), resp
    sid = resp.header("mcp-session-id")
    note = post_rpc(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, auth, session=sid, path=path)
    assert note.status == 202, note
    return sid


def tool_call(call_id, name: str, arguments: dict, progress_token=None) -> dict:
    params: dict = {"name": name, "arguments": arguments}
    if progress_token is not None:
        params["_meta"] = {"progressToken": progress_token}
    return {"jsonrpc": "2.0", "id": call_id, "method": "tools/call", "params": params}


def result_text(message: dict) -> str:
    return "".join(c.get("text", "") for c in message["result"]["content"])
