#!/usr/bin/env python3
"""aiohttp WebSocket client: sends messages to an echo server and prints every reply
(seed 000 task 3).

What it teaches: `ClientSession().ws_connect` opens a WebSocket with an HTTP handshake; after
that both sides send whole messages (no framing of our own as with TCP), and either side may
send at any time, so one task receives while the other sends. A handshake can fail like any
HTTP request: wrong path, or a server that does not speak WebSocket at all.

Protocol: each line typed (or `--message`) goes out as one text message (`--binary`: one
binary message of its UTF-8 bytes); each message received is printed as one line. At the end
of input the client waits for the replies it is owed, then closes with code 1000.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterable, AsyncIterator

import aiohttp
from console import Console

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
CONNECT_TIMEOUT_SECONDS = 10.0
REPLY_TIMEOUT_SECONDS = 10.0  # at the end of input, how long we wait for replies still owed
NORMAL_CLOSE_CODES = {1000, 1001}  # "done" and "going away": nothing went wrong


def as_text(msg: aiohttp.WSMessage) -> str:
    if msg.type == aiohttp.WSMsgType.TEXT:
        return msg.data
    # A binary message: its bytes, shown as UTF-8 text where they are text.
    return f"binary ({len(msg.data)} bytes): {msg.data.decode('utf-8', errors='replace')}"


async def one_message(text: str) -> AsyncIterator[str]:
    yield text


async def converse(
    ws: aiohttp.ClientWebSocketResponse, lines: AsyncIterable[str], console: Console, binary: bool
) -> tuple[int, bool]:
    """Send each line, show each reply. Returns how many replies are still owed, and whether
    the server closed the connection first."""
    # The echo server owes us one reply per message we send. We count them, so that at the
    # end of input we close only after the last reply has arrived.
    owed = 0
    all_answered = asyncio.Event()
    all_answered.set()

    async def receive() -> None:
        nonlocal owed
        # The loop ends when the connection closes (a close frame, or the TCP link dies).
        try:
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    console.show(as_text(msg))
                    owed = max(0, owed - 1)
                    if owed == 0:
                        all_answered.set()
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    print(f"connection error: {ws.exception()}", file=sys.stderr)
        except (ConnectionError, aiohttp.ClientError) as error:
            print(f"connection error: {error}", file=sys.stderr)

    receiver = asyncio.create_task(receive())
    # A closed connection must not wait for the user to type something: stop the keyboard.
    receiver.add_done_callback(lambda _: console.stop())
    try:
        async for line in lines:  # until `exit`, the end of input, or the server closing
            if receiver.done():
                break
            owed += 1
            all_answered.clear()
            if binary:
                await ws.send_bytes(line.encode("utf-8"))
            else:
                await ws.send_str(line)
        waiting = asyncio.create_task(all_answered.wait())
        await asyncio.wait(
            {waiting, receiver}, timeout=REPLY_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        waiting.cancel()
    finally:
        receiver.cancel()
    server_closed = receiver.done() and not receiver.cancelled()
    return owed, server_closed


async def run(url: str, message: str | None, binary: bool) -> int:
    """Talk to the WebSocket at `url`; returns the exit status: 0 if all went well, else 1."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            ws = await session.ws_connect(url)
        except aiohttp.WSServerHandshakeError as error:
            print(
                f"{url} is not a WebSocket endpoint: the server answered HTTP {error.status}",
                file=sys.stderr,
            )
            return 1
        except aiohttp.InvalidURL:
            print(f"cannot connect to {url}: not a valid ws:// or wss:// URL", file=sys.stderr)
            return 1
        except aiohttp.ClientConnectorError as error:  # refused, unknown host, unreachable
            # strerror is None for some errors (a timeout while connecting): then the error
            # itself still says what went wrong, where strerror alone would print "None".
            why = error.os_error.strerror or error
            print(f"cannot connect to {url}: {why}", file=sys.stderr)
            return 1
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            print(f"cannot connect to {url}: {error or type(error).__name__}", file=sys.stderr)
            return 1

        try:
            with Console() as console:
                lines = console if message is None else one_message(message)
                owed, server_closed = await converse(ws, lines, console, binary)
        except ConnectionError as error:  # the connection broke while we were sending
            print(f"connection to {url} lost: {error}", file=sys.stderr)
            return 1
        finally:
            await ws.close()  # our close frame: code 1000, "done"

    if server_closed:
        # The server closed first (the echo server does so when it gets `close`). That is
        # its right, so no reply is owed any more; say so on stderr, as it is no message.
        print(f"the server closed the connection (code {ws.close_code})", file=sys.stderr)
        return 0 if ws.close_code in NORMAL_CLOSE_CODES else 1
    if owed:
        print(f"{owed} message(s) got no reply", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description="aiohttp WebSocket client: sends lines to ws://HOST:PORT/ws (or --url), "
        "prints every reply."
    )
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
    parser.add_argument(
        "--message", help="send this one message, print the reply and exit (no stdin)"
    )
    parser.add_argument(
        "--binary", action="store_true", help="send messages as binary frames (UTF-8 bytes)"
    )
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}/ws"
    try:
        status = asyncio.run(run(url, args.message, args.binary))
    except KeyboardInterrupt:
        status = 0  # Ctrl+C is how a user says "enough": no traceback, no error
    sys.exit(status)


if __name__ == "__main__":
    main()
