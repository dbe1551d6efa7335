#!/usr/bin/env python3
"""The SSE upstream of the benchmark: every request on 127.0.0.1:PORT gets an endless
`text/event-stream` answer (chunked), written as fast as the reader takes it.

    sse_emitter.py PORT

Each event is a fixed-size MCP progress notification (`EVENT_BYTES` bytes, ending in a blank line),
so the client can count events exactly; chunks hold whole events.
"""

from __future__ import annotations

import asyncio
import sys

EVENTS_PER_CHUNK = 128


def event(n: int) -> bytes:
    return (b'id: %07d\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress",'
            b'"params":{"progressToken":"bench-42","progress":%07d,"total":10000000}}\n\n' % (n, n))


EVENT_BYTES = len(event(0))
PAYLOAD = b"".join(event(i) for i in range(EVENTS_PER_CHUNK))
CHUNK = b"%x\r\n%s\r\n" % (len(PAYLOAD), PAYLOAD)
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD)
        batch = CHUNK * 4
        while True:
            writer.write(batch)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
