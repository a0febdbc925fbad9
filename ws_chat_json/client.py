#!/usr/bin/env python3
"""Terminal client for the WebSocket chat with a JSON log (seed 002 step 5, seed 003).

What it teaches: one asyncio program waiting for two things at once, as two tasks: one prints
every message the server sends, the other sends every line you type; and reading how a
session ended from the server's close frame (its code and reason). The keyboard is console.py's.

Protocol: UTF-8 text frames both ways. The server greets you with `Добро пожаловать в чат!`,
answers a message with `You said: TEXT`, sends the others' as `Client_N: TEXT`; `exit` asks it
to close the session (code 1000, reason `Сессия завершена. До свидания!`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from console import Console
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import CloseCode

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
GOODBYE_SECONDS = 5.0  # after `exit`, how long to wait for the server to close the session
CLOSE_TIMEOUT_SECONDS = 2.0  # how long the server gets to answer our close frame


async def receive(websocket: ClientConnection, console: Console) -> None:
    """Print every message from the server until the session ends."""
    try:
        async for message in websocket:
            console.show(message if isinstance(message, str) else f"(binary, {len(message)} bytes)")
    except ConnectionClosed:
        pass  # the connection broke; chat() reports it


async def type_messages(websocket: ClientConnection, console: Console) -> None:
    """Send what the user types; on `exit` or the end of input ask the server to end it."""
    async for line in console:
        if line.strip():
            await websocket.send(line)
    # The server answers `exit` with its close frame, after the replies to our earlier
    # messages, so waiting for that close also waits for everything we are still owed.
    await websocket.send("exit")


async def chat(url: str) -> int:
    try:
        websocket = await connect(url, close_timeout=CLOSE_TIMEOUT_SECONDS)
    except (OSError, WebSocketException) as error:
        print(f"cannot connect to {url}: {error}", file=sys.stderr, flush=True)
        return 1

    with Console() as console:
        async with websocket:
            receiving = asyncio.create_task(receive(websocket, console))
            typing = asyncio.create_task(type_messages(websocket, console))
            await asyncio.wait({receiving, typing}, return_when=asyncio.FIRST_COMPLETED)
            we_asked = typing.done() and typing.exception() is None
            if we_asked:
                try:
                    await asyncio.wait_for(receiving, GOODBYE_SECONDS)
                except TimeoutError:
                    pass  # the server did not close in time; `async with` closes for us
            typing.cancel()  # the server ended the session: stop waiting for the keyboard
        frame = websocket.protocol.close_rcvd
        if frame is not None:
            # The server's close reason (seed 002 step 4), "Сессия завершена. До свидания!".
            console.show(f"* {frame.reason or 'session closed'} (code {frame.code})")

    # Leaving the console first puts the terminal back, so these lines start on a line of
    # their own.
    if frame is None:
        print(f"the server at {url} went away", file=sys.stderr, flush=True)
        return 1
    if not we_asked:
        print(f"the server at {url} ended the session", file=sys.stderr, flush=True)
        return 1
    # Even after our `exit` the session may have ended for another reason: a message over the
    # server's limit is answered with 1009 before `exit` is read. Only 1000 (our goodbye) and
    # 1001 (the server shutting down as we left) are a normal end.
    if frame.code not in (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY):
        print(
            f"the server at {url} ended the session: code {frame.code}", file=sys.stderr, flush=True
        )
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Terminal client for the WebSocket chat.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument(
        "--url",
        help="the server's full URL, e.g. ws://127.0.0.1:PORT/PATH (overrides --host and --port)",
    )
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}"
    try:
        status = asyncio.run(chat(url))
    except KeyboardInterrupt:
        status = 0  # Ctrl+C: asyncio.run() has already closed the connection politely
    sys.exit(status)


if __name__ == "__main__":
    main()
