#!/usr/bin/env python3
"""A correct-looking asyncio echo server with a real shutdown bug (a grading fixture).

It echoes well and serves many clients at once. But at Ctrl+C or SIGTERM asyncio.run()
cancels the handlers still running, and each one awaits wait_closed() inside its `finally`,
where the cancellation lands: Python prints a traceback for every client still connected or
just arriving. tests/test_grading.py checks that the stop tests catch it, every run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    host, port = writer.get_extra_info("peername")[:2]
    print(f"{host}:{port} connected", flush=True)
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        await writer.wait_closed()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(echo, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"Listening on tcp://{bound_host}:{bound_port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncio TCP echo server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=12345, help="port, 0 for any free one")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
