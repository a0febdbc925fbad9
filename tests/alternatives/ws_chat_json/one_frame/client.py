#!/usr/bin/env python3
"""Alternative ws_chat_json client (a grading fixture): it only prints what it receives.

No prompt and no line editing: the terminal echoes what you type, and every frame that
arrives is printed as one line. Standard input is watched with loop.add_reader(), so nothing
is left blocked in a thread when the server goes away or you press Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

OWED_WAIT = 10.0  # seconds to wait for the server's close after we sent exit


async def stdin_lines() -> AsyncIterator[str]:
    """Lines of standard input as they arrive, without their line ends."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
        chunks.put_nowait(data)

    try:
        loop.add_reader(0, readable)
        watched = True
    except (OSError, ValueError, NotImplementedError):
        # epoll refuses a regular file or /dev/null; reading those never blocks for long.
        watched = False
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    try:
        while True:
            data = await chunks.get() if watched else await asyncio.to_thread(os.read, 0, 65536)
            *lines, pending = (pending + decoder.decode(data, final=not data)).split("\n")
            for line in lines:
                yield line.rstrip("\r")
            if not data:
                break
        if pending:
            yield pending
    finally:
        if watched:
            loop.remove_reader(0)


async def show_incoming(ws: ClientConnection) -> None:
    try:
        async for frame in ws:
            text = frame if isinstance(frame, str) else f"<{len(frame)} bytes of binary>"
            print(text, flush=True)
    except ConnectionClosed:
        pass  # main() reports how it ended


async def send_typed(ws: ClientConnection, incoming: asyncio.Task[None]) -> None:
    try:
        async with contextlib.aclosing(stdin_lines()) as lines:
            async for line in lines:
                if line == "exit":
                    break
                await ws.send(line)
        # The server answers exit after the replies to everything we sent, then closes.
        await ws.send("exit")
        await asyncio.wait_for(asyncio.shield(incoming), OWED_WAIT)
    except ConnectionClosed:
        pass  # the server closed first; show_incoming sees why
    except TimeoutError:
        await ws.close()


async def chat(url: str) -> int:
    try:
        ws = await connect(url, open_timeout=10, close_timeout=3)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
        print(f"cannot connect to {url}: {error}", file=sys.stderr, flush=True)
        return 1
    incoming = asyncio.create_task(show_incoming(ws))
    typing = asyncio.create_task(send_typed(ws, incoming))
    try:
        await incoming
    finally:
        typing.cancel()
        # Only does something on Ctrl+C (else the session is over already): 1001, going away,
        # where `async with connect()` would have sent 1011 as for a crash.
        await ws.close(1001, "client interrupted")
    if ws.protocol.close_rcvd is None:
        print(f"lost the connection to {url}", file=sys.stderr, flush=True)
        return 1
    print(f"[closed {ws.close_code}] {ws.close_reason}", flush=True)
    if ws.close_code not in (1000, 1001):
        print(f"the server ended the session: code {ws.close_code}", file=sys.stderr, flush=True)
    return 0  # a closing handshake, whoever started it and whatever its code


def main() -> None:
    parser = argparse.ArgumentParser(description="Terminal client of the ws_chat_json chat.")
    parser.add_argument("--host", default="127.0.0.1", help="server host")
    parser.add_argument("--port", type=int, default=8765, help="server port")
    parser.add_argument("--url", help="ws://HOST:PORT, instead of --host and --port")
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}"
    try:
        sys.exit(asyncio.run(chat(url)))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
