#!/usr/bin/env python3
"""Opens many TLS keep-alive connections, sends one MCP request on each, and holds them idle.

    idle_client.py HOST PORT COUNT TOKEN BODY_FILE

Prints "READY <open> <failed>" once every connection has its answer (or failed), then waits until
its standard input closes (or a line arrives) and closes them all. At most 128 handshakes are in
flight at once. The caller raises the descriptor limit (RLIMIT_NOFILE) beforehand.
"""

from __future__ import annotations

import asyncio
import ssl
import sys


async def open_one(host: str, port: int, ctx: ssl.SSLContext, request: bytes, gate: asyncio.Semaphore,
                   held: list, failures: list) -> None:
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), 30)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await asyncio.wait_for(reader.readexactly(length), 30)
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                failures.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
            held.append(writer)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            failures.append(f"{type(error).__name__}: {error}")


async def main() -> int:
    host, port, count, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    body = open(sys.argv[5], "rb").read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    request = (f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n"
               f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    gate = asyncio.Semaphore(128)
    held: list = []
    failures: list = []
    await asyncio.gather(*(open_one(host, port, ctx, request, gate, held, failures) for _ in range(count)))
    print(f"READY {len(held)} {len(failures)}", flush=True)
    if failures:
        print("FIRST-FAILURE " + failures[0], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for writer in held:
        writer.transport.abort()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
