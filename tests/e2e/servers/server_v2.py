"""An upstream MCP server built on the official Python SDK 2.x (`MCPServer`).

Usage: server_v2.py --transport streamable-http|sse [--json-response] [--stateless] --port N

Tools: echo(text), add(a, b), slow(steps, interval) with progress notifications,
fail() that raises, big(size) returning a long text. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer


def build() -> MCPServer:
    mcp = MCPServer("e2e-v2")

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
    mcp = build()
    if args.transport == "sse":
        mcp.run("sse", host="127.0.0.1", port=args.port)
    else:
        mcp.run(
            "streamable-http",
            host="127.0.0.1",
            port=args.port,
            json_response=args.json_response,
            stateless_http=args.stateless,
        )


if __name__ == "__main__":
    sys.exit(main())
