"""Helpers of the MCP inspection tests (test_inspection.py, test_pinning.py): the exact JSON-RPC
refusal check of §4, raw POSTs of arbitrary bytes, security events from a gateway's log, a Python
model of the `escape` sanitizer, and `MutableServer` (servers/server_mutable.py, restartable on the
same port with another definition of its `echo` tool).
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path

import rawhttp
from mcp_raw import rpc_headers
from support import SERVERS, V2_PYTHON, Managed, free_port, port_accepts, wait_until

# --- requests ------------------------------------------------------------------------------------


def post_raw(conn: rawhttp.Conn, body: bytes, auth: dict, session: str | None = None, path: str = "/mcp",
             extra: dict | None = None, request_id: str | None = None) -> rawhttp.Response:
    """POST `body` exactly as given (any bytes) with the headers an MCP client sends."""
    more = dict(extra or {})
    if request_id:
        more["X-Request-Id"] = request_id
    conn.send(rawhttp.request_bytes("POST", path, rpc_headers(auth, session, extra=more), body,
                                    host=conn.authority))
    return conn.read_response("POST")


def post_json(conn: rawhttp.Conn, message, auth: dict, **kwargs) -> rawhttp.Response:
    return post_raw(conn, json.dumps(message).encode(), auth, **kwargs)


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


# --- answers -------------------------------------------------------------------------------------


def rpc_refusal(resp: rawhttp.Response, status: int, code: int, message: str, rpc_id,
                details: dict | None = None) -> dict:
    """Assert that `resp` is the gateway's JSON-RPC refusal of §4 and return its `error` object:
    the HTTP status, `Content-Type: application/json`, exactly the members
    `{"jsonrpc":"2.0","id":…,"error":{"code","message","data":{"details","request_id"}}}`, the id,
    code and message given, `details` equal to `details` (when given), and `request_id` equal to the
    response's X-Request-Id."""
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").split(";")[0].strip() == "application/json", resp
    assert resp.header("content-length") == str(len(resp.body)), resp
    body = resp.json()
    assert set(body) == {"jsonrpc", "id", "error"}, body
    assert body["jsonrpc"] == "2.0", body
    assert body["id"] == rpc_id and type(body["id"]) is type(rpc_id), (body["id"], rpc_id)
    error = body["error"]
    assert set(error) == {"code", "message", "data"}, error
    assert error["code"] == code, body
    assert error["message"] == message, body
    assert set(error["data"]) == {"details", "request_id"}, body
    assert isinstance(error["data"]["details"], dict), body
    if details is not None:
        assert error["data"]["details"] == details, body
    rid = resp.header("x-request-id")
    assert rid and error["data"]["request_id"] == rid, (rid, body)
    return error


def http_error(resp: rawhttp.Response, status: int, message: str) -> None:
    """Assert a plain §4 error: `{"error": message, "request_id": <X-Request-Id>}`."""
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").split(";")[0].strip() == "application/json", resp
    body = resp.json()
    assert body == {"error": message, "request_id": resp.header("x-request-id")}, body


def only_message(resp: rawhttp.Response) -> dict:
    """The JSON-RPC response of a JSON or SSE answer (progress notifications skipped)."""
    msgs = [m for m in resp.rpc_messages() if "id" in m and ("result" in m or "error" in m)]
    assert len(msgs) == 1, resp
    return msgs[0]


def tool_names(message: dict) -> set[str]:
    return {t["name"] for t in message["result"]["tools"]}


# --- the gateway's log ---------------------------------------------------------------------------


def security_events(gateway, kind: str, request_id: str | None = None) -> list[dict]:
    return [e for e in gateway.log_events()
            if e.get("event_type") == "security" and e.get("details", {}).get("kind") == kind
            and (request_id is None or e.get("request_id") == request_id)]


def wait_for_event(gateway, kind: str, request_id: str | None = None, timeout: float = 5.0) -> dict:
    """The first `security` event of `kind` (for `request_id`), waiting at most `timeout` s for it."""
    return wait_until(lambda: (security_events(gateway, kind, request_id) or [None])[0], timeout,
                      what=f"a {kind} security event")


# --- the escape sanitizer, modelled ---------------------------------------------------------------

_JAVASCRIPT = re.compile(r"javascript:", re.IGNORECASE)
_HANDLER = re.compile(r"on\w+\s*=", re.IGNORECASE)


def escaped(text: str) -> str:
    """What `sanitize = "escape"` makes of one string (§6.4, the seed's order): `html.escape` of
    `& < > " '`, then `javascript:` and `on…=` removed until none is left."""
    out = html.escape(text, quote=True)
    while True:
        again = _HANDLER.sub("", _JAVASCRIPT.sub("", out))
        if again == out:
            return out
        out = again


def escaped_value(value):
    """`escaped` over every string and key of a JSON value."""
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, list):
        return [escaped_value(v) for v in value]
    if isinstance(value, dict):
        return {escaped(k): escaped_value(v) for k, v in value.items()}
    return value


# --- a restartable SDK server ---------------------------------------------------------------------


class MutableServer:
    """servers/server_mutable.py on one fixed 127.0.0.1 port; `restart(variant)` stops the process and
    starts another on the same port, as an operator (or an attacker) redeploying the server would."""

    def __init__(self, workdir: Path, label: str, variant: str = "original", json_response: bool = False,
                 stateless: bool = False):
        self.workdir = workdir
        self.label = label
        self.json_response = json_response
        self.stateless = stateless
        self.port = free_port()
        self.runs = 0
        self.proc: Managed | None = None
        self.start(variant)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return self.proc.name if self.proc else f"mutable-{self.label}"

    def start(self, variant: str) -> None:
        self.runs += 1
        argv = [V2_PYTHON, str(SERVERS / "server_mutable.py"), "--port", str(self.port), "--variant", variant]
        if self.json_response:
            argv.append("--json-response")
        if self.stateless:
            argv.append("--stateless")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        name = f"mutable-{self.label}-{self.runs}-{variant}"
        self.proc = Managed(name, argv, self.workdir / f"{name}.log", env=env)
        proc = self.proc
        try:
            wait_until(lambda: not proc.alive() or port_accepts(self.port), 30, what=f"{name} to listen")
        except TimeoutError:
            proc.stop()
            raise
        assert proc.alive(), f"{name} exited:\n{proc.tail()}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        # Bounded: the port is free again once the process is gone.
        deadline = time.monotonic() + 10
        while port_accepts(self.port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, variant: str) -> None:
        self.stop()
        self.start(variant)

    def tail(self, lines: int = 40) -> str:
        return self.proc.tail(lines) if self.proc else ""

    def alive(self) -> bool:
        return bool(self.proc and self.proc.alive())
