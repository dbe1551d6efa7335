"""An upstream MCP server built on the official Python SDK 1.x (`FastMCP`, `"mcp<2"`).

Usage: server_v1.py [--transport streamable-http|sse] [--json-response] [--stateless] --port N

Same tools as server_v2.py. Streamable HTTP in SSE mode unless --json-response. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import sys

import anyio
from mcp.server.fastmcp import Context, FastMCP


def build(port: int, json_response: bool, stateless: bool) -> FastMCP:
    mcp = FastMCP(
        "e2e-v1",
        host="127.0.0.1",
        port=port,
        json_response=json_response,
        stateless_http=stateless,
    )

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool()
    async def slow(ctx: Context, steps: int = 3, interval: float = 0.5) -> str:
        """Sleep `steps` times `interval` seconds, reporting progress between sleeps."""
        for i in range(steps):
            await ctx.report_progress(i + 1, steps, f"step {i + 1}")
            await anyio.sleep(interval)
        return f"done after {steps} steps"

    @mcp.tool()
    def fail() -> str:
        """Always raise."""
        raise RuntimeError("this tool always fails")

    @mcp.tool()
    def big(size: int) -> str:
        """Return a text of `size` characters."""
        return ("0123456789abcdef" * (size // 16 + 1))[:size]

    return mcp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    build(args.port, args.json_response, args.stateless).run(args.transport)


if __name__ == "__main__":
    sys.exit(main())
