"""An example MCP server for docker/compose.yaml, built on the official MCP Python SDK (2.x).

It listens on 127.0.0.1 only: the Gatehouse sidecar shares its network namespace and is the only
way in. Streamable HTTP at /mcp. Tools: echo(text), add(a, b).

    python server.py [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import argparse
import os
import sys

from mcp.server.mcpserver import MCPServer


def build() -> MCPServer:
    mcp = MCPServer("gatehouse-example")

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return mcp


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=os.environ.get("MCP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MCP_PORT", "8000")))
    args = parser.parse_args()
    build().run("streamable-http", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
