#!/usr/bin/env python3
"""aiohttp WebSocket client; standard input is read by the event loop itself through
connect_read_pipe (Unix), not by a thread (grading fixture)."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys

import aiohttp


async def stdin_reader() -> tuple[asyncio.StreamReader, asyncio.BaseTransport | None]:
    reader = asyncio.StreamReader(limit=1 << 26)  # lines may be long
    if stat.S_ISREG(os.fstat(0).st_mode):  # a file redirected with <: no pipe transport
        reader.feed_data(sys.stdin.buffer.read())
        reader.feed_eof()
        return reader, None
    # A duplicate of fd 0, so that closing the transport leaves sys.stdin alone.
    pipe = os.fdopen(os.dup(0), "rb", buffering=0)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader, transport


async def talk(url: str, message: str | None, binary: bool) -> int:
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=3))
        except aiohttp.WSServerHandshakeError as exc:
            print(f"{url}: no WebSocket there (HTTP {exc.status})", file=sys.stderr)
            return 1
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            print(f"{url}: connection failed: {exc}", file=sys.stderr)
            return 1
        transport = None
        if message is None:
            lines, transport = await stdin_reader()
        else:
            lines = asyncio.StreamReader()
            lines.feed_data(message.encode() + b"\n")
            lines.feed_eof()
        sent = received = 0
        progress = asyncio.Condition()

        async def printer() -> None:
            nonlocal received
            try:
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        print(msg.data, flush=True)
                    elif msg.type is aiohttp.WSMsgType.BINARY:
                        print("[binary] " + msg.data.decode("utf-8", "replace"), flush=True)
                    received += 1
                    async with progress:
                        progress.notify_all()
            finally:
                if transport:  # a closed connection ends the input loop as well
                    transport.close()
                async with progress:
                    progress.notify_all()

        listening = asyncio.create_task(printer())
        while raw := await lines.readline():
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text == "exit" or listening.done():
                break
            try:
                await (ws.send_bytes(text.encode()) if binary else ws.send_str(text))
            except ConnectionError:
                break  # the printer has seen (or will see) the connection end
            sent += 1
        async with progress:
            await asyncio.wait_for(
                progress.wait_for(lambda: received >= sent or listening.done()), 15
            )
        server_left = listening.done()
        if transport:
            transport.close()
        await ws.close()
        await listening
        if server_left:
            print(f"server closed the WebSocket ({ws.close_code})", file=sys.stderr)
        return 0 if ws.close_code in (1000, 1001) or not server_left else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="WebSocket echo client (aiohttp)")
    parser.add_argument("--host", default="127.0.0.1", help="server host")
    parser.add_argument("--port", type=int, default=8082, help="server port")
    parser.add_argument("--url", help="full ws:// or wss:// URL (overrides host and port)")
    parser.add_argument("--message", help="send one message, print the answer, quit")
    parser.add_argument("--binary", action="store_true", help="send binary frames")
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}/ws"
    blocking = os.get_blocking(0)
    try:
        return asyncio.run(talk(url, args.message, args.binary))
    except KeyboardInterrupt:
        return 0
    except TimeoutError:
        print(f"{url}: replies still missing, giving up", file=sys.stderr)
        return 1
    finally:
        try:
            os.set_blocking(0, blocking)  # connect_read_pipe made our stdin non-blocking
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
