#!/usr/bin/env python3
"""aiohttp WebSocket client: sends messages to an echo server and prints every reply
(seed 000 task 3).

What it teaches: `ClientSession().ws_connect` opens a WebSocket with an HTTP handshake; after
that both sides send whole messages (no framing of our own as with TCP), and either side may
send at any time, so one task receives while the other sends. A handshake can fail like any
HTTP request: wrong path, or a server that does not speak WebSocket at all.

    python ws_client/client.py --message "Hello, WebSocket!"
    python ws_client/client.py --url wss://echo.websocket.org
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import sys
import threading

import aiohttp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
CONNECT_TIMEOUT_SECONDS = 10.0
REPLY_TIMEOUT_SECONDS = 10.0  # at the end of input, how long we wait for replies still owed
NORMAL_CLOSE_CODES = {1000, 1001}  # "done" and "going away": nothing went wrong


def read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Thread: hand each line of standard input to the event loop; None marks the end.

    Why a thread: reading a terminal blocks, and Windows cannot watch stdin from an event
    loop. Why a daemon thread: one blocked on stdin must not keep the program alive after
    the connection is gone or after Ctrl+C. Why the raw stream and our own decoder: a daemon
    thread blocked inside sys.stdin's buffered reader holds its lock, and Python aborts at
    exit when it finds that lock taken.
    """
    raw = sys.stdin.buffer.raw
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    try:
        while chunk := raw.read(65536):
            # The decoder keeps the first bytes of a character split between two reads.
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                loop.call_soon_threadsafe(lines.put_nowait, line.removesuffix("\r"))
        if pending:
            loop.call_soon_threadsafe(lines.put_nowait, pending)
        loop.call_soon_threadsafe(lines.put_nowait, None)
    except (OSError, ValueError, RuntimeError):
        pass  # stdin is gone, or the event loop has already finished


def show(msg: aiohttp.WSMessage) -> None:
    if msg.type == aiohttp.WSMsgType.TEXT:
        print(msg.data, flush=True)
    else:  # a binary message: its bytes, shown as UTF-8 text where they are text
        text = msg.data.decode("utf-8", errors="replace")
        print(f"binary ({len(msg.data)} bytes): {text}", flush=True)


async def websocket_client(url: str, lines: asyncio.Queue[str | None], binary: bool = False) -> int:
    """Send each line from `lines` to the WebSocket at `url`, print each reply.

    Returns the exit status: 0 when everything went well, 1 otherwise.
    """
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

        # The echo server owes us one reply per message we send. We count them, so that at
        # the end of input we close only after the last reply has arrived.
        owed = 0
        all_answered = asyncio.Event()
        all_answered.set()

        async def receive() -> None:
            nonlocal owed
            # The loop ends when the connection closes (a close frame, or the TCP link dies).
            try:
                async for msg in ws:
                    if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        show(msg)
                        owed = max(0, owed - 1)
                        if owed == 0:
                            all_answered.set()
                    elif msg.type == aiohttp.WSMsgType.ERROR:
                        print(f"connection error: {ws.exception()}", file=sys.stderr)
            except (ConnectionError, aiohttp.ClientError) as error:
                print(f"connection error: {error}", file=sys.stderr)

        receiver = asyncio.create_task(receive())
        try:
            while True:
                # Wait for the next line or for the server to close, whichever comes first:
                # a closed connection must not wait for the user to type something.
                next_line = asyncio.create_task(lines.get())
                await asyncio.wait({next_line, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not next_line.done():
                    next_line.cancel()
                    break
                line = next_line.result()
                if line is None or line.strip().lower() == "exit":
                    break
                owed += 1
                all_answered.clear()
                if binary:
                    await ws.send_bytes(line.encode("utf-8"))
                else:
                    await ws.send_str(line)
            waiting = asyncio.create_task(all_answered.wait())
            await asyncio.wait(
                {waiting, receiver},
                timeout=REPLY_TIMEOUT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiting.cancel()
        except ConnectionError as error:  # the connection broke while we were sending
            print(f"connection to {url} lost: {error}", file=sys.stderr)
            return 1
        finally:
            receiver.cancel()
            await ws.close()  # our close frame: code 1000, "done"

        if receiver.done() and not receiver.cancelled():
            # The server closed first (the echo server does so when it gets `close`). That is
            # its right, so no reply is owed any more; say so on stderr, as it is no message.
            print(f"the server closed the connection (code {ws.close_code})", file=sys.stderr)
            return 0 if ws.close_code in NORMAL_CLOSE_CODES else 1
        if owed:
            print(f"{owed} message(s) got no reply", file=sys.stderr)
            return 1
        return 0


async def run(url: str, message: str | None, binary: bool) -> int:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    if message is not None:
        lines.put_nowait(message)
        lines.put_nowait(None)
    else:
        loop = asyncio.get_running_loop()
        threading.Thread(target=read_lines, args=(loop, lines), daemon=True).start()
    return await websocket_client(url, lines, binary)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="aiohttp WebSocket client: sends lines, prints every reply."
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="echo server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="echo server port (default: %(default)s)"
    )
    parser.add_argument(
        "--url",
        help="WebSocket URL, e.g. wss://echo.websocket.org (default: ws://HOST:PORT/ws)",
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
