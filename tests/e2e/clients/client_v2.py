"""The official Python SDK 2.x client (`mcp.Client`), run in-process by the end-to-end suite.

`exercise(...)` connects in `mode="legacy"` or `mode="auto"` over Streamable HTTP or the old HTTP+SSE
transport, lists tools, calls echo (unicode and a big argument), add, slow (recording the arrival time
of every progress notification relative to the call start) and fail, and returns a dict shaped like
the output of client_v1.py. Runnable as a script too:

    client_v2.py --url URL [--key KEY] [--mode legacy|auto] [--transport streamable-http|sse]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import AsyncExitStack

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

UNICODE_TEXT = "héllo wörld — 日本語 — emoji 🚀🔐 — ελληνικά"


def text_of(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def big_text(size: int) -> str:
    return ("ab€" * (size // 3 + 1))[:size]


def transport_for(url: str, key: str | None, transport: str, stack: AsyncExitStack | None = None):
    """The SDK transport for `url`, sending `Authorization: Bearer <key>` on every request."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if transport == "sse":
        return sse_client(url, headers=headers, timeout=10, sse_read_timeout=60)
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(10, read=60))
    if stack is not None:
        stack.push_async_callback(http.aclose)
    return streamable_http_client(url, http_client=http)


async def exercise(
    url: str,
    key: str | None,
    mode: str = "legacy",
    transport: str = "streamable-http",
    big: int = 200 * 1024,
    slow_steps: int = 4,
    slow_interval: float = 0.5,
) -> dict:
    out: dict = {}
    with anyio.fail_after(90):
        async with AsyncExitStack() as stack:
            async with Client(transport_for(url, key, transport, stack), mode=mode) as client:
                out["protocol_version"] = client.protocol_version
                info = client.server_info
                out["server_name"] = info.name if info else None
                tools = await client.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)
                r = await client.call_tool("echo", {"text": UNICODE_TEXT})
                out["echo_unicode_ok"] = text_of(r) == UNICODE_TEXT and not r.is_error
                text = big_text(big)
                r = await client.call_tool("echo", {"text": text})
                out["echo_big_ok"] = text_of(r) == text and not r.is_error
                out["echo_big_len"] = len(text_of(r))
                r = await client.call_tool("add", {"a": 2, "b": 40})
                out["add"] = text_of(r)
                progress: list[dict] = []
                start = time.monotonic()

                async def on_progress(p: float, total: float | None, message: str | None) -> None:
                    progress.append({"progress": p, "total": total, "message": message, "t": time.monotonic() - start})

                r = await client.call_tool(
                    "slow", {"steps": slow_steps, "interval": slow_interval}, progress_callback=on_progress
                )
                out["slow_result"] = text_of(r)
                out["slow_result_t"] = time.monotonic() - start
                out["progress"] = progress
                r = await client.call_tool("fail", {})
                out["fail_is_error"] = bool(r.is_error)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--mode", choices=["legacy", "auto"], default="legacy")
    parser.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    args = parser.parse_args()
    out = anyio.run(lambda: exercise(args.url, args.key or None, args.mode, args.transport))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
