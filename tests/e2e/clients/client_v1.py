"""The official Python SDK 1.x client (`"mcp<2"`), driven by the end-to-end suite as a subprocess.

Usage: client_v1.py --url URL [--key KEY] [--transport streamable-http|sse] [--big N] [--slow-steps N]
                    [--slow-interval S]

Connects, initializes, lists tools, calls echo (unicode and a --big character argument), add, slow
(recording each progress notification's arrival time relative to the call start) and fail, then
prints one JSON object on stdout. Exit 0 on success, 1 with {"error": ...} on failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

import anyio
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client

UNICODE_TEXT = "héllo wörld — 日本語 — emoji 🚀🔐 — ελληνικά"


def text_of(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def exercise(session: ClientSession, args: argparse.Namespace) -> dict:
    out: dict = {}
    init = await session.initialize()
    out["protocol_version"] = init.protocolVersion
    out["server_name"] = init.serverInfo.name
    tools = await session.list_tools()
    out["tools"] = sorted(t.name for t in tools.tools)
    r = await session.call_tool("echo", {"text": UNICODE_TEXT})
    out["echo_unicode_ok"] = text_of(r) == UNICODE_TEXT and not r.isError
    big = ("ab€" * (args.big // 3 + 1))[: args.big]
    r = await session.call_tool("echo", {"text": big})
    out["echo_big_ok"] = text_of(r) == big and not r.isError
    out["echo_big_len"] = len(text_of(r))
    r = await session.call_tool("add", {"a": 2, "b": 40})
    out["add"] = text_of(r)
    progress: list[dict] = []
    start = time.monotonic()

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append({"progress": p, "total": total, "message": message, "t": time.monotonic() - start})

    r = await session.call_tool(
        "slow", {"steps": args.slow_steps, "interval": args.slow_interval}, progress_callback=on_progress
    )
    out["slow_result"] = text_of(r)
    out["slow_result_t"] = time.monotonic() - start
    out["progress"] = progress
    r = await session.call_tool("fail", {})
    out["fail_is_error"] = bool(r.isError)
    return out


async def run(args: argparse.Namespace) -> dict:
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    if args.transport == "sse":
        async with sse_client(args.url, headers=headers, timeout=10) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session, args)
    async with streamablehttp_client(args.url, headers=headers, timeout=10) as (read, write, get_session_id):
        async with ClientSession(read, write) as session:
            out = await exercise(session, args)
            out["session_id"] = get_session_id()
            return out


async def bounded(args: argparse.Namespace) -> dict:
    with anyio.fail_after(60):
        return await run(args)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    parser.add_argument("--big", type=int, default=200 * 1024)
    parser.add_argument("--slow-steps", type=int, default=4)
    parser.add_argument("--slow-interval", type=float, default=0.5)
    args = parser.parse_args()
    try:
        out = anyio.run(bounded, args)
    except BaseException as exc:  # noqa: BLE001 - report everything to the test
        print(json.dumps({"error": repr(exc), "traceback": traceback.format_exc()}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
